// fuzz_replay TARGET PATH...: runs every file under each PATH (a file, or a folder read
// recursively, names starting with '.' and README files skipped) through the fuzz target TARGET,
// in name order. Exits 0 when every input ran; a target that breaks aborts, after the name of
// the input at fault is printed. With no input at all it fails: a seed corpus must not be lost.
// `fuzz_replay --list` prints the targets; `fuzz_replay --write-seeds TARGET FOLDER` writes the
// seeds of a target that makes its own (the envelope's binary form).
#include "fuzz_target.hpp"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace microlith::fuzz {

namespace {

std::map<std::string, target_function>& targets() {
  static std::map<std::string, target_function> table;
  return table;
}

std::map<std::string, seed_writer>& seed_writers() {
  static std::map<std::string, seed_writer> table;
  return table;
}

// The input running now, for the report of a crash (written from a signal handler).
char current_input[4096];

void report_crash(int signal) {
  static const char prefix[] = "fuzz_replay: the target crashed on the input ";
  (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
  (void)!write(STDERR_FILENO, current_input, std::strlen(current_input));
  (void)!write(STDERR_FILENO, "\n", 1);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

bool skipped(const std::filesystem::path& path) {
  auto name = path.filename().string();
  return name.empty() || name.front() == '.' || name.rfind("README", 0) == 0;
}

std::vector<std::filesystem::path> inputs_under(const std::filesystem::path& root) {
  std::vector<std::filesystem::path> found;
  if (std::filesystem::is_regular_file(root)) {
    found.push_back(root);
    return found;
  }
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
    if (entry.is_regular_file() && !skipped(entry.path()))
      found.push_back(entry.path());
  std::sort(found.begin(), found.end());
  return found;
}

} // namespace

registration::registration(const char* name, target_function run) {
  targets().emplace(name, run);
}

seed_registration::seed_registration(const char* name, seed_writer write) {
  seed_writers().emplace(name, write);
}

} // namespace microlith::fuzz

int main(int argc, char** argv) {
  using namespace microlith::fuzz;
  if (argc == 2 && std::string{argv[1]} == "--list") {
    for (const auto& [name, run] : targets())
      std::printf("%s\n", name.c_str());
    return 0;
  }
  if (argc == 4 && std::string{argv[1]} == "--write-seeds") {
    auto writer = seed_writers().find(argv[2]);
    if (writer == seed_writers().end()) {
      std::fprintf(stderr, "fuzz_replay: target %s has no seed writer\n", argv[2]);
      return 2;
    }
    std::filesystem::create_directories(argv[3]);
    writer->second(argv[3]);
    return 0;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: fuzz_replay TARGET PATH... | fuzz_replay --list | fuzz_replay "
                         "--write-seeds TARGET FOLDER\n");
    return 2;
  }
  auto target = targets().find(argv[1]);
  if (target == targets().end()) {
    std::fprintf(stderr, "fuzz_replay: no target %s (fuzz_replay --list names them)\n", argv[1]);
    return 2;
  }
#ifdef __SANITIZE_ADDRESS__
  // AddressSanitizer reports a bad access itself (with the stack): only an abort is named here.
  for (int signal : {SIGABRT})
#else
  for (int signal : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL})
#endif
    std::signal(signal, report_crash);
  std::size_t ran = 0;
  for (int i = 2; i < argc; ++i) {
    std::error_code ec;
    if (!std::filesystem::exists(argv[i], ec)) {
      std::fprintf(stderr, "fuzz_replay: %s does not exist\n", argv[i]);
      return 2;
    }
    for (const auto& path : inputs_under(argv[i])) {
      std::ifstream file(path, std::ios::binary);
      std::string bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
      if (!file.good() && !file.eof()) {
        std::fprintf(stderr, "fuzz_replay: cannot read %s\n", path.c_str());
        return 2;
      }
      std::snprintf(current_input, sizeof current_input, "%s", path.c_str());
      target->second(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++ran;
    }
  }
  if (ran == 0) {
    std::fprintf(stderr, "fuzz_replay: no input found for %s\n", argv[1]);
    return 1;
  }
  std::printf("fuzz_replay: %s ran %zu inputs\n", argv[1], ran);
  return 0;
}
