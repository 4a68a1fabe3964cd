// The floor of the gateway benchmark (bench/gateway_bench.sh): a bare Beast HTTP/1.1 keep-alive
// server with no microlith in it. It answers every request, whatever its verb and target, with
// 200 and the fixed JSON body {"text":"hello"} (the same size as gateway_target's answer to
// GET /echo/hello), sets the same Server and Content-Type headers, and reads each request with
// a 30 s timeout, as Beast's advanced server example does. Binds 127.0.0.1 on a port the OS
// chooses, prints `port=<n>` on stdout, and serves until SIGTERM or SIGINT.
//
//   http_floor [--threads N]     N io threads, default 1
#include "server_args.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::string_view k_body = R"({"text":"hello"})";
constexpr auto k_read_timeout = std::chrono::seconds(30);

/// One connection: reads a request, answers it, and reads the next until the peer closes.
class session : public std::enable_shared_from_this<session> {
public:
  explicit session(tcp::socket&& socket) : stream_(std::move(socket)) {}

  /// Starts serving on the connection's strand.
  void run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&session::do_read, shared_from_this()));
  }

private:
  // Reads the next request.
  void do_read() {
    req_ = {};
    stream_.expires_after(k_read_timeout);
    http::async_read(stream_, buffer_, req_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  // A request arrived (or the peer closed, or the read timed out).
  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream)
      return do_close();
    if (ec)
      return;
    res_ = {http::status::ok, req_.version()};
    res_.set(http::field::server, "microlith");
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req_.keep_alive());
    res_.body() = k_body;
    res_.prepare_payload();
    http::async_write(
      stream_, res_,
      beast::bind_front_handler(&session::on_write, shared_from_this(), res_.keep_alive()));
  }

  // The answer is out: read the next request, or close.
  void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
    if (ec)
      return;
    if (!keep_alive)
      return do_close();
    do_read();
  }

  // Closes the sending side; the peer sees the end of the stream.
  void do_close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

/// Accepts connections and starts a session, on its own strand, for each.
class listener : public std::enable_shared_from_this<listener> {
public:
  listener(net::io_context& ioc, tcp::acceptor&& acceptor)
    : ioc_(ioc), acceptor_(std::move(acceptor)) {}

  /// Starts accepting.
  void run() { do_accept(); }

private:
  // Accepts the next connection.
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&listener::on_accept, shared_from_this()));
  }

  // A connection arrived.
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted)
      return;
    if (!ec)
      std::make_shared<session>(std::move(socket))->run();
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
};

} // namespace

int main(int argc, char** argv) {
  const int threads = bench::parse_threads(argc, argv, "http_floor");
  net::io_context ioc{threads};

  tcp::acceptor acceptor{ioc};
  tcp::endpoint endpoint{net::ip::make_address("127.0.0.1"), 0};
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec)
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec)
    acceptor.bind(endpoint, ec);
  if (!ec)
    acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "http_floor: cannot listen on 127.0.0.1: " << ec.message() << '\n';
    return 1;
  }
  const auto port = acceptor.local_endpoint().port();
  std::make_shared<listener>(ioc, std::move(acceptor))->run();

  net::signal_set signals{ioc, SIGINT, SIGTERM};
  signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });

  std::cout << "port=" << port << std::endl;

  std::vector<std::thread> extra;
  for (int i = 1; i < threads; ++i)
    extra.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : extra)
    t.join();
  return 0;
}
