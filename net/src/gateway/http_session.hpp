// One HTTP/1.1 connection: reads requests one at a time within the gateway's limits, answers
// health checks, upgrades to WebSocket, routes, binds and calls, and writes the answer
// (gateway.hpp lists the steps; handle() dispatches a request to one function per kind of
// answer, apart from the reading and writing). While a call is in flight the connection reads
// nothing more; neither does it while an admin operation runs.
#pragma once

#include "microlith/actors/trace.hpp"

#include "microlith/net/gateway/gateway.hpp"

#include "microlith/actors/toggles.hpp"

#include "gateway/gateway_stream.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace microlith::gateway {

class http_session : public std::enable_shared_from_this<http_session> {
public:
  /// A session for an accepted connection (TLS still to be negotiated on an HTTPS gateway's);
  /// `refuse` answers 503 (too many connections) and closes.
  http_session(detail::server_state& st, gateway_stream&& stream, bool refuse);
  ~http_session();

  /// Starts serving.
  void run();

  /// The reference through which a session waiting for its call's answer keeps itself alive
  /// (from an I/O thread, or the stopping gateway's, once the call has completed).
  std::shared_ptr<http_session> end_call();

  /// Hands the answer of its call to `self`'s strand (from an I/O thread).
  static void deliver(std::shared_ptr<http_session> self, caf::expected<message_ptr> result);

  /// Posts the answer of its admin operation to `self`'s strand (from any thread).
  static void deliver_admin(std::shared_ptr<http_session> self, admin_response answer);

private:
  using request = boost::beast::http::request<boost::beast::http::string_body>;
  using request_header = boost::beast::http::request_header<>;
  using response = boost::beast::http::response<boost::beast::http::string_body>;

  // What the admin rules (gateway_options::admin_token) decided for a request's head.
  struct admin_verdict {
    unsigned status = 0; // 0: admitted; else the refusal's status, name and message
    std::string name;
    std::string message;
    std::string client;                                                     // the client's address
    std::vector<std::pair<boost::beast::http::field, std::string>> headers; // of the refusal
  };

  // Whose admin rules a request passes: the reload's and operations' (loopback), /metrics in
  // admin mode (any address), an admin feed's upgrade (loopback; the token in the header or a
  // subprotocol), an admin page (loopback; a request without a token is refused but not counted).
  enum class admin_scope { loopback, any_address, feed, page };

  void on_handshake(boost::beast::error_code ec);
  void start();
  void do_wait();
  void on_first_bytes(boost::beast::error_code ec, std::size_t bytes);
  void do_read();
  void on_header(boost::beast::error_code ec, std::size_t bytes);
  void on_continue(boost::beast::error_code ec, std::size_t bytes);
  void read_body();
  bool refused_by_head(const request_header& head) const;
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle(request req);
  bool refused_headers(const request& req);
  void answer_readiness();
  std::size_t body_limit_for(const request_header& head);
  const admin_operation* admin_operation_for(std::string_view path) const;
  admin_verdict check_admin(const request_header& head, admin_scope scope = admin_scope::loopback);
  bool refused_admin();
  void admin_reload(std::string_view verb);
  caf::error read_trace(const request& req, bool& traced, bool& forced);
  void serve_admin_page(const request& req, const std::string& page, std::string_view verb);
  void run_admin_operation(request req, const admin_operation& operation, std::string_view path,
                           std::string_view query, std::string_view verb);
  void on_admin_answer(admin_response answer);
  void serve_metrics(const request& req, std::string_view query, std::string_view verb);
  void open_feed(request req, const std::string& path, const admin_feed& feed,
                 std::string_view query);
  bool is_feed(std::string_view path) const;
  void upgrade(request req);
  void route(const request& req, std::string_view path, std::string_view query,
             std::string_view verb);
  void dispatch(const route_spec& spec, message_ptr body, std::string idempotency_key,
                toggle_overrides overrides);
  caf::error read_toggle_overrides(const request& req, toggle_overrides& out);
  void on_answer(caf::expected<message_ptr> result);
  void reply(unsigned status, std::string body, bool keep_alive, std::string_view allow = {});
  void reply_error(unsigned status, std::string_view name, std::string_view message,
                   bool keep_alive, std::string_view field = {});
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void close();
  void on_shutdown(boost::beast::error_code ec);

  detail::server_state& st_;
  gateway_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::optional<response> res_;
  bool refuse_;
  // Whether this session holds the connection's place in open_connections (a WebSocket session
  // takes it over on upgrade).
  bool counted_;
  // The request being answered.
  bool waiting_ = false;                  // for its call's answer
  unsigned answer_status_ = 200;          // its route's status for a successful answer
  bool waiting_admin_ = false;            // for its admin operation's answer
  std::optional<admin_verdict> admin_;    // decided on its head, for an admin path
  std::size_t body_limit_ = 0;            // its body's limit (413 above it)
  std::shared_ptr<http_session> in_call_; // this session, while its call is in flight
  bool keep_alive_ = true;
  bool head_ = false; // answered without a body
  unsigned version_ = 11;
  std::chrono::steady_clock::time_point arrived_; // its first byte
  // The table its head was checked against, when it expected 100-continue (null otherwise).
  std::shared_ptr<const route_table> table_;
  std::string request_id_;
  // Where the request being answered is counted (null: not counted; http_metrics.hpp).
  http_metrics::counters* counted_as_ = nullptr;
  // The root span of the traced request being answered (trace.hpp), recorded once its answer
  // is written; span 0 when the request is not traced.
  span_record root_span_;
  // The Content-Type of the next reply.
  std::string_view content_type_ = "application/json";
  // Headers the next reply carries besides the usual ones (WWW-Authenticate, Retry-After).
  std::vector<std::pair<boost::beast::http::field, std::string>> extra_headers_;
};

} // namespace microlith::gateway
