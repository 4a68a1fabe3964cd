#include "test_clients.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace unit_net {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

tcp::endpoint local(std::uint16_t port) {
  return {net::ip::make_address("127.0.0.1"), port};
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

// Opens `socket` with a small receive buffer when asked (before connecting, so it holds).
void prepare(tcp::socket& socket, int receive_buffer) {
  if (receive_buffer <= 0)
    return;
  socket.open(tcp::v4());
  socket.set_option(net::socket_base::receive_buffer_size(receive_buffer));
}

} // namespace

std::optional<boost::asio::ip::address> non_loopback_address() {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    return std::nullopt;
  std::optional<boost::asio::ip::address> v4, v6;
  for (auto* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0
        || (i->ifa_flags & IFF_LOOPBACK) != 0)
      continue;
    if (i->ifa_addr->sa_family == AF_INET && !v4) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      v4 = boost::asio::ip::address_v4(ntohl(in->sin_addr.s_addr));
    } else if (i->ifa_addr->sa_family == AF_INET6 && !v6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      boost::asio::ip::address_v6::bytes_type bytes;
      std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr),
                bytes.begin());
      boost::asio::ip::address_v6 a{bytes};
      if (!a.is_link_local()) // would need a scope id
        v6 = a;
    }
  }
  freeifaddrs(list);
  if (v4 && !v4->is_loopback())
    return v4;
  return v6;
}

std::string http_reply::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name))
      return value;
  return {};
}

// -- http_connection ----------------------------------------------------------------------------

// Starts an operation with a completion handler that records its error, runs the io_context
// until it completes or `limit` passes; on time out cancels it and waits for it to finish.
// Answers the operation's error, or nothing when it ran out of time.
template <class Start>
beast::error_code http_connection::run_bounded(Start start, std::chrono::milliseconds limit) {
  bool done = false;
  beast::error_code result;
  start([&done, &result](beast::error_code ec, auto&&...) {
    done = true;
    result = ec;
  });
  ioc_.restart();
  auto deadline = steady::now() + limit;
  while (!done && ioc_.run_one_until(deadline) > 0) {
  }
  if (done)
    return result;
  beast::error_code ignored;
  socket_.cancel(ignored);
  ioc_.restart();
  while (!done && ioc_.run_one() > 0) {
  }
  return net::error::timed_out;
}

http_connection::http_connection(std::uint16_t port, int receive_buffer) : socket_(ioc_) {
  prepare(socket_, receive_buffer);
  connect(local(port));
}

http_connection::http_connection(const net::ip::address& host, std::uint16_t port) : socket_(ioc_) {
  connect({host, port});
}

void http_connection::connect(const tcp::endpoint& to) {
  auto ec =
    run_bounded([&](auto handler) { socket_.async_connect(to, std::move(handler)); }, k_io_limit);
  if (ec)
    throw std::runtime_error("cannot connect to the gateway at " + to.address().to_string() + ": "
                             + ec.message());
}

http_connection::~http_connection() = default;

http_reply http_connection::request(std::string_view verb, std::string_view target,
                                    std::string body, header_list headers, unsigned version) {
  send(verb, target, std::move(body), std::move(headers), version);
  return read_reply(k_io_limit, verb == "HEAD");
}

void http_connection::send(std::string_view verb, std::string_view target, std::string body,
                           header_list headers, unsigned version) {
  http::request<http::string_body> req;
  req.version(version);
  req.method_string(beast::string_view(verb.data(), verb.size()));
  req.target(beast::string_view(target.data(), target.size()));
  req.set(http::field::host, "127.0.0.1");
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    req.insert(name, value);
    has_type = has_type || iequals(name, "Content-Type");
  }
  if (!body.empty() && !has_type)
    req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  auto ec = run_bounded([&](auto handler) { http::async_write(socket_, req, std::move(handler)); },
                        k_io_limit);
  if (ec)
    throw std::runtime_error("cannot send " + std::string(verb) + " " + std::string(target) + ": "
                             + ec.message());
}

http_reply http_connection::read_reply(std::chrono::milliseconds limit, bool head) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (head)
    parser.skip(true);
  auto ec = run_bounded(
    [&](auto handler) { http::async_read(socket_, buffer_, parser, std::move(handler)); }, limit);
  if (ec)
    throw std::runtime_error("cannot read a response: " + ec.message());
  auto res = parser.release();
  http_reply out;
  out.status = res.result_int();
  for (const auto& field : res)
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  out.body = std::move(res.body());
  out.keep_alive = res.keep_alive();
  return out;
}

beast::error_code http_connection::write_raw(std::string_view bytes,
                                             std::chrono::milliseconds limit) {
  return run_bounded(
    [&](auto handler) {
      net::async_write(socket_, net::buffer(bytes.data(), bytes.size()), std::move(handler));
    },
    limit);
}

bool http_connection::closed_within(std::chrono::milliseconds limit) {
  auto deadline = steady::now() + limit;
  buffer_.consume(buffer_.size());
  char scratch[4096];
  while (true) {
    auto remaining =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (remaining.count() <= 0)
      return false;
    auto ec = run_bounded(
      [&](auto handler) { socket_.async_read_some(net::buffer(scratch), std::move(handler)); },
      remaining);
    if (ec == net::error::timed_out)
      return false;
    if (ec)
      return true; // end of stream, reset: the server closed it
  }
}

// -- ws_connection ------------------------------------------------------------------------------

ws_connection::ws_connection(std::uint16_t port, std::string path, int receive_buffer) : ws_(ioc_) {
  open(port, path, receive_buffer, {});
}

ws_connection::ws_connection(std::uint16_t port, std::string path, header_list headers)
  : ws_(ioc_) {
  open(port, path, 0, headers);
}

void ws_connection::open(std::uint16_t port, const std::string& path, int receive_buffer,
                         const header_list& headers) {
  prepare(ws_.next_layer(), receive_buffer);
  if (!headers.empty())
    ws_.set_option(
      beast::websocket::stream_base::decorator([headers](beast::websocket::request_type& req) {
        for (const auto& [name, value] : headers)
          req.set(name, value);
      }));
  bool done = false;
  beast::error_code result;
  auto record = [&done, &result](beast::error_code ec, auto&&...) {
    done = true;
    result = ec;
  };
  ws_.next_layer().async_connect(local(port), record);
  if (!run_until([&] { return done; }, k_io_limit) || result) {
    drop();
    throw std::runtime_error("cannot connect to the gateway: " + result.message());
  }
  done = false;
  ws_.async_handshake(answer_, "127.0.0.1", path, record);
  if (!run_until([&] { return done; }, k_io_limit) || result) {
    drop();
    throw std::runtime_error("WebSocket handshake on " + path + " failed: " + result.message());
  }
  ws_.text(true);
}

ws_connection::~ws_connection() {
  drop();
}

// Runs the io_context until `done` holds, at most `limit`; answers `done()`.
bool ws_connection::run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  ioc_.restart();
  auto deadline = steady::now() + limit;
  while (!done())
    if (ioc_.run_one_until(deadline) == 0)
      return done();
  return true;
}

// Reads the next frame into the inbox unless a read is pending or the session ended.
void ws_connection::start_read() {
  if (reading_ || ended_)
    return;
  reading_ = true;
  ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec) {
      ended_ = ec;
      return;
    }
    inbox_.push_back(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
  });
}

void ws_connection::send(std::string_view text) {
  bool done = false;
  beast::error_code result;
  ws_.async_write(net::buffer(text.data(), text.size()),
                  [&done, &result](beast::error_code ec, std::size_t) {
                    done = true;
                    result = ec;
                  });
  if (!run_until([&] { return done; }, k_io_limit)) {
    drop();
    throw std::runtime_error("sending a WebSocket frame timed out");
  }
  if (result)
    throw std::runtime_error("cannot send a WebSocket frame: " + result.message());
}

std::optional<std::string> ws_connection::read(std::chrono::milliseconds limit) {
  if (inbox_.empty()) {
    start_read();
    run_until([this] { return !inbox_.empty() || ended_; }, limit);
  }
  if (!inbox_.empty()) {
    auto out = std::move(inbox_.front());
    inbox_.pop_front();
    return out;
  }
  if (ended_)
    throw std::runtime_error("the WebSocket session ended: " + ended_.message());
  return std::nullopt;
}

bool ws_connection::closed_within(std::chrono::milliseconds limit) {
  auto deadline = steady::now() + limit;
  while (true) {
    inbox_.clear();
    if (ended_)
      return true;
    auto remaining =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    if (remaining.count() <= 0)
      return false;
    start_read();
    if (!run_until([this] { return !inbox_.empty() || ended_; }, remaining))
      return false;
  }
}

void ws_connection::close() {
  if (ended_)
    return;
  bool done = false;
  ws_.async_close(websocket::close_code::normal, [&done](beast::error_code) { done = true; });
  // The close handshake completes once the server's close frame is read, by the pending read
  // if there is one.
  start_read();
  if (!run_until([&] { return done && !reading_; }, k_io_limit))
    drop();
}

void ws_connection::drop() {
  beast::error_code ignored;
  ws_.next_layer().close(ignored);
  // Let the operations still pending finish (aborted) while the members they use exist.
  ioc_.restart();
  ioc_.run_for(std::chrono::seconds(1));
}

} // namespace unit_net
