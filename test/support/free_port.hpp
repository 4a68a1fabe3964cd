// A TCP port on 127.0.0.1 for a test to listen on: the one home of this helper for every suite.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <stdexcept>

namespace test_support {

/// A port the OS just handed out on 127.0.0.1, never one this process was given before: a port
/// is free again once answered, and the OS may hand it out twice in a row, so two ports of one
/// system file (a node's listen address and a gateway's) could otherwise be the same.
inline std::uint16_t free_port() {
  static std::mutex mutex;
  static std::set<std::uint16_t> given;
  std::lock_guard<std::mutex> lock{mutex};
  for (;;) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      throw std::runtime_error("free_port: socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("free_port: cannot bind a port on 127.0.0.1");
    }
    ::close(fd);
    const auto port = ntohs(addr.sin_port);
    if (given.insert(port).second)
      return port;
  }
}

} // namespace test_support
