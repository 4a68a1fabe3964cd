// A gateway connection's byte stream: plain TCP, or TLS over TCP (an HTTPS gateway), chosen per
// connection at run time. The sessions (http_session, websocket_session) are written once against
// this one type: each read and write goes to the TLS stream or to the TCP stream underneath it,
// so the HTTP and WebSocket code is compiled once, and only the few lowest operations twice.
// Timeouts are those of the beast::tcp_stream at the bottom (expires_after, expires_never).
#pragma once

#include "microlith/net/gateway/tls.hpp"

#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <memory>
#include <optional>
#include <utility>

namespace microlith::gateway {

class gateway_stream {
public:
  using executor_type = boost::beast::tcp_stream::executor_type;

  /// Plain TCP over `socket`.
  explicit gateway_stream(boost::asio::ip::tcp::socket&& socket) : plain_(std::move(socket)) {}

  /// TLS over `socket` with `context`, which the stream holds while it lives (the handshake is
  /// still to be done: async_handshake()).
  gateway_stream(boost::asio::ip::tcp::socket&& socket, std::shared_ptr<const tls_context> context)
    : context_(std::move(context)) {
    tls_.emplace(boost::beast::tcp_stream(std::move(socket)), context_->native());
  }

  gateway_stream(gateway_stream&&) = default;
  gateway_stream& operator=(gateway_stream&&) = delete;

  /// Whether it speaks TLS.
  bool secure() const noexcept { return tls_.has_value(); }

  executor_type get_executor() noexcept { return tcp().get_executor(); }

  /// The TCP stream at the bottom (its timeouts).
  boost::beast::tcp_stream& tcp() noexcept { return tls_ ? tls_->next_layer() : *plain_; }

  /// The socket.
  boost::asio::ip::tcp::socket& socket() noexcept { return tcp().socket(); }

  template <class Duration>
  void expires_after(Duration d) {
    tcp().expires_after(d);
  }
  void expires_never() { tcp().expires_never(); }

  /// The server's side of the TLS handshake (TLS only).
  template <class Handler>
  void async_handshake(Handler&& handler) {
    tls_->async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }

  /// Sends TLS's close_notify and waits for the client's (TLS only).
  template <class Handler>
  void async_shutdown(Handler&& handler) {
    tls_->async_shutdown(std::forward<Handler>(handler));
  }

  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    else
      plain_->async_read_some(buffers, std::forward<Handler>(handler));
  }

  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    else
      plain_->async_write_some(buffers, std::forward<Handler>(handler));
  }

  // For websocket::stream: closing the socket on a timeout, and the end of a session.
  friend void beast_close_socket(gateway_stream& s) {
    boost::system::error_code ignored;
    s.socket().close(ignored);
  }

  friend void teardown(boost::beast::role_type role, gateway_stream& s,
                       boost::system::error_code& ec) {
    using boost::beast::websocket::teardown;
    if (s.tls_)
      teardown(role, *s.tls_, ec);
    else
      teardown(role, *s.plain_, ec);
  }

  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, gateway_stream& s, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    if (s.tls_)
      async_teardown(role, *s.tls_, std::forward<Handler>(handler));
    else
      async_teardown(role, *s.plain_, std::forward<Handler>(handler));
  }

private:
  std::shared_ptr<const tls_context> context_; // outlives tls_, which uses it
  std::optional<boost::beast::tcp_stream> plain_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
};

} // namespace microlith::gateway
