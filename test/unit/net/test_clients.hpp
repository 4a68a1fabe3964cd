// Synchronous clients for the gateway's socket tests: an HTTP/1.1 keep-alive connection and a
// WebSocket session, both Beast over their own io_context. Every operation is bounded: it runs
// the io_context until the operation completes or its time limit passes, and an operation that
// fails or runs out of time throws std::runtime_error saying which (Catch2 reports it), except
// where a function's comment says it answers the outcome instead.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace unit_net {

/// How long one client operation may take unless a test says otherwise.
inline constexpr std::chrono::milliseconds k_io_limit{3000};

/// Extra request headers, in order.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// An HTTP response as the client read it.
struct http_reply {
  unsigned status = 0;
  header_list headers;
  std::string body;
  bool keep_alive = true;

  /// The value of header `name` (case-insensitive); empty when absent.
  std::string header(std::string_view name) const;
};

/// An address of this machine that is not a loopback address (IPv4 first), if it has one.
std::optional<boost::asio::ip::address> non_loopback_address();

/// One TCP connection to the gateway speaking HTTP/1.1.
class http_connection {
public:
  /// Connects to 127.0.0.1:`port`. A `receive_buffer` above 0 sets the socket's receive buffer
  /// (SO_RCVBUF) before connecting, to make a client that reads slowly.
  explicit http_connection(std::uint16_t port, int receive_buffer = 0);
  /// Connects to `host`:`port`; the OS picks the source address (for an address of this
  /// machine, that address itself).
  http_connection(const boost::asio::ip::address& host, std::uint16_t port);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Sends a request and reads its response. A non-empty body is sent as application/json
  /// unless `headers` set Content-Type.
  http_reply request(std::string_view verb, std::string_view target, std::string body = {},
                     header_list headers = {}, unsigned version = 11);

  /// Sends a request without reading anything.
  void send(std::string_view verb, std::string_view target, std::string body = {},
            header_list headers = {}, unsigned version = 11);

  /// Reads one response (without a body when it answers a HEAD request).
  http_reply read_reply(std::chrono::milliseconds limit = k_io_limit, bool head = false);

  /// Writes `bytes` as they are; answers the error (empty on success), e.g. a broken pipe once
  /// the server closed the connection.
  boost::beast::error_code write_raw(std::string_view bytes,
                                     std::chrono::milliseconds limit = k_io_limit);

  /// Reads (and discards) until the server closes the connection; true when it did within
  /// `limit`, false when the connection was still open.
  bool closed_within(std::chrono::milliseconds limit);

private:
  void connect(const boost::asio::ip::tcp::endpoint& to);
  template <class Start>
  boost::beast::error_code run_bounded(Start start, std::chrono::milliseconds limit);

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

/// One WebSocket session with the gateway. Reads happen only inside read() and closed_within():
/// a client that calls neither reads nothing (a slow consumer).
class ws_connection {
public:
  /// Connects to 127.0.0.1:`port` and upgrades on `path`. A `receive_buffer` above 0 sets
  /// SO_RCVBUF before connecting.
  explicit ws_connection(std::uint16_t port, std::string path = "/ws", int receive_buffer = 0);
  /// Connects to 127.0.0.1:`port` and upgrades on `path` with `headers` added to the upgrade
  /// request (Authorization, Sec-WebSocket-Protocol); handshake_answer() is the server's answer.
  ws_connection(std::uint16_t port, std::string path, header_list headers);
  ~ws_connection();
  ws_connection(const ws_connection&) = delete;
  ws_connection& operator=(const ws_connection&) = delete;

  /// Sends one text frame.
  void send(std::string_view text);

  /// The next text frame, or nothing when none came within `limit`; throws when the session
  /// ended. A read that runs out of time stays pending and is continued by the next call.
  std::optional<std::string> read(std::chrono::milliseconds limit = k_io_limit);

  /// Reads (and discards) until the session ends; true when it ended within `limit`.
  bool closed_within(std::chrono::milliseconds limit);

  /// Closes the session with a close handshake.
  void close();

  /// Closes the TCP connection without a close handshake.
  void drop();

  /// The server's answer to the upgrade (101 and its headers).
  const boost::beast::websocket::response_type& handshake_answer() const { return answer_; }

private:
  void open(std::uint16_t port, const std::string& path, int receive_buffer,
            const header_list& headers);
  void start_read();
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit);

  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  boost::beast::flat_buffer buffer_;
  std::deque<std::string> inbox_;
  bool reading_ = false;
  boost::beast::error_code ended_; // why the session ended, once it did
  boost::beast::websocket::response_type answer_;
};

} // namespace unit_net
