// One WebSocket connection: topic subscriptions requested by the client, published messages
// pushed to it through a bounded queue (gateway.hpp describes the protocol); or, for an admin
// feed (gateway_options::admin_feeds), the answers of an admin operation run every interval.
#pragma once

#include "microlith/net/gateway/gateway.hpp"

#include "gateway/gateway_stream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>

namespace microlith::gateway {

/// What an admin feed's session repeats.
struct feed_run {
  const admin_operation* operation = nullptr; ///< in the gateway's options: outlives the session
  std::string path;                           ///< the operation's path (its admin prefix)
  std::string query;                          ///< the upgrade request's, raw
  std::chrono::milliseconds interval{1000};
  bool select_subprotocol = false; ///< the client offered feed_subprotocol: the answer selects it
};

class websocket_session : public std::enable_shared_from_this<websocket_session> {
public:
  /// A session for an upgraded connection; it takes over the connection's place in the
  /// gateway's open_connections (the HTTP session counted it) and frees it when it ends.
  /// With `feed`, it is an admin feed's session: it sends the operation's answers and ignores the
  /// client's frames.
  websocket_session(detail::server_state& st, gateway_stream&& stream,
                    std::optional<feed_run> feed = std::nullopt);
  ~websocket_session();

  /// Completes the upgrade requested by `req`, then serves the session.
  void run(boost::beast::http::request<boost::beast::http::string_body> req);

  /// Queues `json` for the client; callable from any thread.
  void send(std::shared_ptr<const std::string> json);

private:
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle(const std::string& text);
  void enqueue(std::shared_ptr<const std::string> json);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void tick();
  void run_feed();
  void on_feed_answer(admin_response answer);

  detail::server_state& st_;
  boost::beast::websocket::stream<gateway_stream> ws_; // over TLS on an HTTPS gateway
  boost::beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool open_ = false;
  std::uint64_t dropped_ = 0; // dropped since the last notice
  std::set<std::string> topics_;
  std::optional<feed_run> feed_;
  boost::asio::steady_timer timer_; // the feed's ticks
  bool running_ = false;            // the feed's operation runs
};

} // namespace microlith::gateway
