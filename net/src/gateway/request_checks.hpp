// Checks of a request's headers that the gateway makes before it serves anything: the
// X-Request-Id a client may give, Host (RFC 9112 section 3.2), and a WebSocket upgrade's
// Sec-WebSocket-Key (RFC 6455 section 4.2.1). Each answers what is wrong in words a client can
// act on, or nothing when the header is fine.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace microlith::gateway {

/// The longest X-Request-Id accepted, in characters.
constexpr std::size_t max_request_id = 128;

/// True when `id` is 1 to max_request_id characters of [A-Za-z0-9._:-].
bool valid_request_id(std::string_view id);

/// Why a request's Host header is refused: an HTTP/1.1 request without one, any request with
/// more than one, or a value that is not host[:port]. HTTP/1.0 does not require it.
std::optional<std::string>
host_problem(const boost::beast::http::request<boost::beast::http::string_body>& req);

/// Why a WebSocket upgrade's Sec-WebSocket-Key is refused: it must be the base64 encoding of 16
/// bytes (Beast's own accept checks only that it is present and at most 24 characters long).
std::optional<std::string>
websocket_key_problem(const boost::beast::http::request<boost::beast::http::string_body>& req);

} // namespace microlith::gateway
