// One request of the client, from its submission to its outcome, on the I/O thread: a
// connection from the pool (waiting in line if the origin has none free), then for a new one
// resolving, connecting and the TLS handshake, then sending and reading the response within the
// limits, then the connection back to the pool (kept when the response allows keep-alive), and
// redirects when the request follows them. One timer holds the deadline over all of it.
//
// The retry rule: a request that fails on a REUSED connection before any byte of its response
// arrived (the server closed the idle connection as it was taken) is sent once more on a new
// connection, if its method is idempotent. Nothing else is retried.
#pragma once

#include "http/client_core.hpp"
#include "http/http_connection.hpp"

#include "microlith/net/http/http_url.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>
#include <string>

namespace microlith::http::detail {

class http_exchange : public std::enable_shared_from_this<http_exchange> {
public:
  http_exchange(client_core& core, http_request request, http_url url, clock::time_point started,
                clock::time_point deadline, std::function<void(http_outcome)> done);

  /// Starts it (on the I/O thread).
  void start();

  /// Ends it now with client_closed (the client closes).
  void abort();

private:
  void acquire();
  void on_granted(std::shared_ptr<http_connection> connection);
  void resolve();
  void connect(const boost::asio::ip::tcp::resolver::results_type& addresses);
  void handshake();
  void send();
  void read();
  void read_body();
  void on_response();
  void on_failed(const boost::system::error_code& ec, bool sending);
  void on_deadline();
  void give_back(bool reusable);
  void finish(http_response response, caf::error err);

  client_core& core_;
  http_request request_;
  http_url url_;
  std::string origin_;
  std::string name_; // "GET http://host:port/path", for errors
  clock::time_point started_;
  clock::time_point deadline_;
  std::function<void(http_outcome)> done_;
  boost::asio::steady_timer timer_;
  boost::asio::ip::tcp::resolver resolver_;
  std::shared_ptr<http_connection> connection_;
  bool holds_slot_ = false; // a pool slot is this exchange's to give back
  bool reused_ = false;     // connection_ came from the pool's idle ones
  bool retried_ = false;
  bool waiting_ = false; // in the pool's line, with ticket_
  std::uint64_t ticket_ = 0;
  bool finished_ = false;
  unsigned redirects_ = 0;
  boost::beast::http::request<boost::beast::http::string_body> out_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
};

} // namespace microlith::http::detail
