#include "microlith/services/keep_freed_heap.hpp"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

namespace microlith {

bool keep_freed_heap() {
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr)
    return false;
  if (const char* tunables = std::getenv("GLIBC_TUNABLES");
      tunables != nullptr && std::strstr(tunables, "trim_threshold") != nullptr)
    return false;
  return ::mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024) == 1;
}

} // namespace microlith
