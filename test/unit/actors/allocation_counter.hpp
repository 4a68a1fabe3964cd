// Counts the heap allocations made through operator new on the calling thread, so that a test
// can check that a code path allocates nothing. allocation_counter.cpp replaces the global
// operator new and delete of the unit_actors binary (malloc and free underneath, as the
// library's own): every other test is unaffected.
#pragma once

#include <cstddef>

namespace unit_actors {

/// How many times operator new has run on this thread so far.
std::size_t allocations_on_this_thread() noexcept;

} // namespace unit_actors
