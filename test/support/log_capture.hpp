// The log lines a test process writes, for tests that check what microlith logs. microlith's
// log (actors/src/log.cpp) writes each line with one fwrite to stderr; while a log_capture
// lives, stderr goes to an unlinked temporary file that the test reads. When it ends, stderr is
// restored and the captured lines are written to it, so that a failing test still shows them.
// Each ctest entry runs one test case in its own process, so nothing else shares the capture.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <unistd.h>

namespace test_support {

class log_capture {
public:
  log_capture() {
    std::fflush(stderr);
    char name[] = "/tmp/microlith-log-XXXXXX";
    file_ = ::mkstemp(name);
    if (file_ < 0)
      throw std::runtime_error("log_capture: cannot create a temporary file");
    ::unlink(name);
    saved_ = ::dup(STDERR_FILENO);
    if (saved_ < 0 || ::dup2(file_, STDERR_FILENO) < 0)
      throw std::runtime_error("log_capture: cannot redirect stderr");
  }

  ~log_capture() {
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    auto captured = text();
    if (!captured.empty())
      std::fwrite(captured.data(), 1, captured.size(), stderr);
    ::close(file_);
  }

  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  /// Everything written to stderr since the capture began.
  std::string text() const {
    std::string out;
    char buffer[4096];
    off_t offset = 0;
    for (;;) {
      auto n = ::pread(file_, buffer, sizeof buffer, offset);
      if (n <= 0)
        return out;
      out.append(buffer, static_cast<std::size_t>(n));
      offset += n;
    }
  }

  /// How many times `needle` occurs in the captured text.
  std::size_t count(std::string_view needle) const {
    auto all = text();
    std::size_t n = 0;
    for (auto at = all.find(needle); at != std::string::npos; at = all.find(needle, at + 1))
      ++n;
    return n;
  }

  /// Waits until `needle` occurs at least `n` times, at most `limit`.
  bool wait_for(std::string_view needle, std::size_t n = 1,
                std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    auto until = std::chrono::steady_clock::now() + limit;
    while (count(needle) < n) {
      if (std::chrono::steady_clock::now() > until)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
  }

private:
  int file_ = -1;
  int saved_ = -1;
};

} // namespace test_support
