// "host:port" and "[v6-host]:port" as the system file writes listen addresses (a node's
// `listen`, a gateway's `listen`).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace microlith::detail {

/// A host and a port read from "host:port".
struct listen_address {
  std::string host;
  std::uint16_t port = 0;
};

/// The address in `text` ("127.0.0.1:8080", "[::1]:7001"), port 0..65535; nullopt when the text
/// is not of that form.
std::optional<listen_address> parse_listen(std::string_view text);

} // namespace microlith::detail
