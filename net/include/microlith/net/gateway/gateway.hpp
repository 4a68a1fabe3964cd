// The HTTP/WebSocket gateway: Beast HTTP/1.1 with keep-alive on its own I/O threads, handing
// each request to a service with a non-blocking call (no thread waits for a service).
//
// Per request, in order:
//  1. Read with limits: the wait for a request's first byte is bounded by `idle_timeout`, the
//     rest of the request by `request_timeout`; a header over `max_header_bytes` is answered
//     431, a body over `max_body_bytes` 413 (`admin_max_body_bytes` for an admin operation's
//     path), and the connection is closed. The head is read first: the body limit, and the
//     admin rules of an admin path, are decided on it before any byte of the body is read.
//  2. The correlation id is the `X-Request-Id` header when present (1 to 128 characters of
//     [A-Za-z0-9._:-], else 400), or a fresh one; it is returned in the response's
//     `X-Request-Id` and carried by the call and every call it causes.
//  3. `GET /healthz` answers 200 while the gateway serves (liveness); `GET /readyz` answers 200
//     when the readiness check passes and 503 when not, saying what is missing; `POST
//     /_microlith/reload` runs the admin reload when one is configured, and a path under a
//     prefix of `admin_operations` its admin operation (loopback clients that bear the admin
//     token only; see gateway_options::admin_token and admin_operation.hpp).
//  4. A WebSocket upgrade on `websocket_path` becomes a topic subscription session (below).
//  5. The route table current when the request arrived (route_table.hpp) picks the route: no
//     route 404, wrong verb 405 with Allow. The request is bound (http_binding.hpp; 400 with
//     the field on failure) and called with a deadline of `request_timeout` from its arrival.
//  6. The answer is JSON with status 200; an error maps to a status (status_of()) with a JSON
//     error body naming the error, its message and the request id.
//
// With gateway_options::tls, every connection speaks TLS first (HTTPS, and wss for WebSockets),
// and then all of the above the same way.
//
// Connections over `max_connections` are answered 503 and closed. A route table is swapped
// with routes().install(): requests in flight finish on the table they started with, and a
// keep-alive connection uses the new table from its next request on.
//
// Metrics (http_metrics.hpp): with gateway_options::metrics set, every answered request counts
// under its route. `GET /metrics` (and HEAD) answers what gateway_options::render_metrics renders
// (Prometheus's text format), to anyone (metrics_access::open), to bearers of the admin token
// from any address (admin), or not at all (off: 404 like any unknown path).
//
// Admin feeds (gateway_options::admin_feeds): a WebSocket on a feed path, opened under the admin
// rules, gets the answer of an admin operation as one text frame every interval.
//
// WebSocket: the client sends text frames `{"subscribe": "topic"}` / `{"unsubscribe": "topic"}`
// (answered `{"subscribed": "topic"}` / `{"unsubscribed": "topic"}`, or `{"error": ...}`);
// messages published to a subscribed topic with the kernel's publish arrive as
// `{"topic": "balances", "message": {...JSON of the message...}}`. Each session buffers at most
// `websocket_queue` outgoing messages: beyond that, new messages for it are dropped and counted,
// and the client gets `{"dropped": N}` once its queue has room again. A session subscribes to at
// most 64 topics; frames from the client over 4 KiB close the session. Closing the connection
// ends its subscriptions.
#pragma once

#include "microlith/actors/async_caller.hpp"
#include "microlith/net/gateway/admin_operation.hpp"
#include "microlith/net/gateway/http_metrics.hpp"
#include "microlith/net/gateway/route_table.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ip {
class address;
} // namespace boost::asio::ip

namespace microlith {
class node;
} // namespace microlith

namespace microlith::gateway {

namespace detail {
struct server_state; // what a running gateway's sessions share
} // namespace detail

class tls_switch; // tls.hpp

/// The path of the Prometheus endpoint.
inline constexpr std::string_view metrics_path = "/metrics";

/// Who may read `GET /metrics`.
enum class metrics_access {
  open,  ///< anyone
  admin, ///< bearers of the admin token (`Authorization: Bearer`), from any address, under the
         ///< admin rules' rate limit of failed attempts: 401 without a token, 403 with another,
         ///< 429 while the address is refused
  off,   ///< no endpoint: 404 as any unknown path, and /metrics is not reserved
};

/// "open", "admin" or "off"; nothing for another text.
std::optional<metrics_access> parse_metrics_access(std::string_view text);

/// "open", "admin" or "off".
std::string_view to_string(metrics_access access);

/// Renders the body of `GET /metrics` for its raw query (no '?'). Called on an I/O thread: it
/// must not block; it calls `done` once with the body (Prometheus's text format, version
/// 0.0.4), from any thread. A late `done` (the client went, the gateway stopped) is harmless.
using metrics_renderer =
  std::function<void(std::string query, std::function<void(std::string body)> done)>;

/// A WebSocket path that repeats an admin operation for a live view (gateway_options::
/// admin_feeds).
struct admin_feed {
  /// The admin operation it runs: a key of gateway_options::admin_operations
  /// ("/_microlith/observer"); the operation gets this path, verb GET and the upgrade's query.
  std::string operation;
  std::chrono::milliseconds interval{1000}; ///< between two runs; > 0
};

/// The WebSocket subprotocol a feed's client offers and the gateway selects.
inline constexpr std::string_view feed_subprotocol = "microlith.feed";

/// The prefix of the subprotocol that carries the admin token where a client cannot set headers
/// (a browser): `base64url.bearer.microlith.` then the token in base64url without padding.
inline constexpr std::string_view feed_token_subprotocol = "base64url.bearer.microlith.";

/// The header that forces a request into the trace log (`1` or `true`) or keeps it out (`0`,
/// `false`): its calls on every node record spans (trace.hpp), which the observer shows.
inline constexpr std::string_view trace_header = "X-Microlith-Trace";

/// How a gateway listens and what it tolerates.
struct gateway_options {
  std::string host = "127.0.0.1";                   ///< the address to listen on
  std::uint16_t port = 8080;                        ///< 0 = the OS chooses (see port())
  int io_threads = 1;                               ///< threads running the sockets
  std::size_t max_connections = 1024;               ///< open connections at once
  std::size_t max_header_bytes = 8 * 1024;          ///< request line and headers
  std::size_t max_body_bytes = 1024 * 1024;         ///< request body
  std::chrono::milliseconds request_timeout{10000}; ///< reading a request and answering it
  std::chrono::milliseconds idle_timeout{60000};    ///< keep-alive wait for the next request
  std::string websocket_path = "/ws";               ///< empty = no WebSocket endpoint
  std::size_t websocket_queue = 256;                ///< buffered messages per WebSocket session
  /// When set, `POST /_microlith/reload` from a loopback client (is_loopback_client) that
  /// bears admin_token runs it (the host rereads the system file and swaps the routes) and
  /// answers 200, or 400 with its error. Other clients get 403 (`forbidden`). Unset: no such
  /// endpoint.
  std::function<caf::error()> admin_reload;
  /// Admin operations by path prefix (`{"/_microlith/modules", op}`): a request whose path is
  /// a prefix or starts with prefix + "/" goes to its operation (admin_operation.hpp), whatever
  /// its verb, once it passes the admin rules below. A prefix starts with `/` and does not end
  /// with one. Empty: no such endpoints.
  std::map<std::string, admin_operation> admin_operations;
  /// The largest body of a request to an admin operation (an archive upload), which passed the
  /// admin rules on its head; every other request keeps max_body_bytes. 413 above it.
  std::size_t admin_max_body_bytes = 64 * 1024 * 1024;
  /// The token admin requests must bear (`Authorization: Bearer TOKEN`); start() refuses a
  /// gateway with admin_reload or an admin operation and no token. In this order, a loopback client
  /// gets: 429
  /// (`resource_exhausted`, with Retry-After) while its address is refused for failing too
  /// often (10 failures within 60 s refuse it for 60 s, whatever it sends); 401
  /// (`unauthenticated`, with `WWW-Authenticate: Bearer realm="microlith"`) without a
  /// well-formed Bearer header; 403 (`permission_denied`) with another token. The token is
  /// compared in constant time and never logged.
  std::string admin_token;
  /// Where answered requests are counted, by route (http_metrics.hpp); null = not counted.
  std::shared_ptr<http_metrics> metrics;
  /// What `GET /metrics` answers (metrics_renderer). Null while metrics_endpoint is not off: the
  /// path is reserved and answers 503 (`unavailable`).
  metrics_renderer render_metrics;
  /// Who may read `GET /metrics`; admin needs admin_token (start() refuses it without one).
  metrics_access metrics_endpoint = metrics_access::open;
  /// Admin feeds by path ("/_microlith/observer/live"): a WebSocket upgrade on the path, from a
  /// loopback client that passes the admin rules, runs the feed's operation at once and every
  /// interval, and sends each answer's body as one text frame. The admin token comes as
  /// `Authorization: Bearer TOKEN` or, from a browser, as the subprotocol
  /// feed_token_subprotocol + base64url(token); the client also offers feed_subprotocol, which
  /// the handshake selects. 401 on the upgrade without a token, 403 with another, 429 while
  /// refused (the same count of failed attempts). One run at a time; a tick is skipped while the
  /// previous frame is still being written. Frames from the client are ignored. A feed path
  /// starts with '/' and its operation is a key of admin_operations; start() refuses others.
  std::map<std::string, admin_feed> admin_feeds;
  /// Admin pages by path ("/admin/observer": HTML that carries no data of its own, and asks for
  /// the token to read what it shows through admin operations and feeds). `GET` (or HEAD) from
  /// a loopback client: 200 with the page when the request bears the admin token; 401 with the
  /// page (and `WWW-Authenticate`) when it bears none, so that a browser shows the page, which
  /// asks for the token — not counted as a failed attempt, since nothing was guessed; 403 with
  /// another token (counted), 429 while the address is refused. Other verbs: 405.
  std::map<std::string, std::string> admin_pages;
  /// The share of requests (0 to 1) traced without being forced by trace_header: the gateway
  /// records each one's root span (service "http", method the route, outcome the status) and
  /// its calls record theirs.
  double trace_sample = 0;
  /// When set, the gateway speaks HTTPS only (and WebSocket over TLS, wss, on the same port):
  /// each connection is accepted with the switch's current context (tls.hpp) and keeps it until
  /// it closes; install() a new one to change the certificate for new connections. The TLS
  /// handshake must finish within request_timeout; a client that speaks plain HTTP to the port,
  /// or fails the handshake, has its connection closed. Null: plain HTTP.
  std::shared_ptr<tls_switch> tls;
};

/// The paths a gateway serves itself, which no route may match (route_table::build's
/// `reserved`): `/healthz`, `/readyz`, `websocket_path` unless it is empty, with `admin`
/// `/_microlith/reload`, each of `admin_prefixes` both as itself and as `prefix/` (every
/// path under it), and each of `own_paths` (/metrics, feed paths) as itself.
std::vector<std::string> reserved_paths(const std::string& websocket_path, bool admin,
                                        const std::vector<std::string>& admin_prefixes = {},
                                        const std::vector<std::string>& own_paths = {});

/// reserved_paths() for a gateway with `options`: its WebSocket path, the reload when
/// admin_reload is set, the prefixes of admin_operations, /metrics unless metrics_endpoint is
/// off, and the paths of admin_feeds and admin_pages.
std::vector<std::string> reserved_paths(const gateway_options& options);

/// Whether a client at `address` may use the admin endpoint: an IPv4 loopback address
/// (127.0.0.0/8), `::1`, or an IPv4 loopback address mapped into IPv6 (how a gateway listening
/// on `::` sees a client of 127.0.0.1).
bool is_loopback_client(const boost::asio::ip::address& address);

/// Counters, for tests, benchmarks and the observer.
struct gateway_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0; ///< over max_connections
  std::uint64_t requests = 0;
  std::uint64_t websocket_sessions = 0;
  std::uint64_t websocket_dropped = 0; ///< messages dropped for slow WebSocket clients
  std::size_t open_connections = 0;
};

/// What a readiness check found: ready, or not ready with why and what is missing. A 503 from
/// `GET /readyz` carries `message` and `not_running` in its JSON body.
struct readiness_report {
  bool ready = true;
  std::string message;                  ///< why not, for an operator (empty when ready)
  std::vector<std::string> not_running; ///< the parts that run nowhere reachable (e.g. groups)
};

/// A running gateway. Destroying it stops accepting, joins its I/O threads, closes its caller
/// (calls still in flight are dropped) and closes every connection.
class gateway_server {
public:
  /// What answers readiness (`GET /readyz`), called on an I/O thread for each request: keep
  /// it cheap and non-blocking. Null = always ready.
  using readiness = std::function<readiness_report()>;

  /// Binds and starts serving. Calls go through `caller`, which the gateway closes when it
  /// stops; topics come from `host_node`.
  static caf::expected<std::unique_ptr<gateway_server>>
  start(node& host_node, gateway_options options, std::shared_ptr<route_switch> routes,
        async_caller caller, readiness ready = {});

  ~gateway_server();
  gateway_server(const gateway_server&) = delete;
  gateway_server& operator=(const gateway_server&) = delete;

  /// The port it listens on (the OS's choice when options.port was 0).
  std::uint16_t port() const noexcept;

  /// The routes it serves; install() a new table to swap them.
  route_switch& routes() noexcept;

  /// The counters now.
  gateway_stats stats() const;

  /// Where it counts requests by route (gateway_options::metrics); null when it does not.
  std::shared_ptr<http_metrics> metrics() const noexcept;

private:
  explicit gateway_server(std::shared_ptr<detail::server_state> s);
  std::shared_ptr<detail::server_state> state_;
};

} // namespace microlith::gateway
