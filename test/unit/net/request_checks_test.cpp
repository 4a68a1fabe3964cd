// The header checks the gateway makes before it serves a request (net/src/gateway/
// request_checks.hpp), on requests built in memory; gateway_server_test.cpp and
// http_session_test.cpp check the same refusals over real sockets.
#include "gateway/request_checks.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace http = boost::beast::http;
using microlith::gateway::host_problem;
using microlith::gateway::max_request_id;
using microlith::gateway::valid_request_id;
using microlith::gateway::websocket_key_problem;

namespace {

http::request<http::string_body> get(unsigned version = 11) {
  return {http::verb::get, "/accounts", version};
}

} // namespace

TEST_CASE("an X-Request-Id is 1 to 128 characters of [A-Za-z0-9._:-]", "[unit][gateway]") {
  CHECK(valid_request_id("a"));
  CHECK(valid_request_id("req-1.2_3:Z"));
  CHECK(valid_request_id(std::string(max_request_id, 'x')));
  CHECK_FALSE(valid_request_id(""));
  CHECK_FALSE(valid_request_id(std::string(max_request_id + 1, 'x')));
  CHECK_FALSE(valid_request_id("with space"));
  CHECK_FALSE(valid_request_id("new\nline"));
  CHECK_FALSE(valid_request_id("slash/"));
}

TEST_CASE("Host: one host[:port] on HTTP/1.1, optional on HTTP/1.0", "[unit][gateway]") {
  SECTION("valid values") {
    for (const char* value : {"localhost", "localhost:8080", "127.0.0.1:1", "[::1]:80", "[::1]",
                              "bank.example.com", ""}) {
      auto req = get();
      req.set(http::field::host, value);
      INFO(value);
      CHECK_FALSE(host_problem(req));
    }
  }
  SECTION("an HTTP/1.1 request without Host names RFC 9112") {
    auto problem = host_problem(get());
    REQUIRE(problem);
    CHECK(*problem == "Host: an HTTP/1.1 request must carry a Host header (RFC 9112 section 3.2)");
  }
  SECTION("an HTTP/1.0 request without Host is fine") {
    CHECK_FALSE(host_problem(get(10)));
  }
  SECTION("two Host headers are counted") {
    auto req = get();
    req.insert(http::field::host, "a");
    req.insert(http::field::host, "b");
    auto problem = host_problem(req);
    REQUIRE(problem);
    CHECK(*problem == "Host: expected one Host header, got 2");
  }
  SECTION("invalid values are quoted back, cut after 64 bytes") {
    for (const char* value : {"a b", "host:port", "[::1", "[::1]x", "a/b"}) {
      auto req = get();
      req.set(http::field::host, value);
      auto problem = host_problem(req);
      INFO(value);
      REQUIRE(problem);
      CHECK(*problem == "Host: expected host or host:port, got \"" + std::string{value} + "\"");
    }
    auto req = get();
    req.set(http::field::host, std::string(100, '/'));
    auto problem = host_problem(req);
    REQUIRE(problem);
    CHECK(*problem == "Host: expected host or host:port, got \"" + std::string(64, '/') + "...\"");
  }
}

TEST_CASE("Sec-WebSocket-Key: the base64 encoding of 16 bytes, once", "[unit][gateway]") {
  auto expected = std::string{"Sec-WebSocket-Key: expected the base64 encoding of 16 bytes "
                              "(RFC 6455 section 4.2.1)"};
  SECTION("RFC 6455's sample key is fine") {
    auto req = get();
    req.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK_FALSE(websocket_key_problem(req));
  }
  SECTION("missing or repeated") {
    auto req = get();
    auto none = websocket_key_problem(req);
    REQUIRE(none);
    CHECK(*none == expected + ", got 0 such headers");
    req.insert(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    req.insert(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    auto two = websocket_key_problem(req);
    REQUIRE(two);
    CHECK(*two == expected + ", got 2 such headers");
  }
  SECTION("wrong length, alphabet or padding") {
    for (const char* key : {"short==", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZ-==",
                            "dGhlIHNhbXBsZSBub25jZQAA"}) {
      auto req = get();
      req.set(http::field::sec_websocket_key, key);
      auto problem = websocket_key_problem(req);
      INFO(key);
      REQUIRE(problem);
      CHECK(*problem == expected + ", got \"" + key + "\"");
    }
  }
}
