#include "test_server.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <atomic>
#include <list>
#include <stdexcept>

namespace http_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

std::string seen_request::header(const std::string& name) const {
  for (const auto& [n, v] : headers)
    if (beast::iequals(n, name))
      return v;
  return {};
}

// One connection's socket as the stopping server sees it.
struct open_socket {
  std::mutex mutex;
  int fd = -1; // -1 once its thread let go of it (requires mutex)
};

struct test_server::state {
  script answers;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::unique_ptr<asio::ssl::context> tls;
  mutable std::mutex mutex;
  std::condition_variable changed;
  bool stopping = false;                           // requires mutex
  bool released = false;                           // requires mutex
  std::size_t held = 0;                            // requires mutex
  std::size_t connections = 0;                     // requires mutex
  std::size_t requests = 0;                        // requires mutex
  std::list<std::shared_ptr<open_socket>> sockets; // requires mutex
  std::vector<std::thread> threads;                // requires mutex
};

namespace {

using server_state = test_server::state;

std::string text(beast::string_view s) {
  return {s.data(), s.size()};
}

// Reads until the client closes or the server stops (shutdown wakes the read).
template <class Stream>
void wait_for_close(Stream& stream) {
  char byte = 0;
  boost::system::error_code ec;
  while (!ec)
    stream.read_some(asio::buffer(&byte, 1), ec);
}

template <class Stream>
bool respond(Stream& stream, const answer& a, unsigned version) {
  bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(a.status), version};
  for (const auto& [name, value] : a.headers)
    res.insert(name, value);
  res.body() = a.body;
  res.keep_alive(a.keep_alive);
  res.prepare_payload();
  boost::system::error_code ec;
  bhttp::write(stream, res, ec);
  return !ec && a.keep_alive && !a.close_after;
}

template <class Stream>
void serve(server_state& s, Stream& stream, tcp::socket& socket) {
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request<bhttp::string_body> req;
    boost::system::error_code ec;
    bhttp::read(stream, buffer, req, ec);
    if (ec)
      return;
    seen_request seen;
    seen.method = text(req.method_string());
    seen.target = text(req.target());
    seen.body = req.body();
    for (const auto& f : req)
      seen.headers.emplace_back(text(f.name_string()), text(f.value()));
    {
      std::lock_guard<std::mutex> guard{s.mutex};
      ++s.requests;
    }
    s.changed.notify_all();
    auto a = s.answers(seen);
    switch (a.how) {
      case answer::kind::respond:
        if (!respond(stream, a, req.version()))
          return;
        break;
      case answer::kind::hold: {
        std::unique_lock<std::mutex> lock{s.mutex};
        ++s.held;
        s.changed.notify_all();
        s.changed.wait(lock, [&s] { return s.released || s.stopping; });
        --s.held;
        if (s.stopping)
          return;
        lock.unlock();
        if (!respond(stream, a, req.version()))
          return;
        break;
      }
      case answer::kind::hang: wait_for_close(stream); return;
      case answer::kind::truncate:
      case answer::kind::oversize: {
        auto head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(a.declared) + "\r\n\r\n";
        asio::write(stream, asio::buffer(head + a.body), ec);
        if (a.how == answer::kind::oversize)
          wait_for_close(stream);
        return;
      }
      case answer::kind::reset:
        socket.set_option(asio::socket_base::linger{true, 0}, ec);
        socket.close(ec);
        return;
    }
  }
}

void serve_connection(server_state& s, tcp::socket socket) {
  if (s.tls) {
    asio::ssl::stream<tcp::socket&> stream{socket, *s.tls};
    boost::system::error_code ec;
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (!ec)
      serve(s, stream, socket);
  } else {
    serve(s, socket, socket);
  }
}

} // namespace

test_server::test_server(script answers, const test_certificate* tls)
  : state_(std::make_shared<state>()), tls_(tls != nullptr) {
  auto& s = *state_;
  s.answers = std::move(answers);
  if (tls != nullptr) {
    s.tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    s.tls->use_certificate_chain_file(tls->certificate.string());
    s.tls->use_private_key_file(tls->key.string(), asio::ssl::context::pem);
  }
  tcp::endpoint at{asio::ip::make_address("127.0.0.1"), 0};
  s.acceptor.open(at.protocol());
  s.acceptor.set_option(tcp::acceptor::reuse_address(true));
  s.acceptor.bind(at);
  s.acceptor.listen();
  port_ = s.acceptor.local_endpoint().port();
  acceptor_ = std::thread{[st = state_] {
    for (;;) {
      tcp::socket socket{st->io};
      boost::system::error_code ec;
      st->acceptor.accept(socket, ec);
      std::lock_guard<std::mutex> guard{st->mutex};
      if (ec || st->stopping)
        return;
      ++st->connections;
      auto entry = std::make_shared<open_socket>();
      entry->fd = socket.native_handle();
      st->sockets.push_back(entry);
      st->threads.emplace_back([st, entry, socket = std::move(socket)]() mutable {
        serve_connection(*st, std::move(socket));
        std::lock_guard<std::mutex> guard{entry->mutex};
        entry->fd = -1;
      });
      st->changed.notify_all();
    }
  }};
}

test_server::~test_server() {
  auto& s = *state_;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> guard{s.mutex};
    s.stopping = true;
    ::shutdown(s.acceptor.native_handle(), SHUT_RDWR); // wakes the blocked accept
    for (auto& entry : s.sockets) {
      std::lock_guard<std::mutex> held{entry->mutex};
      if (entry->fd >= 0)
        ::shutdown(entry->fd, SHUT_RDWR); // wakes a blocked read
    }
  }
  s.changed.notify_all();
  acceptor_.join();
  {
    std::lock_guard<std::mutex> guard{s.mutex};
    threads = std::move(s.threads);
  }
  for (auto& t : threads)
    t.join();
}

std::string test_server::url(const std::string& path) const {
  return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_) + path;
}

std::size_t test_server::connections() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->connections;
}

std::size_t test_server::requests() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->requests;
}

std::size_t test_server::held() const {
  std::lock_guard<std::mutex> guard{state_->mutex};
  return state_->held;
}

void test_server::release() {
  {
    std::lock_guard<std::mutex> guard{state_->mutex};
    state_->released = true;
  }
  state_->changed.notify_all();
}

} // namespace http_test
