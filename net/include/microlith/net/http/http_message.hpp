// What the HTTP client sends and what it answers: a request (method, absolute URL, headers,
// body, and its own limits) and a response (status, reason, headers, body). A response of any
// status is an answer, not an error: the caller decides what a 404 or a 503 means to it.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace microlith::http {

/// One header field, as sent or received.
struct header {
  std::string name;
  std::string value;
};

/// A request to an outside HTTP/1.1 server.
struct http_request {
  /// Any token ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", ...).
  std::string method = "GET";
  /// Absolute: http://host[:port]/path?query or https://...
  std::string url;
  /// Sent as given after Host and User-Agent (a header named here replaces those two).
  std::vector<header> headers;
  /// Sent with a Content-Length (none for an empty body of GET, HEAD, DELETE, OPTIONS).
  std::string body;
  /// How long the request may take, all included (waiting for a pooled connection, connecting,
  /// TLS, sending, reading). Zero: the calling request's remaining deadline when there is one,
  /// else the client's default_timeout. A value never extends the calling request's deadline.
  std::chrono::milliseconds timeout{0};
  /// The most body bytes accepted; 0: the client's max_response_bytes.
  std::size_t max_response_bytes = 0;
  /// How many redirects (301, 302, 303, 307, 308 with a Location) to follow; 0 (the default):
  /// a redirect is answered as it is.
  unsigned max_redirects = 0;

  /// A GET of `url`.
  static http_request get(std::string url);
  /// A POST of `body` to `url` with Content-Type `content_type`.
  static http_request post(std::string url, std::string body,
                           std::string content_type = "application/json");
};

/// The response of an outside server.
struct http_response {
  /// The status code (200, 404, ...).
  unsigned status = 0;
  /// The reason phrase as the server sent it.
  std::string reason;
  /// In the order received.
  std::vector<header> headers;
  std::string body;
  /// The URL that answered (differs from the request's after redirects).
  std::string url;

  /// The value of the first header named `name` (case-insensitive), or null.
  const std::string* find_header(std::string_view name) const noexcept;

  /// Whether the status is 2xx.
  bool ok() const noexcept { return status >= 200 && status < 300; }
};

/// Whether `method` is idempotent by RFC 9110 (GET, HEAD, PUT, DELETE, OPTIONS, TRACE): a request
/// that failed before its answer began may be sent again on a fresh connection.
bool is_idempotent(std::string_view method) noexcept;

} // namespace microlith::http
