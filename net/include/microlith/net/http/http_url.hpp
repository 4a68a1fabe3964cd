// An absolute http:// or https:// URL, split into what the client needs: scheme, host, port and
// the request target (path and query). No user info, no fragment sent.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace microlith::http {

/// A parsed absolute URL.
struct http_url {
  std::string scheme; ///< "http" or "https"
  std::string host;   ///< a name, an IPv4 address, or an IPv6 address without its brackets
  std::uint16_t port = 0;
  std::string target; ///< "/path?query" ("/" when the URL has no path)

  bool tls() const noexcept { return scheme == "https"; }
  /// The Host header: host[:port], the port only when it is not the scheme's default.
  std::string host_header() const;
  /// scheme://host:port, what a pooled connection serves.
  std::string origin() const;
  /// The URL again (scheme://host[:port]target).
  std::string text() const;
};

/// Parses `url`; an invalid_argument error naming it and what was expected otherwise.
caf::expected<http_url> parse_http_url(std::string_view url);

/// Resolves `location` (a redirect's Location: absolute, or a path from the root) against `base`.
caf::expected<http_url> resolve_location(const http_url& base, std::string_view location);

} // namespace microlith::http
