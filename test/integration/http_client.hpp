// A blocking HTTP/1.1 keep-alive client and a WebSocket client for tests (Beast), with every
// operation bounded in time.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace bank_test {

/// Bounds blocking reads and writes on `socket` (Beast's stream timeouts only apply to
/// asynchronous operations): a hung peer fails the operation instead of the test hanging.
inline void bound_blocking_io(boost::asio::ip::tcp::socket& socket, int seconds) {
  timeval tv{seconds, 0};
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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
    stream_.connect(boost::asio::ip::tcp::endpoint{boost::asio::ip::address_v4::loopback(), port});
    bound_blocking_io(stream_.socket(), 10);
  }

  /// Sends one request, with `headers` added, and reads its answer (each blocking step bounded
  /// by 10 s).
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
    http::write(stream_, req);
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res);
    return http_answer{res.result_int(), res.body(), std::string(res["X-Request-Id"])};
  }

private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

/// A WebSocket connection to ws://127.0.0.1:port/path.
class ws_client {
public:
  ws_client(std::uint16_t port, const std::string& path) : ws_(ioc_) {
    auto& tcp = boost::beast::get_lowest_layer(ws_);
    tcp.connect(boost::asio::ip::tcp::endpoint{boost::asio::ip::address_v4::loopback(), port});
    bound_blocking_io(tcp.socket(), 5);
    ws_.handshake("127.0.0.1", path);
  }

  /// Sends one text frame.
  void send(const std::string& text) {
    ws_.write(boost::asio::buffer(text));
  }

  /// Reads one text frame (bounded by 5 s).
  std::string receive() {
    boost::beast::flat_buffer buffer;
    ws_.read(buffer);
    return boost::beast::buffers_to_string(buffer.data());
  }

private:
  boost::asio::io_context ioc_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
};

} // namespace bank_test
