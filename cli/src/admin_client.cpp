#include "admin_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fmt/format.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <cstdio>
#include <optional>

namespace microlith::cli {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

struct address {
  std::string host;
  std::string port;
};

// "http://127.0.0.1:8080" or "127.0.0.1:8080" (a trailing '/' allowed).
std::optional<address> parse_url(std::string url) {
  if (url.rfind("http://", 0) == 0)
    url.erase(0, 7);
  while (!url.empty() && url.back() == '/')
    url.pop_back();
  auto colon = url.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == url.size()
      || url.find('/') != std::string::npos)
    return std::nullopt;
  auto port = url.substr(colon + 1);
  if (port.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return address{url.substr(0, colon), port};
}

} // namespace

int reload_routes(const std::string& url) {
  auto where = parse_url(url);
  if (!where) {
    fmt::print(stderr,
               "microlith routes reload: expected the gateway's URL such as "
               "http://127.0.0.1:8080, got \"{}\"\n",
               url);
    return 2;
  }
  try {
    boost::asio::io_context ioc;
    tcp::resolver resolver{ioc};
    beast::tcp_stream stream{ioc};
    stream.connect(resolver.resolve(where->host, where->port));
    timeval limit{30, 0}; // a reload validates every route: bounded, but not instant
    ::setsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    http::request<http::empty_body> req{http::verb::post, "/_microlith/reload", 11};
    req.set(http::field::host, where->host);
    req.keep_alive(false);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    fmt::print("{}\n", res.body());
    if (res.result() == http::status::not_found)
      fmt::print(stderr,
                 "microlith routes reload: {} has no admin endpoint (set admin = true in "
                 "the gateway group's [http] table)\n",
                 url);
    return res.result() == http::status::ok ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "microlith routes reload: cannot reach {}: {}\n", url, e.what());
    return 1;
  }
}

} // namespace microlith::cli
