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
#include <cstdlib>
#include <optional>
#include <string>

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

// The "message" of a JSON error body, or the body itself when it has none.
std::string server_message(const std::string& body) {
  auto key = body.find("\"message\":\"");
  if (key == std::string::npos)
    return body;
  std::string out;
  for (auto i = key + 11; i < body.size() && body[i] != '"'; ++i) {
    if (body[i] == '\\' && i + 1 < body.size())
      ++i;
    out += body[i];
  }
  return out;
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
    const char* token = std::getenv("MICROLITH_ADMIN_TOKEN");
    const bool has_token = token != nullptr && *token != '\0';
    if (has_token)
      req.set(http::field::authorization, fmt::format("Bearer {}", token));
    req.keep_alive(false);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    fmt::print("{}\n", res.body());
    const auto status = res.result_int();
    if (status == 401 || status == 403)
      fmt::print(stderr,
                 "microlith routes reload: {} refused the request ({}): {}; set "
                 "MICROLITH_ADMIN_TOKEN to the system's admin token ([admin] token in its file, "
                 "or the MICROLITH_ADMIN_TOKEN it runs with){}\n",
                 url, status, server_message(res.body()),
                 has_token ? "" : " (MICROLITH_ADMIN_TOKEN is not set here)");
    else if (status == 429)
      fmt::print(stderr,
                 "microlith routes reload: {} refused the request (429): {}; wait {} s, then "
                 "retry with MICROLITH_ADMIN_TOKEN set to the system's admin token\n",
                 url, server_message(res.body()),
                 std::string(res[http::field::retry_after].empty()
                               ? "a few"
                               : res[http::field::retry_after]));
    else if (res.result() == http::status::not_found)
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
