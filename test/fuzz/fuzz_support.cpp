#include "fuzz_target.hpp"

#include <cstdio>
#include <cstdlib>

namespace microlith::fuzz {

void fail(std::string_view target, std::string_view what) {
  std::fprintf(stderr, "fuzz target %.*s: %.*s\n", static_cast<int>(target.size()), target.data(),
               static_cast<int>(what.size()), what.data());
  std::abort();
}

} // namespace microlith::fuzz
