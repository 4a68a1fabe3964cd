#include "microlith/actors/thread_name.hpp"

#include <pthread.h>

#include <cstring>

namespace microlith {

void name_this_thread(const char* name) noexcept {
  char shortened[16];
  std::strncpy(shortened, name, sizeof shortened - 1);
  shortened[sizeof shortened - 1] = '\0';
  (void)pthread_setname_np(pthread_self(), shortened);
}

} // namespace microlith
