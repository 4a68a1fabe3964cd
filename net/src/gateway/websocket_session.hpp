// One WebSocket connection: topic subscriptions requested by the client, published messages
// pushed to it through a bounded queue (gateway.hpp describes the protocol).
#pragma once

#include "microlith/net/gateway/gateway.hpp"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>
#include <memory>
#include <set>
#include <string>

namespace microlith::gateway {

class websocket_session : public std::enable_shared_from_this<websocket_session> {
public:
  /// A session for an upgraded connection; it takes over the connection's place in the
  /// gateway's open_connections (the HTTP session counted it) and frees it when it ends.
  websocket_session(detail::server_state& st, boost::beast::tcp_stream&& stream);
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

  detail::server_state& st_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool writing_ = false;
  bool open_ = false;
  std::uint64_t dropped_ = 0; // dropped since the last notice
  std::set<std::string> topics_;
};

} // namespace microlith::gateway
