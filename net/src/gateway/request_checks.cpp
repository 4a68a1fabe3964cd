#include "gateway/request_checks.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace microlith::gateway {

namespace http = boost::beast::http;

namespace {

/// The longest part of a header value quoted back in an error message, in bytes.
constexpr std::size_t max_quoted = 64;

/// `value` in double quotes, cut after max_quoted bytes.
std::string quoted(std::string_view value) {
  if (value.size() <= max_quoted)
    return fmt::format("\"{}\"", value);
  return fmt::format("\"{}...\"", value.substr(0, max_quoted));
}

/// True for the characters of a host name or IPv4 address in a URI (RFC 3986 section 3.2.2:
/// unreserved, pct-encoded, sub-delims).
bool host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || std::string_view{"-._~%!$&'()*+,;="}.find(c) != std::string_view::npos;
}

/// True when `host` is a valid Host value: uri-host [":" port] (RFC 9110 section 7.2), where
/// uri-host is a name, an IPv4 address or a bracketed IP literal; an empty value is valid.
bool valid_host(std::string_view host) {
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos)
      return false;
    auto literal = host.substr(1, close - 1);
    if (literal.empty() || !std::all_of(literal.begin(), literal.end(), [](char c) {
          return host_char(c) || c == ':';
        }))
      return false;
    auto rest = host.substr(close + 1);
    if (!rest.empty() && rest.front() != ':')
      return false;
    port = rest.empty() ? rest : rest.substr(1);
  } else {
    auto colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (!std::all_of(host.begin(), host.end(), host_char))
      return false;
  }
  return std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// True for a character of the base64 alphabet (RFC 4648 section 4), padding excluded.
bool base64_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+'
         || c == '/';
}

} // namespace

bool valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > max_request_id)
    return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
           || c == '_' || c == ':' || c == '-';
  });
}

/// Why a request's Host header is refused (RFC 9112 section 3.2): an HTTP/1.1 request without
/// one, any request with more than one, or a value that is not host[:port]. HTTP/1.0 does not
/// require it. Nothing when it is fine.
std::optional<std::string> host_problem(const http::request<http::string_body>& req) {
  auto count = req.count(http::field::host);
  if (count > 1)
    return fmt::format("Host: expected one Host header, got {}", count);
  if (count == 0) {
    if (req.version() < 11)
      return std::nullopt;
    return std::string{"Host: an HTTP/1.1 request must carry a Host header (RFC 9112 section "
                       "3.2)"};
  }
  auto value = req[http::field::host];
  auto host = std::string_view(value.data(), value.size());
  if (valid_host(host))
    return std::nullopt;
  return fmt::format("Host: expected host or host:port, got {}", quoted(host));
}

/// Why a WebSocket upgrade's Sec-WebSocket-Key is refused (RFC 6455 section 4.2.1: the base64
/// encoding of 16 bytes, which is 22 base64 characters and "=="); nothing when it is fine.
/// Beast's own accept checks only that the key is present and at most 24 characters long.
std::optional<std::string> websocket_key_problem(const http::request<http::string_body>& req) {
  constexpr auto expected = "Sec-WebSocket-Key: expected the base64 encoding of 16 bytes "
                            "(RFC 6455 section 4.2.1)";
  auto count = req.count(http::field::sec_websocket_key);
  if (count != 1)
    return fmt::format("{}, got {} such headers", expected, count);
  auto value = req[http::field::sec_websocket_key];
  auto key = std::string_view(value.data(), value.size());
  if (key.size() == 24 && std::all_of(key.begin(), key.begin() + 22, base64_char)
      && key.substr(22) == "==")
    return std::nullopt;
  return fmt::format("{}, got {}", expected, quoted(key));
}

} // namespace microlith::gateway
