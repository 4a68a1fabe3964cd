// The scheduler idle policy the benchmarks run with: the node's default
// (microlith::node_options::idle_spin_polls), or MICROLITH_BENCH_IDLE_SPIN_POLLS when set, so
// a sweep can rerun the same binary. Raw CAF floors use the same value as the node they are
// compared with.
#pragma once

#include <microlith/actors/node.hpp>

#include <cstddef>
#include <cstdlib>
#include <string>

namespace bench {

inline std::size_t idle_spin_polls() {
  if (const char* text = std::getenv("MICROLITH_BENCH_IDLE_SPIN_POLLS"))
    return static_cast<std::size_t>(std::stoull(text));
  return microlith::node_options{}.idle_spin_polls;
}

} // namespace bench
