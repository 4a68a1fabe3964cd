// An asynchronous HTTP/1.1 client for calls to outside APIs (docs/http-client.md). Requests run
// on the client's own I/O thread (Boost.Beast, HTTPS through OpenSSL), over keep-alive
// connections pooled per origin; no scheduler thread ever waits for one. From a handler,
// `client.request(ctx, req).then(on_response, on_error)` runs the continuation in the calling
// actor, like a call's; a plain thread may use the callback or the blocking form.
//
// Failures are microlith error kinds (error.hpp): service_unavailable (cannot resolve, connect,
// verify the server's certificate, or the connection broke before the whole response came),
// timeout (the deadline passed), resource_exhausted (the response is over a limit), data_loss
// (the answer is not HTTP/1.1), invalid_argument (a bad URL or request). A response of any
// status is a response, not an error.
#pragma once

#include "microlith/net/http/http_message.hpp"
#include "microlith/net/http/pending_http.hpp"

#include <caf/error.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace microlith {
class call_context;
} // namespace microlith

namespace microlith::http {

/// What a client is set up with; the defaults fit most outside APIs.
struct http_client_options {
  /// Trust the system's CA store (OpenSSL's default verify paths) for https.
  bool system_ca = true;
  /// A PEM file of CA certificates trusted as well (a private CA; a test's own certificate).
  std::string ca_file;
  /// Connections open at once to one origin (scheme, host, port); more requests wait in line.
  std::size_t max_connections_per_host = 8;
  /// Requests waiting in line for one origin's connection; one more fails resource_exhausted.
  std::size_t max_waiting_per_host = 1024;
  /// The most body bytes of a response (a request may set less or more).
  std::size_t max_response_bytes = 8 * 1024 * 1024;
  /// The most bytes of a response's status line and headers.
  std::size_t max_header_bytes = 16 * 1024;
  /// The timeout of a request that sets none, made outside a request with a deadline.
  std::chrono::milliseconds default_timeout{30000};
  /// A pooled connection unused this long is closed rather than reused.
  std::chrono::milliseconds idle_timeout{30000};
  /// The User-Agent header sent unless the request sets one.
  std::string user_agent = "microlith";
};

/// The outcome of a request made with a callback or blocking: the response, or an error.
struct http_outcome {
  http_response response;
  caf::error error;
};

/// Counters of a client, for operators and tests.
struct http_client_stats {
  std::size_t connections_opened = 0; ///< TCP connections made (a reused one counts once)
  std::size_t requests_completed = 0; ///< requests answered with a response
};

namespace detail {
class client_core;
} // namespace detail

/// An HTTP/1.1 client with its own I/O thread and connection pools. One per node is enough;
/// share it (a shared_ptr given to the services that call out). Thread-safe.
class http_client {
public:
  /// Starts the client's I/O thread. Throws std::invalid_argument naming `ca_file` when it
  /// cannot be read as PEM certificates.
  explicit http_client(http_client_options options = {});

  /// Fails the requests in flight with service_unavailable ("the HTTP client closed"), closes
  /// every connection and joins the I/O thread.
  ~http_client();

  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// From a handler or a continuation: sends `request` in the name of the request `ctx` serves
  /// (its remaining deadline bounds the timeout); `.then(on_response, on_error)` runs in the
  /// calling actor.
  pending_http request(const call_context& ctx, http_request request);

  /// From any thread: sends `request`; `done` runs once, on the client's I/O thread (keep it
  /// short, never block in it).
  void async_request(http_request request, std::function<void(http_outcome)> done);

  /// From a plain thread (tests, tools; never an actor or the client's own I/O thread): sends
  /// `request` and waits for its outcome.
  http_outcome request_blocking(http_request request);

  /// The client's counters now.
  http_client_stats stats() const;

private:
  std::shared_ptr<detail::client_core> core_;
};

} // namespace microlith::http
