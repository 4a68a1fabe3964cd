// The errors of the HTTP client, built in one place so that a failure reads the same whichever
// step met it: the error kind (docs/http-client.md, "Errors") and a text naming the request
// ("GET https://api.example.com/rates") and, for the network, the address and the reason.
#pragma once

#include "microlith/net/http/http_url.hpp"

#include <boost/system/error_code.hpp>

#include <caf/error.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace microlith::http::detail {

/// How the request is named in its errors: "GET http://host:port/path".
std::string request_name(std::string_view method, const http_url& url);

/// The host name did not resolve: service_unavailable.
caf::error resolve_failed(const std::string& request, const http_url& url,
                          const boost::system::error_code& ec);

/// No connection to any address of the host: service_unavailable naming the address.
caf::error connect_failed(const std::string& request, const http_url& url,
                          const boost::system::error_code& ec);

/// The TLS handshake failed; `verify_error` says why the certificate was refused, if it was:
/// service_unavailable.
caf::error tls_failed(const std::string& request, const http_url& url,
                      const boost::system::error_code& ec, const std::string& verify_error);

/// Sending or reading failed after the connection was made: service_unavailable for a
/// connection that broke or closed early, resource_exhausted for a response over a limit,
/// data_loss for an answer that is not HTTP/1.1.
caf::error exchange_failed(const std::string& request, const boost::system::error_code& ec,
                           std::size_t body_limit, std::size_t header_limit);

/// The deadline passed: timeout.
caf::error timed_out(const std::string& request, std::chrono::milliseconds allowed);

/// Too many requests already wait for the origin's connections: resource_exhausted.
caf::error queue_full(const std::string& request, std::size_t waiting);

/// The client closed with the request in flight: service_unavailable.
caf::error client_closed(const std::string& request);

} // namespace microlith::http::detail
