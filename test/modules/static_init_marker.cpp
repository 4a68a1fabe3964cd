// A static initializer that leaves a mark (test_abi_mismatch): when the environment variable
// MICROLITH_TEST_STATIC_INIT_MARKER names a file, loading the library creates it. A loader that
// refuses the library for its ABI note must do so before any of its code runs: no file.
#include <cstdlib>
#include <fstream>

namespace {

struct static_init_marker {
  static_init_marker() {
    if (const char* path = std::getenv("MICROLITH_TEST_STATIC_INIT_MARKER"))
      std::ofstream{path} << "test_abi_mismatch's static initializer ran\n";
  }
};

const static_init_marker marker;

} // namespace
