#include "http/http_errors.hpp"

#include "microlith/actors/error.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <fmt/format.h>

namespace microlith::http::detail {

namespace beast_http = boost::beast::http;

std::string request_name(std::string_view method, const http_url& url) {
  return fmt::format("{} {}", method, url.text());
}

caf::error resolve_failed(const std::string& request, const http_url& url,
                          const boost::system::error_code& ec) {
  return make_error(errc::service_unavailable, fmt::format("{}: cannot resolve host {} ({})",
                                                           request, url.host, ec.message()));
}

caf::error connect_failed(const std::string& request, const http_url& url,
                          const boost::system::error_code& ec) {
  return make_error(
    errc::service_unavailable,
    fmt::format("{}: cannot connect to {}:{} ({})", request, url.host, url.port, ec.message()));
}

caf::error tls_failed(const std::string& request, const http_url& url,
                      const boost::system::error_code& ec, const std::string& verify_error) {
  auto why = verify_error.empty()
               ? ec.message()
               : fmt::format("certificate verification failed: {}", verify_error);
  return make_error(
    errc::service_unavailable,
    fmt::format("{}: TLS handshake with {}:{} failed ({})", request, url.host, url.port, why));
}

caf::error exchange_failed(const std::string& request, const boost::system::error_code& ec,
                           std::size_t body_limit, std::size_t header_limit) {
  if (ec == beast_http::error::body_limit)
    return make_error(
      errc::resource_exhausted,
      fmt::format("{}: the response body is over the limit of {} bytes", request, body_limit));
  if (ec == beast_http::error::header_limit || ec == beast_http::error::buffer_overflow)
    return make_error(errc::resource_exhausted,
                      fmt::format("{}: the response's status line and headers are over the "
                                  "limit of {} bytes",
                                  request, header_limit));
  if (ec == beast_http::error::partial_message || ec == beast_http::error::end_of_stream
      || ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset
      || ec == boost::asio::error::broken_pipe || ec == boost::asio::error::connection_aborted
      || ec == boost::asio::ssl::error::stream_truncated)
    return make_error(errc::service_unavailable,
                      fmt::format("{}: the connection closed before the whole response arrived "
                                  "({})",
                                  request, ec.message()));
  if (ec.category() == make_error_code(beast_http::error::bad_version).category())
    return make_error(
      errc::data_loss,
      fmt::format("{}: the answer is not a valid HTTP/1.1 response ({})", request, ec.message()));
  return make_error(errc::service_unavailable,
                    fmt::format("{}: the exchange failed ({})", request, ec.message()));
}

caf::error timed_out(const std::string& request, std::chrono::milliseconds allowed) {
  return make_error(errc::timeout,
                    fmt::format("{} did not complete within {} ms", request, allowed.count()));
}

caf::error queue_full(const std::string& request, std::size_t waiting) {
  return make_error(
    errc::resource_exhausted,
    fmt::format("{}: {} requests already wait for a connection to this origin", request, waiting));
}

caf::error client_closed(const std::string& request) {
  return make_error(errc::service_unavailable, fmt::format("{}: the HTTP client closed", request));
}

} // namespace microlith::http::detail
