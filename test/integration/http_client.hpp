// A blocking HTTP/1.1 keep-alive client and a WebSocket client for tests (Beast), with every
// operation bounded in time (each runs asynchronously on the client's own io_context).
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/system/system_error.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bank_test {

/// Runs the asynchronous operation that `start` begins on `ioc` (`start` gets a handler taking
/// an error code) until it ends, at most `limit`; then closes `tcp`, which ends it with an error.
/// Throws what the operation failed with. Asynchronous operations are bounded where blocking
/// socket calls are not (Asio waits again when SO_RCVTIMEO expires) and are not ended by a
/// signal that interrupts a blocking call (EINTR).
template <class Start>
void run_bounded(boost::asio::io_context& ioc, boost::beast::tcp_stream& tcp,
                 std::chrono::seconds limit, const char* what, Start start) {
  boost::system::error_code result = boost::asio::error::would_block;
  bool done = false;
  start([&result, &done](boost::system::error_code ec) {
    result = ec;
    done = true;
  });
  ioc.restart();
  ioc.run_for(limit);
  if (!done) {
    boost::system::error_code ignored;
    tcp.socket().close(ignored);
    ioc.restart();
    ioc.run();
    result = boost::asio::error::timed_out;
  }
  if (result)
    throw boost::system::system_error{result, what};
}

/// An answer: status, body and the X-Request-Id it carried.
struct http_answer {
  unsigned status = 0;
  std::string body;
  std::string request_id;
};

/// One keep-alive connection to 127.0.0.1:port.
class http_client {
public:
  explicit http_client(std::uint16_t port) : stream_(ioc_) {
    boost::asio::ip::tcp::endpoint to{boost::asio::ip::address_v4::loopback(), port};
    run_bounded(ioc_, stream_, limit, "connect",
                [&](auto done) { stream_.async_connect(to, done); });
  }

  /// Sends one request, with `headers` added, and reads its answer (each step bounded by 30 s).
  http_answer request(boost::beast::http::verb verb, const std::string& target,
                      const std::string& json = {},
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers)
      req.set(name, value);
    if (!json.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = json;
    }
    req.prepare_payload();
    run_bounded(ioc_, stream_, limit, "write", [&](auto done) {
      http::async_write(stream_, req,
                        [done](boost::system::error_code ec, std::size_t) { done(ec); });
    });
    http::response<http::string_body> res;
    run_bounded(ioc_, stream_, limit, "read", [&](auto done) {
      http::async_read(stream_, buffer_, res,
                       [done](boost::system::error_code ec, std::size_t) { done(ec); });
    });
    return http_answer{res.result_int(), res.body(), std::string(res["X-Request-Id"])};
  }

private:
  static constexpr std::chrono::seconds limit{30};
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

/// A WebSocket connection to ws://127.0.0.1:port/path.
class ws_client {
public:
  ws_client(std::uint16_t port, const std::string& path) : ws_(ioc_) {
    auto& tcp = boost::beast::get_lowest_layer(ws_);
    boost::asio::ip::tcp::endpoint to{boost::asio::ip::address_v4::loopback(), port};
    run_bounded(ioc_, tcp, limit, "connect", [&](auto done) { tcp.async_connect(to, done); });
    run_bounded(ioc_, tcp, limit, "handshake",
                [&](auto done) { ws_.async_handshake("127.0.0.1", path, done); });
  }

  /// Sends one text frame (bounded by 30 s).
  void send(const std::string& text) {
    run_bounded(ioc_, boost::beast::get_lowest_layer(ws_), limit, "write", [&](auto done) {
      ws_.async_write(boost::asio::buffer(text),
                      [done](boost::system::error_code ec, std::size_t) { done(ec); });
    });
  }

  /// Reads one text frame (bounded by 30 s: generous, for a loaded machine; a frame normally
  /// arrives within milliseconds).
  std::string receive() {
    boost::beast::flat_buffer buffer;
    run_bounded(ioc_, boost::beast::get_lowest_layer(ws_), limit, "read", [&](auto done) {
      ws_.async_read(buffer, [done](boost::system::error_code ec, std::size_t) { done(ec); });
    });
    return boost::beast::buffers_to_string(buffer.data());
  }

private:
  static constexpr std::chrono::seconds limit{30};
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
};

} // namespace bank_test
