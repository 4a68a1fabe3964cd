// The gateway's HTTP sessions over real sockets (net/src/gateway/http_session.cpp): status
// mapping of real calls, parameter binding end to end (control characters refused), X-Request-Id,
// the Host header, health endpoints, limits and timeouts, keep-alive.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"

#include "support/log_capture.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>

#include <caf/all.hpp>

#include <boost/asio/ip/address.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <optional>
#include <string>
#include <thread>

using namespace unit_net;
using Catch::Matchers::Contains;

namespace {

/// The error body of `reply`, checked to name its request id (the X-Request-Id it carries).
google::protobuf::Struct error_of(const http_reply& reply) {
  INFO(reply.status << " " << reply.body);
  auto body = parse_object(reply.body);
  CHECK(reply.header("Content-Type") == "application/json");
  CHECK_FALSE(string_field(body, "error").empty());
  CHECK_FALSE(string_field(body, "message").empty());
  CHECK(string_field(body, "request_id") == reply.header("X-Request-Id"));
  CHECK_FALSE(reply.header("X-Request-Id").empty());
  return body;
}

long long millis_since(steady::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count();
}

/// A request head with one header of `size` bytes.
std::string request_with_header_of(std::size_t size) {
  return "GET /echo/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(size, 'a') + "\r\n\r\n";
}

/// The admin token of admin_options().
const std::string admin_token = "test-admin-token-0123456789";

/// The header that bears `token`.
header_list bearing(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// Options with the admin endpoint on, its reload counted in `reloads` and answering `outcome`,
/// and admin_token as the admin token.
gw::gateway_options admin_options(std::shared_ptr<std::atomic<int>> reloads,
                                  std::shared_ptr<caf::error> outcome) {
  auto options = test_options();
  options.admin_token = admin_token;
  options.admin_reload = [reloads, outcome] {
    ++*reloads;
    return *outcome;
  };
  return options;
}

} // namespace

TEST_CASE("a call's outcome maps to an HTTP status and a JSON body", "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};

  SECTION("an answer is 200 with the answer's JSON") {
    auto r = client.request("GET", "/echo/hello%20there?value=42");
    REQUIRE(r.status == 200);
    CHECK(r.header("Content-Type") == "application/json");
    auto answer = parse_ping_reply(r.body);
    CHECK(answer.text() == "hello there");
    CHECK(answer.value() == 42);
    CHECK(answer.caller() == "http");                 // the calls carry the gateway worker's name
    CHECK(answer.hops() == 0);                        // made from an I/O thread, not from a handler
    CHECK_THAT(r.body, Contains("\"value\":\"42\"")); // int64 as a string, proto field names
  }
  SECTION("service_unavailable is 503") {
    auto r = client.request("GET", "/missing");
    REQUIRE(r.status == 503);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "service_unavailable");
    CHECK_THAT(string_field(body, "message"), Contains("ghost"));
    CHECK_FALSE(has_field(body, "field"));
  }
  SECTION("service_down is 503 when the handler stops its own actor") {
    auto r = client.request("GET", "/doomed");
    REQUIRE(r.status == 503);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "service_down");
    CHECK_THAT(string_field(body, "message"), Contains("doomed"));
  }
  SECTION("service_down is 503 when the service is stopped while the call is in flight") {
    client.send("GET", "/hang?text=in-flight");
    REQUIRE(the_probe().wait_for("echo.hang", 2000ms));
    microlith::signal_exit(gw.echo_instance, caf::exit_reason::user_shutdown);
    auto r = client.read_reply();
    REQUIRE(r.status == 503);
    CHECK(string_field(error_of(r), "error") == "service_down");
  }
  SECTION("bad_request from binding is 400 naming the field") {
    auto r = client.request("GET", "/echo/x?value=lots");
    REQUIRE(r.status == 400);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "bad_request");
    CHECK(string_field(body, "field") == "value");
    CHECK_THAT(string_field(body, "message"), Contains("lots"));
  }
  SECTION("no_such_method is 404 when the service does not serve a method of its contract") {
    auto r = client.request("GET", "/partial/ada");
    REQUIRE(r.status == 404);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "no_such_method");
    CHECK_THAT(string_field(body, "message"), Contains("Echo"));
  }
  SECTION("remote_error is 500 with the handler's message") {
    auto r = client.request("GET", "/fail/not%20today");
    REQUIRE(r.status == 500);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "remote_error");
    CHECK_THAT(string_field(body, "message"), Contains("refused: not today"));
  }
  SECTION("an unknown route is 404") {
    auto r = client.request("GET", "/nowhere/at/all");
    REQUIRE(r.status == 404);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "no_route");
    CHECK_THAT(string_field(body, "message"), Contains("/nowhere/at/all"));
  }
  SECTION("a wrong verb is 405 with Allow") {
    auto r = client.request("DELETE", "/echo");
    REQUIRE(r.status == 405);
    CHECK(r.header("Allow") == "POST");
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "method_not_allowed");
    auto again = client.request("PUT", "/bind/ada");
    REQUIRE(again.status == 405);
    CHECK_THAT(again.header("Allow"), Contains("GET") && Contains("POST"));
  }
  SECTION("errors leave a keep-alive connection usable") {
    CHECK(client.request("GET", "/nowhere").status == 404);
    CHECK(client.request("GET", "/fail/x").status == 500);
    CHECK(client.request("GET", "/echo/x?value=lots").status == 400);
    CHECK(client.request("GET", "/echo/still-here").status == 200);
  }
}

TEST_CASE("a route's status answers its successful calls and only those", "[unit]") {
  gateway_fixture gw;
  auto routes = standard_routes();
  routes.push_back(route("POST /accepted/{text}", "echo.Ping 202"));
  routes.push_back(route("POST /created/{text}", "echo.Ping 201"));
  routes.push_back(route("GET /refused/{text}", "echo.Fail 202"));
  gw.routes->install(must_build(gw.node, routes));
  http_connection client{gw.port()};

  auto accepted = client.request("POST", "/accepted/later");
  REQUIRE(accepted.status == 202);
  CHECK(accepted.header("Content-Type") == "application/json");
  CHECK(parse_ping_reply(accepted.body).text() == "later");
  CHECK(client.request("POST", "/created/new").status == 201);
  CHECK(client.request("GET", "/echo/plain").status == 200); // a route without a status
  auto refused = client.request("GET", "/refused/no");       // an error keeps its own status
  REQUIRE(refused.status == 500);
  CHECK(string_field(error_of(refused), "error") == "remote_error");
  auto bad = client.request("POST", "/accepted/x?value=lots"); // and so does a binding error
  CHECK(bad.status == 400);
}

TEST_CASE("a call that does not answer in time is 504", "[unit]") {
  auto options = test_options();
  options.request_timeout = 300ms;
  gateway_fixture gw{options};
  http_connection client{gw.port()};
  auto start = steady::now();
  auto r = client.request("GET", "/hang"); // Hang never answers: only the deadline ends it
  auto took = millis_since(start);
  REQUIRE(r.status == 504);
  auto body = error_of(r);
  CHECK(string_field(body, "error") == "timeout");
  // Not before request_timeout from the first byte (the client's clock starts earlier), less
  // the millisecond the call's timeout is rounded down to.
  CHECK(took >= 299);
  SECTION("and the connection serves the next request") {
    CHECK(client.request("GET", "/echo/next").status == 200);
  }
}

TEST_CASE("the deadline of a call counts from the request's first byte", "[unit]") {
  // A request trickled over 2.4 s with a request_timeout of 3 s leaves its call 0.6 s: the 504
  // comes about 0.6 s after the last byte, where a deadline counted from the end of reading
  // would bring it 3 s after. The bound between the two leaves 1.8 s for a loaded machine's
  // late timers; the trickle leaves 0.6 s of slack before request_timeout cuts the read.
  auto options = test_options();
  options.request_timeout = 3000ms;
  options.idle_timeout = 30000ms;
  gateway_fixture gw{options};
  http_connection client{gw.port()};
  auto start = steady::now();
  REQUIRE_FALSE(client.write_raw("GET /hang HTTP/1.1\r\n"));
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(300ms); // the client is slow on purpose
    REQUIRE_FALSE(client.write_raw("X-Slow: " + std::to_string(i) + "\r\n"));
  }
  REQUIRE_FALSE(client.write_raw("Host: 127.0.0.1\r\n\r\n"));
  auto last_byte = steady::now();
  auto r = client.read_reply(10000ms);
  REQUIRE(r.status == 504);
  CHECK(millis_since(start) >= 2999);    // not before request_timeout from the first byte
  CHECK(millis_since(last_byte) < 2400); // not a whole request_timeout after the last byte
}

TEST_CASE("parameters bind from the path, the query and the body", "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};

  SECTION("path") {
    auto r = client.request("GET", "/bind/ada%20lovelace");
    REQUIRE(r.status == 200);
    CHECK(parse_bind_request(r.body).name() == "ada lovelace");
  }
  SECTION("query, every scalar kind") {
    auto r = client.request("GET", "/bind/ada?amount=-5&big=9000000000&flag=true&color=GREEN"
                                   "&price=2.5&small_count=7&data=raw+text");
    REQUIRE(r.status == 200);
    auto bound = parse_bind_request(r.body);
    CHECK(bound.name() == "ada");
    CHECK(bound.amount() == -5);
    CHECK(bound.big() == 9000000000LL);
    CHECK(bound.flag());
    CHECK(bound.color() == tpb::GREEN);
    CHECK(bound.price() == 2.5);
    CHECK(bound.small_count() == 7);
    CHECK(bound.data() == "raw text");
  }
  SECTION("body") {
    auto r = client.request("POST", "/bind", R"({"name": "bob", "amount": 7, "tags": ["a"]})");
    REQUIRE(r.status == 200);
    auto bound = parse_bind_request(r.body);
    CHECK(bound.name() == "bob");
    CHECK(bound.amount() == 7);
    REQUIRE(bound.tags_size() == 1);
    CHECK(bound.tags(0) == "a");
  }
  SECTION("a request arriving in pieces: the head, then the body, then the next request") {
    std::string body = R"({"name": "late", "amount": 3})";
    REQUIRE_FALSE(client.write_raw("POST /bind HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                   "application/json\r\nContent-Length: "
                                   + std::to_string(body.size()) + "\r\n"));
    std::this_thread::sleep_for(50ms);
    REQUIRE_FALSE(client.write_raw("\r\n" + body.substr(0, 5)));
    std::this_thread::sleep_for(50ms);
    REQUIRE_FALSE(client.write_raw(body.substr(5)));
    auto r = client.read_reply();
    REQUIRE(r.status == 200);
    CHECK(parse_bind_request(r.body).name() == "late");
    CHECK(parse_bind_request(r.body).amount() == 3);
    auto next = client.request("GET", "/bind/after");
    REQUIRE(next.status == 200);
    CHECK(parse_bind_request(next.body).name() == "after");
  }
  SECTION("precedence: path over query over body") {
    auto r = client.request("POST", "/bind/from-path?name=from-query&amount=3",
                            R"({"name": "from-body", "amount": 9, "price": 1.5})");
    REQUIRE(r.status == 200);
    auto bound = parse_bind_request(r.body);
    CHECK(bound.name() == "from-path");
    CHECK(bound.amount() == 3);
    CHECK(bound.price() == 1.5);
  }
  SECTION("a bad int is 400 naming the field") {
    auto r = client.request("GET", "/bind/ada?amount=twelve");
    REQUIRE(r.status == 400);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "bad_request");
    CHECK(string_field(body, "field") == "amount");
  }
  SECTION("an unknown query parameter is 400 naming it") {
    auto r = client.request("GET", "/bind/ada?nickname=x");
    REQUIRE(r.status == 400);
    CHECK(string_field(error_of(r), "field") == "nickname");
  }
  SECTION("a body that is not JSON is 400") {
    auto r = client.request("POST", "/bind", "{not json");
    REQUIRE(r.status == 400);
    CHECK(string_field(error_of(r), "error") == "bad_request");
  }
  SECTION("a body of another content type is 400") {
    auto r = client.request("POST", "/bind", "name=x", {{"Content-Type", "text/plain"}});
    REQUIRE(r.status == 400);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "bad_request");
    CHECK(string_field(body, "field") == "Content-Type");
  }
  SECTION("a malformed escape in the path is 400 naming the parameter") {
    auto r = client.request("GET", "/bind/ada%2");
    REQUIRE(r.status == 400);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "bad_request");
    CHECK(string_field(body, "field") == "name");
  }
  SECTION("a control character in a path parameter is 400 naming the parameter") {
    auto r = client.request("GET", "/bind/acct01%00x");
    REQUIRE(r.status == 400);
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "bad_request");
    CHECK(string_field(body, "field") == "name");
    CHECK_THAT(string_field(body, "message"),
               Contains("path parameter \"name\"") && Contains("U+0000"));
  }
  SECTION("a control character in a query parameter is 400 naming the parameter") {
    auto r = client.request("GET", "/bind/ada?data=a%0Ab");
    REQUIRE(r.status == 400);
    auto body = error_of(r);
    CHECK(string_field(body, "field") == "data");
    CHECK_THAT(string_field(body, "message"),
               Contains("query parameter \"data\"") && Contains("U+000A"));
  }
  SECTION("a raw control character in a JSON string is 400 naming the field") {
    for (std::string raw : {std::string{"\x01"}, std::string{"\t"}, std::string(1, '\0')}) {
      auto r = client.request("POST", "/bind", "{\"name\": \"nul" + raw + "a\"}");
      REQUIRE(r.status == 400);
      auto body = error_of(r);
      CHECK(string_field(body, "error") == "bad_request");
      CHECK(string_field(body, "field") == "name");
      CHECK_THAT(string_field(body, "message"), Contains("RFC 8259"));
    }
  }
  SECTION("an escaped control character in a JSON string is bound byte for byte") {
    auto r = client.request("POST", "/bind", R"({"name": "nul\u0000a", "tags": ["\u001f"]})");
    REQUIRE(r.status == 200);
    auto bound = parse_bind_request(r.body);
    CHECK(bound.name() == std::string("nul\0a", 5));
    REQUIRE(bound.tags_size() == 1);
    CHECK(bound.tags(0) == "\x1f");
  }
}

TEST_CASE("X-Request-Id is echoed, carried into the call, or made", "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};

  SECTION("a valid id is echoed and the service sees it") {
    auto r = client.request("GET", "/echo/x", {}, {{"X-Request-Id", "req-42.a_b:C"}});
    REQUIRE(r.status == 200);
    CHECK(r.header("X-Request-Id") == "req-42.a_b:C");
    CHECK(parse_ping_reply(r.body).correlation_id() == "req-42.a_b:C");
  }
  SECTION("an id of 128 characters is accepted") {
    std::string id(128, 'z');
    auto r = client.request("GET", "/echo/x", {}, {{"X-Request-Id", id}});
    REQUIRE(r.status == 200);
    CHECK(parse_ping_reply(r.body).correlation_id() == id);
  }
  SECTION("an id is made when absent, the same in the header and the call") {
    auto r = client.request("GET", "/echo/x");
    REQUIRE(r.status == 200);
    auto id = r.header("X-Request-Id");
    CHECK(id.size() == 13);
    CHECK(parse_ping_reply(r.body).correlation_id() == id);
    auto next = client.request("GET", "/echo/x");
    CHECK(next.header("X-Request-Id") != id);
  }
  SECTION("an error body carries the id") {
    auto r = client.request("GET", "/nowhere", {}, {{"X-Request-Id", "trace-1"}});
    REQUIRE(r.status == 404);
    CHECK(string_field(error_of(r), "request_id") == "trace-1");
  }
  SECTION("an invalid id is 400") {
    auto too_long = client.request("GET", "/echo/x", {}, {{"X-Request-Id", std::string(129, 'a')}});
    REQUIRE(too_long.status == 400);
    auto body = error_of(too_long);
    CHECK(string_field(body, "field") == "X-Request-Id");
    CHECK(too_long.header("X-Request-Id").size() == 13); // a fresh id, not the refused one

    auto bad_chars = client.request("GET", "/echo/x", {}, {{"X-Request-Id", "a/b"}});
    REQUIRE(bad_chars.status == 400);
    CHECK(string_field(error_of(bad_chars), "field") == "X-Request-Id");

    auto space = client.request("GET", "/echo/x", {}, {{"X-Request-Id", "a b"}});
    CHECK(space.status == 400);
  }
}

TEST_CASE("a request without a valid Host is 400 before it is routed", "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};
  // Sends `head` (a request line and headers, without the blank line) and reads the answer.
  auto raw = [&](const std::string& head) {
    REQUIRE_FALSE(client.write_raw(head + "\r\n"));
    return client.read_reply();
  };

  SECTION("an HTTP/1.1 request without Host, even a health check") {
    for (std::string target : {"/echo/x", "/healthz", "/nowhere"}) {
      auto r = raw("GET " + target + " HTTP/1.1\r\nX-Request-Id: no-host-1\r\n");
      REQUIRE(r.status == 400);
      auto body = error_of(r);
      CHECK(string_field(body, "error") == "bad_request");
      CHECK(string_field(body, "field") == "Host");
      CHECK(string_field(body, "request_id") == "no-host-1");
      CHECK_THAT(string_field(body, "message"), Contains("RFC 9112"));
    }
    // The answer kept the connection, which serves a request that carries Host.
    CHECK(client.request("GET", "/echo/after").status == 200);
  }
  SECTION("two Host headers") {
    auto r = raw("GET /echo/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n");
    REQUIRE(r.status == 400);
    auto body = error_of(r);
    CHECK(string_field(body, "field") == "Host");
    CHECK_THAT(string_field(body, "message"), Contains("got 2"));
  }
  SECTION("a Host that is not host[:port]") {
    for (std::string bad : {"a b", "host:80x", "[::1", "[::1]x", "a/b", "@x"}) {
      INFO(bad);
      auto r = raw("GET /echo/x HTTP/1.1\r\nHost: " + bad + "\r\n");
      REQUIRE(r.status == 400);
      CHECK(string_field(error_of(r), "field") == "Host");
    }
  }
  SECTION("names, addresses and ports are served, and so is an empty Host") {
    for (std::string good :
         {"example.com", "example.com:8080", "127.0.0.1:1", "[::1]:80", "[::1]", "x", ""}) {
      INFO(good);
      auto r = raw("GET /echo/x HTTP/1.1\r\nHost: " + good + "\r\n");
      CHECK(r.status == 200);
    }
  }
  SECTION("HTTP/1.0 does not require Host") {
    auto r = raw("GET /echo/old HTTP/1.0\r\n");
    REQUIRE(r.status == 200);
    CHECK(parse_ping_reply(r.body).text() == "old");
  }
}

TEST_CASE("Idempotency-Key is carried into the call, quoted or bare, and checked", "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};

  SECTION("the bare form reaches the service") {
    auto r = client.request("GET", "/echo/x", {}, {{"Idempotency-Key", "8e03978e-40d5-43e8"}});
    REQUIRE(r.status == 200);
    CHECK(parse_ping_reply(r.body).idempotency_key() == "8e03978e-40d5-43e8");
  }
  SECTION("the quoted form (a Structured Field string) reaches the service unquoted") {
    auto r =
      client.request("GET", "/echo/x", {}, {{"Idempotency-Key", R"("8e03978e-40d5 \"b\" \\ c")"}});
    REQUIRE(r.status == 200);
    CHECK(parse_ping_reply(r.body).idempotency_key() == R"(8e03978e-40d5 "b" \ c)");
  }
  SECTION("no header, no key") {
    auto r = client.request("GET", "/echo/x");
    REQUIRE(r.status == 200);
    CHECK(parse_ping_reply(r.body).idempotency_key().empty());
  }
  SECTION("a malformed key is 400 naming the header; the longest allowed key passes") {
    for (std::string bad :
         {std::string("\"unterminated"), std::string("a b"), std::string("\"\""),
          std::string(256, 'k'), std::string("\"a\"b"), std::string("caf\xc3\xa9")}) {
      INFO(bad);
      auto r = client.request("GET", "/echo/x", {}, {{"Idempotency-Key", bad}});
      REQUIRE(r.status == 400);
      auto body = error_of(r);
      CHECK(string_field(body, "error") == "bad_request");
      CHECK(string_field(body, "field") == "Idempotency-Key");
      CHECK_THAT(string_field(body, "message"), Catch::Contains("Idempotency-Key: "));
    }
    auto longest =
      client.request("GET", "/echo/x", {}, {{"Idempotency-Key", std::string(255, 'k')}});
    CHECK(longest.status == 200);
  }
  SECTION("two keys in one request are 400") {
    auto r = client.request("GET", "/echo/x", {},
                            {{"Idempotency-Key", "one"}, {"Idempotency-Key", "two"}});
    REQUIRE(r.status == 400);
    CHECK(string_field(error_of(r), "field") == "Idempotency-Key");
  }
}

TEST_CASE("health endpoints answer liveness and readiness", "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};

  SECTION("/healthz is 200") {
    auto r = client.request("GET", "/healthz");
    REQUIRE(r.status == 200);
    CHECK(string_field(parse_object(r.body), "status") == "live");
  }
  SECTION("/readyz follows the readiness check") {
    auto ready = client.request("GET", "/readyz");
    CHECK(ready.status == 200);
    CHECK(string_field(parse_object(ready.body), "status") == "ready");
    gw.set_ready(false);
    auto not_ready = client.request("GET", "/readyz");
    CHECK(not_ready.status == 503);
    CHECK(string_field(parse_object(not_ready.body), "status") == "not ready");
    gw.set_ready(true);
    CHECK(client.request("GET", "/readyz").status == 200);
  }
  SECTION("a 503 from /readyz says what does not run and why") {
    gw::readiness_report report;
    report.ready = false;
    report.message = "permanent group ledger runs on no reachable node (placed on ledger: "
                     "not joined); \"quoted\"";
    report.not_running = {"ledger", "accounts"};
    gw.set_readiness(report);
    auto not_ready = client.request("GET", "/readyz");
    REQUIRE(not_ready.status == 503);
    auto body = parse_object(not_ready.body);
    CHECK(string_field(body, "status") == "not ready");
    CHECK(string_field(body, "message") == report.message);
    const auto& listed = body.fields().at("not_running").list_value();
    REQUIRE(listed.values_size() == 2);
    CHECK(listed.values(0).string_value() == "ledger");
    CHECK(listed.values(1).string_value() == "accounts");
    auto head = client.request("HEAD", "/readyz");
    CHECK(head.status == 503);
    CHECK(head.body.empty());
    gw.set_ready(true);
    CHECK(client.request("GET", "/readyz").status == 200);
  }
  SECTION("HEAD answers without a body and keeps the connection in step") {
    auto head = client.request("HEAD", "/healthz");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
    CHECK(head.header("Content-Length") != "0");
    auto next = client.request("GET", "/healthz");
    CHECK(next.status == 200);
    CHECK(string_field(parse_object(next.body), "status") == "live");
  }
  SECTION("other verbs are not health checks") {
    CHECK(client.request("POST", "/healthz").status == 404);
  }
}

TEST_CASE("limits on requests and connections", "[unit]") {
  auto options = test_options();
  options.max_header_bytes = 1024;
  options.max_body_bytes = 1024;
  options.max_connections = 2;

  SECTION("a header over max_header_bytes is 431 and the connection closes") {
    gateway_fixture gw{options};
    http_connection client{gw.port()};
    CHECK(client.request("GET", "/echo/fits", {}, {{"X-Big", std::string(512, 'a')}}).status
          == 200);
    REQUIRE_FALSE(client.write_raw(request_with_header_of(4000)));
    auto r = client.read_reply();
    REQUIRE(r.status == 431);
    CHECK_FALSE(r.keep_alive);
    CHECK(string_field(error_of(r), "error") == "bad_request");
    CHECK(client.closed_within(2000ms));
  }
  SECTION("a body over max_body_bytes is 413 and the connection closes") {
    gateway_fixture gw{options};
    http_connection client{gw.port()};
    CHECK(client.request("POST", "/bind", R"({"name": ")" + std::string(900, 'n') + "\"}").status
          == 200);
    auto body = R"({"name": ")" + std::string(4000, 'n') + "\"}";
    client.send("POST", "/bind", body);
    auto r = client.read_reply();
    REQUIRE(r.status == 413);
    CHECK_FALSE(r.keep_alive);
    CHECK_THAT(string_field(error_of(r), "message"), Contains("1024"));
    CHECK(client.closed_within(2000ms));
  }
  SECTION("a connection over max_connections is 503 and closed") {
    gateway_fixture gw{options};
    http_connection first{gw.port()};
    http_connection second{gw.port()};
    REQUIRE(first.request("GET", "/healthz").status == 200);
    REQUIRE(second.request("GET", "/healthz").status == 200);
    http_connection third{gw.port()};
    (void)third.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); // answered or not
    auto r = third.read_reply();
    REQUIRE(r.status == 503);
    CHECK(string_field(error_of(r), "error") == "service_unavailable");
    CHECK(third.closed_within(2000ms));
    CHECK(gw.stats().connections_refused == 1);
    CHECK(gw.stats().connections_accepted == 2);

    // A place is free again once a connection has gone.
    REQUIRE_FALSE(first.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    CHECK(first.read_reply().status == 200);
    REQUIRE(first.closed_within(2000ms));
    REQUIRE(gateway_fixture::eventually([&] { return gw.stats().open_connections == 1; }));
    http_connection fourth{gw.port()};
    CHECK(fourth.request("GET", "/healthz").status == 200);
  }
  SECTION("a malformed request is 400 and the connection closes") {
    gateway_fixture gw{options};
    http_connection client{gw.port()};
    REQUIRE_FALSE(client.write_raw("this is not HTTP\r\n\r\n"));
    auto r = client.read_reply();
    CHECK(r.status == 400);
    CHECK(client.closed_within(2000ms));
  }
}

TEST_CASE("timeouts close idle and slow connections", "[unit]") {
  // Each section bounds the wait for the close generously (10 s, for a loaded machine) and
  // sets every other timer of the gateway far beyond that bound, so the close it sees can only
  // come from the timer it names; a lower bound shows that timer was not cut short.
  auto options = test_options();

  SECTION("a keep-alive connection idle for idle_timeout is closed") {
    options.idle_timeout = 200ms;
    options.request_timeout = 60000ms;
    gateway_fixture gw{options};
    http_connection client{gw.port()};
    REQUIRE(client.request("GET", "/healthz").status == 200);
    auto start = steady::now();
    REQUIRE(client.closed_within(10000ms));
    // The server's idle timer starts once the answer is written, a little before the client
    // has read it.
    CHECK(millis_since(start) >= 150);
    CHECK(gateway_fixture::eventually([&] { return gw.stats().open_connections == 0; }));
  }
  SECTION("a connection that never sends a request is closed after idle_timeout") {
    options.idle_timeout = 200ms;
    options.request_timeout = 60000ms;
    gateway_fixture gw{options};
    http_connection client{gw.port()};
    auto start = steady::now();
    REQUIRE(client.closed_within(10000ms));
    CHECK(millis_since(start) >= 150); // the server may accept before the client's clock starts
  }
  SECTION("a client trickling a request is cut off after request_timeout") {
    options.request_timeout = 300ms;
    options.idle_timeout = 60000ms;
    gateway_fixture gw{options};
    http_connection client{gw.port()};
    auto start = steady::now();
    REQUIRE_FALSE(client.write_raw("GET /echo/slow HTTP/1.1\r\n"));
    bool closed = false;
    for (int i = 0; !closed && millis_since(start) < 10000; ++i) {
      // Each header line is followed by a 50 ms wait for the server closing the connection.
      if (client.write_raw("X-Slow-" + std::to_string(i) + ": x\r\n"))
        closed = true;
      else
        closed = client.closed_within(50ms);
    }
    REQUIRE(closed);
    CHECK(millis_since(start) >= 300); // request_timeout from the first byte
  }
  SECTION("a client that does not read its answers is cut off after request_timeout") {
    options.request_timeout = 1000ms;
    options.idle_timeout = 60000ms;
    gateway_fixture gw{options};
    http_connection client{gw.port(), 4096};
    // Pipelined answers of ~500 KB each fill the socket buffers; the server's write stalls.
    auto body = R"({"name": ")" + std::string(500 * 1024, 'n') + "\"}";
    std::string request = "POST /bind HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: "
                          + std::to_string(body.size()) + "\r\n\r\n" + body;
    auto start = steady::now();
    bool write_failed = false;
    for (int i = 0; i < 16 && !write_failed; ++i)
      write_failed = static_cast<bool>(client.write_raw(request, 500ms));
    // From here the server answers what it has read, stalls writing to the client that does
    // not read, and cuts it off request_timeout after its last write began.
    REQUIRE(gateway_fixture::eventually([&] { return gw.stats().open_connections == 0; }, 10000ms));
    // Every timer that could close the connection started after the first request's first
    // byte, and the only one shorter than idle_timeout is request_timeout.
    CHECK(millis_since(start) >= 1000);
  }
}

TEST_CASE("keep-alive serves many requests on one connection", "[unit]") {
  gateway_fixture gw;

  SECTION("many requests, one connection") {
    http_connection client{gw.port()};
    for (int i = 0; i < 50; ++i) {
      auto r = client.request("GET", "/echo/n" + std::to_string(i));
      REQUIRE(r.status == 200);
      CHECK(r.keep_alive);
      CHECK(parse_ping_reply(r.body).text() == "n" + std::to_string(i));
    }
    CHECK(gw.stats().connections_accepted == 1);
    CHECK(gw.stats().requests == 50);
  }
  SECTION("pipelined requests are answered in order") {
    http_connection client{gw.port()};
    std::string burst;
    for (int i = 0; i < 5; ++i)
      burst += "GET /echo/p" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE_FALSE(client.write_raw(burst));
    for (int i = 0; i < 5; ++i) {
      auto r = client.read_reply();
      REQUIRE(r.status == 200);
      CHECK(parse_ping_reply(r.body).text() == "p" + std::to_string(i));
    }
  }
  SECTION("Connection: close is honoured") {
    http_connection client{gw.port()};
    auto r = client.request("GET", "/echo/last", {}, {{"Connection", "close"}});
    REQUIRE(r.status == 200);
    CHECK_FALSE(r.keep_alive);
    CHECK(r.header("Connection") == "close");
    CHECK(client.closed_within(2000ms));
  }
  SECTION("HTTP/1.0 without keep-alive is closed after the answer") {
    http_connection client{gw.port()};
    auto r = client.request("GET", "/echo/old", {}, {}, 10);
    REQUIRE(r.status == 200);
    CHECK_FALSE(r.keep_alive);
    CHECK(client.closed_within(2000ms));
  }
  SECTION("the WebSocket path without an upgrade is 400") {
    http_connection client{gw.port()};
    auto r = client.request("GET", "/ws");
    REQUIRE(r.status == 400);
    CHECK(string_field(error_of(r), "error") == "bad_request");
  }
}

TEST_CASE("the admin endpoint answers loopback clients only", "[unit]") {
  auto reloads = std::make_shared<std::atomic<int>>(0);
  auto outcome = std::make_shared<caf::error>();

  SECTION("which addresses count as loopback") {
    auto loopback = [](const char* text) {
      return gw::is_loopback_client(boost::asio::ip::make_address(text));
    };
    CHECK(loopback("127.0.0.1"));
    CHECK(loopback("127.0.0.2"));
    CHECK(loopback("127.255.255.254"));
    CHECK(loopback("::1"));
    CHECK(loopback("::ffff:127.0.0.1")); // 127.0.0.1 as a listener on "::" sees it
    CHECK_FALSE(loopback("192.0.2.2"));
    CHECK_FALSE(loopback("10.0.0.1"));
    CHECK_FALSE(loopback("0.0.0.0"));
    CHECK_FALSE(loopback("::"));
    CHECK_FALSE(loopback("fd00::2"));
    CHECK_FALSE(loopback("::ffff:192.0.2.2"));
  }
  SECTION("a loopback client reloads with POST") {
    gateway_fixture gw{admin_options(reloads, outcome)};
    http_connection client{gw.port()};
    auto r = client.request("POST", "/_microlith/reload", {}, bearing(admin_token));
    REQUIRE(r.status == 200);
    CHECK(reloads->load() == 1);
    auto body = parse_object(r.body);
    CHECK(body.fields().at("reloaded").bool_value());
    CHECK(body.fields().at("generation").number_value() == gw.server().routes().generation());

    auto get = client.request("GET", "/_microlith/reload");
    CHECK(get.status == 405);
    CHECK(get.header("Allow") == "POST");

    *outcome = microlith::make_error(microlith::errc::bad_request, "routes: no good");
    auto refused = client.request("POST", "/_microlith/reload", {}, bearing(admin_token));
    CHECK(refused.status == 400);
    CHECK_THAT(string_field(error_of(refused), "message"), Contains("routes: no good"));
    CHECK(reloads->load() == 2);
  }
  SECTION("a client on another address of this machine gets 403") {
    auto address = non_loopback_address();
    if (!address) {
      // Only the address check above covers the decision then.
      WARN("this machine has no address but loopback: the 403 over a real socket is not tested");
      return;
    }
    auto options = admin_options(reloads, outcome);
    options.host = address->to_string();
    gateway_fixture gw{options};
    http_connection client{*address, gw.port()};
    INFO("client and gateway on " << address->to_string());
    auto r = client.request("POST", "/_microlith/reload", {}, bearing(admin_token)); // even so
    REQUIRE(r.status == 403);
    CHECK(string_field(error_of(r), "error") == "forbidden");
    CHECK(reloads->load() == 0); // the reload runs before the answer, when it runs
    CHECK(client.request("GET", "/healthz").status == 200); // only the admin endpoint refuses
  }
}

TEST_CASE("the admin endpoint requires the admin token", "[unit]") {
  auto reloads = std::make_shared<std::atomic<int>>(0);
  auto outcome = std::make_shared<caf::error>();
  test_support::log_capture lines;
  gateway_fixture gw{admin_options(reloads, outcome)};
  http_connection client{gw.port()};

  SECTION("no Authorization header: 401 with WWW-Authenticate, no reload") {
    auto r = client.request("POST", "/_microlith/reload");
    REQUIRE(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == "Bearer realm=\"microlith\"");
    auto body = error_of(r);
    CHECK(string_field(body, "error") == "unauthenticated");
    CHECK_THAT(string_field(body, "message"), Contains("Authorization: Bearer"));
    CHECK_THAT(string_field(body, "message"), Contains("MICROLITH_ADMIN_TOKEN"));
    CHECK(reloads->load() == 0);
    CHECK(r.keep_alive); // the connection serves on
    CHECK(client.request("GET", "/healthz").status == 200);
    CHECK_THAT(lines.text(), Contains("admin request from 127.0.0.1 refused: 401 unauthenticated"));
  }
  SECTION("a malformed Authorization header: 401") {
    for (const auto* value : {"Basic dXNlcjpwYXNz", "Bearer", "Bearer two words", "token"}) {
      INFO(value);
      auto r = client.request("POST", "/_microlith/reload", {}, {{"Authorization", value}});
      CHECK(r.status == 401);
      CHECK(r.header("WWW-Authenticate") == "Bearer realm=\"microlith\"");
    }
    CHECK(reloads->load() == 0);
  }
  SECTION("another token: 403 permission_denied, no reload, the token never logged") {
    auto r = client.request("POST", "/_microlith/reload", {}, bearing(admin_token + "x"));
    REQUIRE(r.status == 403);
    CHECK(string_field(error_of(r), "error") == "permission_denied");
    CHECK(r.header("WWW-Authenticate").empty());
    auto prefix = client.request("POST", "/_microlith/reload", {},
                                 bearing(admin_token.substr(0, admin_token.size() - 1)));
    CHECK(prefix.status == 403);
    CHECK(reloads->load() == 0);
    auto log = lines.text();
    CHECK_THAT(log, Contains("admin request from 127.0.0.1 refused: 403 permission_denied"));
    CHECK(log.find(admin_token.substr(0, 8)) == std::string::npos);
  }
  SECTION("the admin token: 200 and the reload runs") {
    auto r = client.request("POST", "/_microlith/reload", {}, bearing(admin_token));
    REQUIRE(r.status == 200);
    CHECK(reloads->load() == 1);
    CHECK(parse_object(r.body).fields().at("reloaded").bool_value());
    // The scheme's case does not matter (RFC 7235 section 2.1).
    CHECK(
      client.request("POST", "/_microlith/reload", {}, {{"Authorization", "bearer " + admin_token}})
        .status
      == 200);
    CHECK(reloads->load() == 2);
    CHECK(lines.text().find(admin_token) == std::string::npos);
  }
  SECTION("the 11th failure within 60 s gets 429 with Retry-After, the admin token too") {
    // Successes do not count: a client that knows the token is never limited by them.
    for (int i = 0; i < 12; ++i)
      REQUIRE(client.request("POST", "/_microlith/reload", {}, bearing(admin_token)).status == 200);
    for (int i = 0; i < 10; ++i) {
      auto r = i % 2 == 0 ? client.request("POST", "/_microlith/reload")
                          : client.request("POST", "/_microlith/reload", {}, bearing("wrong"));
      INFO("attempt " << i + 1);
      REQUIRE(r.status == (i % 2 == 0 ? 401u : 403u));
    }
    auto limited = client.request("POST", "/_microlith/reload", {}, bearing("wrong"));
    REQUIRE(limited.status == 429);
    CHECK(string_field(error_of(limited), "error") == "resource_exhausted");
    auto retry = limited.header("Retry-After");
    REQUIRE_FALSE(retry.empty());
    CHECK(std::stoi(retry) >= 1);
    CHECK(std::stoi(retry) <= 60);
    // While the address is refused, the right token is refused too (and reloads nothing): a
    // client guessing tokens must not learn from a 200 that one was right.
    auto right = client.request("POST", "/_microlith/reload", {}, bearing(admin_token));
    CHECK(right.status == 429);
    CHECK_FALSE(right.header("Retry-After").empty());
    CHECK(reloads->load() == 12);
    // Only the admin endpoint is refused.
    CHECK(client.request("GET", "/echo/still").status == 200);
    CHECK_THAT(lines.text(), Contains("the address is refused for a while"));
  }
}

TEST_CASE("a gateway with an admin endpoint and no admin token does not start", "[unit]") {
  gateway_fixture gw;
  auto options = test_options();
  options.admin_reload = [] { return caf::error{}; };
  auto started = gw::gateway_server::start(gw.node, options, nullptr, microlith::async_caller{});
  REQUIRE_FALSE(started);
  CHECK_THAT(microlith::message_of(started.error()), Contains("no admin token"));
}

TEST_CASE("Expect: 100-continue is answered before the body is read", "[unit]") {
  auto options = test_options();
  options.max_body_bytes = 1024;
  gateway_fixture gw{options};
  http_connection client{gw.port()};
  std::string body = R"({"name": "continued", "amount": 4})";
  auto head = [&](std::string_view verb_and_target, std::size_t length) {
    return std::string(verb_and_target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           + "Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: "
           + std::to_string(length) + "\r\n\r\n";
  };

  SECTION("a routable request within limits gets 100, then its answer") {
    REQUIRE_FALSE(client.write_raw(head("POST /bind", body.size())));
    auto interim = client.read_reply(); // sent before any byte of the body
    REQUIRE(interim.status == 100);
    REQUIRE_FALSE(client.write_raw(body));
    auto r = client.read_reply();
    REQUIRE(r.status == 200);
    CHECK(parse_bind_request(r.body).name() == "continued");
    CHECK(r.keep_alive);
    // The connection goes on; a request without the expectation gets no 100.
    auto next = client.request("GET", "/bind/after");
    REQUIRE(next.status == 200);
    CHECK(parse_bind_request(next.body).name() == "after");
  }
  SECTION("the expectation is a case-insensitive token") {
    auto raw = head("POST /bind", body.size());
    raw.replace(raw.find("100-continue"), 12, "100-Continue");
    REQUIRE_FALSE(client.write_raw(raw));
    REQUIRE(client.read_reply().status == 100);
    REQUIRE_FALSE(client.write_raw(body));
    CHECK(client.read_reply().status == 200);
  }
  SECTION("no route: 404 at once, the body unread, the connection closed") {
    REQUIRE_FALSE(client.write_raw(head("POST /nowhere", body.size())));
    auto r = client.read_reply();
    REQUIRE(r.status == 404);
    CHECK_FALSE(r.keep_alive);
    CHECK(client.closed_within(2000ms));
  }
  SECTION("a verb the path does not serve: 405 at once") {
    REQUIRE_FALSE(client.write_raw(head("PUT /bind", body.size())));
    auto r = client.read_reply();
    REQUIRE(r.status == 405);
    CHECK(r.header("Allow") == "POST");
    CHECK(client.closed_within(2000ms));
  }
  SECTION("an invalid X-Request-Id: 400 at once") {
    auto raw = head("POST /bind", body.size());
    raw.insert(raw.size() - 2, "X-Request-Id: a/b\r\n");
    REQUIRE_FALSE(client.write_raw(raw));
    auto r = client.read_reply();
    REQUIRE(r.status == 400);
    CHECK(string_field(error_of(r), "field") == "X-Request-Id");
    CHECK(client.closed_within(2000ms));
  }
  SECTION("a body over max_body_bytes: 413 at once") {
    REQUIRE_FALSE(client.write_raw(head("POST /bind", 4096)));
    auto r = client.read_reply();
    REQUIRE(r.status == 413);
    CHECK(client.closed_within(2000ms));
  }
  SECTION("HTTP/1.0 ignores the expectation") {
    // The head comes in one write behind a whole keep-alive request, so the gateway holds it,
    // without its body, once it has answered the first: the next status line the client reads
    // after sending the body would be a 100 if the gateway took up the expectation.
    auto raw = head("POST /bind", body.size());
    raw.replace(raw.find("HTTP/1.1"), 8, "HTTP/1.0");
    raw.insert(raw.size() - 2, "Connection: keep-alive\r\n");
    REQUIRE_FALSE(client.write_raw(
      "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n" + raw));
    REQUIRE(client.read_reply().status == 200);
    REQUIRE_FALSE(client.write_raw(body));
    auto r = client.read_reply();
    CHECK(r.status == 200); // the answer, not an interim 100
    CHECK(parse_bind_request(r.body).name() == "continued");
  }
}
