// A fuzz target: one function of one input (bytes) that must not crash, hang, leak, or break an
// invariant it checks; a broken invariant is reported by fuzz_check() and aborts, which libFuzzer
// records as a crash with the input that caused it. Each target file defines one target with
// MICROLITH_FUZZ_TARGET(name) and builds two ways:
//
//  - with MICROLITH_LIBFUZZER (clang, -fsanitize=fuzzer: test/fuzz/CMakeLists.txt): the target
//    is the program's LLVMFuzzerTestOneInput, one program per target (NAME_fuzz);
//  - without (every build, the ASan one included): registered by name in `fuzz_replay`, which
//    runs files through it, the committed seed corpus and the inputs of past crashes
//    (test/fuzz/corpus/NAME, test/fuzz/regressions/NAME).
//
// docs/fuzzing.md says how to run them for longer and what to do with a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace microlith::fuzz {

/// A target's body: 0 for an input it ran through (libFuzzer's convention).
using target_function = int (*)(const std::uint8_t* data, std::size_t size);

/// Adds a target to fuzz_replay's table (replay_main.cpp).
struct registration {
  registration(const char* name, target_function run);
};

/// Writes a target's seeds into `folder`, for inputs nobody types by hand (CAF's binary form):
/// `fuzz_replay --write-seeds NAME FOLDER`.
using seed_writer = void (*)(const std::string& folder);

/// Adds a target's seed writer to fuzz_replay (replay_main.cpp).
struct seed_registration {
  seed_registration(const char* name, seed_writer write);
};

/// Reports `what` (the invariant that broke, in words) for `target` on stderr and aborts.
[[noreturn]] void fail(std::string_view target, std::string_view what);

/// The input as text (for targets whose input is text: a file, a header, a path).
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

} // namespace microlith::fuzz

/// Aborts with `what` when `condition` does not hold (an invariant of the target).
#define MICROLITH_FUZZ_CHECK(target, condition, what)                                              \
  do {                                                                                             \
    if (!(condition))                                                                              \
      ::microlith::fuzz::fail(target, what);                                                       \
  } while (false)

#ifdef MICROLITH_LIBFUZZER
#define MICROLITH_FUZZ_TARGET(name)                                                                \
  static int name##_run(const std::uint8_t* data, std::size_t size);                               \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {              \
    return name##_run(data, size);                                                                 \
  }                                                                                                \
  static int name##_run(const std::uint8_t* data, std::size_t size)
#else
#define MICROLITH_FUZZ_TARGET(name)                                                                \
  static int name##_run(const std::uint8_t* data, std::size_t size);                               \
  static const ::microlith::fuzz::registration name##_registration{#name, &name##_run};            \
  static int name##_run(const std::uint8_t* data, std::size_t size)
#endif
