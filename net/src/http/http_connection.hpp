// One connection to an origin, plain or TLS: the Beast stream, the buffer of bytes read past a
// response (owned by the connection, since they belong to its next response), and what the pool
// needs to know to reuse it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace microlith::http::detail {

class http_connection {
public:
  /// A connection not connected yet; TLS when `tls` is set (then it sends `host` as SNI and
  /// verifies that the certificate names it).
  http_connection(boost::asio::io_context& io, boost::asio::ssl::context* tls,
                  const std::string& host);

  bool tls() const noexcept { return tls_ != nullptr; }

  /// The TCP layer (connect, close).
  boost::beast::tcp_stream& tcp() noexcept;

  /// Runs `f(stream)` with the stream to read and write: the TLS stream or the TCP one.
  template <class F>
  void with_stream(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(*plain_);
  }

  /// The TLS stream (only for a TLS connection).
  boost::beast::ssl_stream<boost::beast::tcp_stream>& tls_stream() noexcept { return *tls_; }

  /// Why the server's certificate was refused (empty when it was not).
  const std::string& verify_error() const noexcept { return verify_error_; }

  /// Bytes read past the last response.
  boost::beast::flat_buffer buffer;

  /// Whether an idle connection still looks usable: not closed by the server (no FIN), no bytes
  /// sent by it while idle (a plain connection), no leftover bytes. Never blocks.
  bool looks_alive();

  /// Closes the socket now: operations in progress end with operation_aborted.
  void close() noexcept;

  /// When it last completed a response (for the pool's idle timeout).
  std::chrono::steady_clock::time_point idle_since{};

private:
  std::unique_ptr<boost::beast::tcp_stream> plain_;
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls_;
  std::string verify_error_;
};

} // namespace microlith::http::detail
