// The command line of the benchmark's HTTP servers (http_floor, gateway_target):
// `[--threads N]`, N io threads, default 1.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>

namespace bench {

/// The value of `--threads N`, or 1; exits with a message naming `program` on anything else.
inline int parse_threads(int argc, char** argv, const char* program) {
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::cerr << "usage: " << program << " [--threads N]\n";
      std::exit(2);
    }
  }
  if (threads < 1) {
    std::cerr << program << ": --threads expects a number >= 1\n";
    std::exit(2);
  }
  return threads;
}

} // namespace bench
