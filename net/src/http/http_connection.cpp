#include "http/http_connection.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <sys/socket.h>

#include <cerrno>

namespace microlith::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;

http_connection::http_connection(asio::io_context& io, asio::ssl::context* tls,
                                 const std::string& host) {
  if (tls == nullptr) {
    plain_ = std::make_unique<beast::tcp_stream>(io);
    return;
  }
  tls_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io, *tls);
  // SNI, so a server with several names presents the right certificate (a name only: RFC 6066
  // allows no address there).
  boost::system::error_code not_address;
  asio::ip::make_address(host, not_address);
  if (not_address)
    SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
  tls_->set_verify_mode(asio::ssl::verify_peer);
  tls_->set_verify_callback([this, check = asio::ssl::host_name_verification{host},
                             host](bool preverified, asio::ssl::verify_context& ctx) mutable {
    auto* store = ctx.native_handle();
    if (!preverified) {
      if (verify_error_.empty())
        verify_error_ = X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
      return false;
    }
    if (!check(preverified, ctx)) {
      if (verify_error_.empty())
        verify_error_ = "the certificate does not name " + host;
      return false;
    }
    return true;
  });
}

beast::tcp_stream& http_connection::tcp() noexcept {
  return tls_ ? beast::get_lowest_layer(*tls_) : *plain_;
}

bool http_connection::looks_alive() {
  auto& socket = tcp().socket();
  if (!socket.is_open() || buffer.size() > 0)
    return false;
  char byte = 0;
  auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0)
    return false; // the server closed it
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK;
  // Bytes while idle: on a plain connection an unasked answer (a 408, say) means the server is
  // done with it; on TLS they may be a session ticket, which the next read takes in stride.
  return tls();
}

void http_connection::close() noexcept {
  boost::system::error_code ignored;
  tcp().socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  tcp().socket().close(ignored);
}

} // namespace microlith::http::detail
