// The gateway's admin operations (net/include/microlith/net/gateway/admin_operation.hpp) over
// real sockets, with a fake operation standing in for the host's: the admin rules on the modules
// paths (loopback, 429, 401, 403, decided on the head, before a body is read), the larger body
// limit of an authenticated upload, answers from other threads, late answers after the client or
// the gateway went; and query_value.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/net/gateway/admin_operation.hpp>
#include <microlith/net/gateway/http_binding.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using namespace unit_net;
using Catch::Matchers::Contains;

namespace {

const std::string admin_token = "test-admin-token-0123456789";
constexpr const char* modules = "/_microlith/modules";

header_list bearing(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// A stand-in for the host's modules operation: records every request it gets; answers at once
/// with `answer` unless told to hold, in which case it keeps `done` for the test to call.
struct fake_operation {
  std::mutex mutex;
  std::vector<gw::admin_request> requests;      // requires mutex
  std::function<void(gw::admin_response)> held; // requires mutex
  bool hold = false;                            // requires mutex
  gw::admin_response answer{200, R"({"modules":[]})"};

  void set_hold(bool on) {
    std::lock_guard<std::mutex> guard{mutex};
    hold = on;
  }

  std::size_t calls() {
    std::lock_guard<std::mutex> guard{mutex};
    return requests.size();
  }
  gw::admin_request last() {
    std::lock_guard<std::mutex> guard{mutex};
    return requests.back();
  }
  std::function<void(gw::admin_response)> take_done() {
    std::lock_guard<std::mutex> guard{mutex};
    return std::move(held);
  }
};

gw::gateway_options admin_options(const std::shared_ptr<fake_operation>& fake) {
  auto options = test_options();
  options.admin_token = admin_token;
  options.max_body_bytes = 1024 * 1024;
  options.admin_max_body_bytes = 12 * 1024 * 1024;
  options.admin_operations[modules] = [fake](gw::admin_request request,
                                             std::function<void(gw::admin_response)> done) {
    std::unique_lock<std::mutex> guard{fake->mutex};
    fake->requests.push_back(std::move(request));
    if (fake->hold) {
      fake->held = std::move(done);
      return;
    }
    auto answer = fake->answer;
    guard.unlock();
    done(std::move(answer));
  };
  return options;
}

/// A request head with Content-Length `length` and no body.
std::string head_of(std::string_view verb_and_target, std::size_t length,
                    const std::string& extra = {}) {
  return std::string(verb_and_target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         + "Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(length)
         + "\r\n" + extra + "\r\n";
}

/// `size` bytes of a pattern that is not periodic at any small length.
std::string archive_bytes(std::size_t size) {
  std::string out(size, '\0');
  std::uint32_t x = 2463534242u;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return out;
}

} // namespace

TEST_CASE("query_value decodes one parameter of a raw admin query", "[unit]") {
  auto prefix = gw::query_value("route_prefix=%2Fclients%2Facme&activate=true", "route_prefix");
  REQUIRE(prefix);
  REQUIRE(prefix->has_value());
  CHECK(**prefix == "/clients/acme");
  auto activate = gw::query_value("route_prefix=%2Fclients%2Facme&activate=true", "activate");
  REQUIRE(activate);
  CHECK(activate->value_or("") == "true");
  auto absent = gw::query_value("activate=true", "node");
  REQUIRE(absent);
  CHECK_FALSE(absent->has_value());
  auto empty = gw::query_value("", "node");
  REQUIRE(empty);
  CHECK_FALSE(empty->has_value());
  auto spaced = gw::query_value("node=a+b%20c", "node");
  REQUIRE(spaced);
  CHECK(spaced->value_or("") == "a b c");
  auto malformed = gw::query_value("route_prefix=%2G", "route_prefix");
  REQUIRE_FALSE(malformed);
  CHECK(gw::status_of(malformed.error()) == 400);
  CHECK_THAT(microlith::message_of(malformed.error()), Contains("route_prefix"));
  CHECK_THAT(microlith::message_of(malformed.error()), Contains("%2G"));
  auto truncated = gw::query_value("node=ab%2", "node");
  REQUIRE_FALSE(truncated);
  CHECK_THAT(microlith::message_of(truncated.error()), Contains("truncated"));
  auto twice = gw::query_value("node=a&node=b", "node");
  REQUIRE_FALSE(twice);
  CHECK_THAT(microlith::message_of(twice.error()), Contains("more than once"));
}

TEST_CASE("an admin path is its prefix or lies under it", "[unit]") {
  CHECK(gw::under_admin_prefix("/_microlith/modules", modules));
  CHECK(gw::under_admin_prefix("/_microlith/modules/acme.statements/activate", modules));
  CHECK_FALSE(gw::under_admin_prefix("/_microlith/modulesx", modules));
  CHECK_FALSE(gw::under_admin_prefix("/_microlith", modules));
  CHECK_FALSE(gw::under_admin_prefix("/_microlith/modules", ""));
}

TEST_CASE("admin operations answer loopback clients that bear the admin token", "[unit]") {
  auto fake = std::make_shared<fake_operation>();
  gateway_fixture gw{admin_options(fake)};
  http_connection client{gw.port()};

  SECTION("the admin token: the operation gets the request and its answer is the reply") {
    fake->answer = {201, R"({"installed":{"name":"acme.statements"}})"};
    auto r = client.request(
      "POST", "/_microlith/modules?route_prefix=%2Fclients%2Facme&activate=true", "archive",
      {{"Authorization", "Bearer " + admin_token},
       {"Content-Type", "application/octet-stream"},
       {"X-Request-Id", "install-1"}});
    REQUIRE(r.status == 201);
    CHECK(r.body == R"({"installed":{"name":"acme.statements"}})");
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.header("X-Request-Id") == "install-1");
    CHECK(r.keep_alive);
    REQUIRE(fake->calls() == 1);
    auto got = fake->last();
    CHECK(got.verb == "POST");
    CHECK(got.path == "/_microlith/modules");
    CHECK(got.query == "route_prefix=%2Fclients%2Facme&activate=true");
    CHECK(got.content_type == "application/octet-stream");
    CHECK(got.body == "archive");
    CHECK(got.request_id == "install-1");
    // Paths under the prefix, any verb.
    fake->answer = {200, R"({"removed":"acme.statements"})"};
    CHECK(client.request("DELETE", "/_microlith/modules/acme.statements", {}, bearing(admin_token))
            .status
          == 200);
    CHECK(fake->last().verb == "DELETE");
    CHECK(fake->last().path == "/_microlith/modules/acme.statements");
    CHECK(client
            .request("POST", "/_microlith/modules/acme.statements/activate?version=1.2.0", {},
                     bearing(admin_token))
            .status
          == 200);
    CHECK(fake->last().path == "/_microlith/modules/acme.statements/activate");
    CHECK(fake->last().query == "version=1.2.0");
    CHECK(client.request("GET", modules, {}, bearing(admin_token)).status == 200);
    CHECK(fake->last().verb == "GET");
    CHECK(fake->last().query.empty());
    CHECK(fake->calls() == 4);
    // A path that merely starts with the prefix's text is not an admin path.
    CHECK(client.request("GET", "/_microlith/modulesx", {}, bearing(admin_token)).status == 404);
    CHECK(fake->calls() == 4);
  }
  SECTION("no Authorization header: 401 with WWW-Authenticate; another token: 403") {
    auto r = client.request("GET", modules);
    REQUIRE(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == "Bearer realm=\"microlith\"");
    CHECK(string_field(parse_object(r.body), "error") == "unauthenticated");
    CHECK(string_field(parse_object(r.body), "request_id") == r.header("X-Request-Id"));
    auto wrong = client.request("DELETE", "/_microlith/modules/acme", {}, bearing("wrong-token"));
    REQUIRE(wrong.status == 403);
    CHECK(string_field(parse_object(wrong.body), "error") == "permission_denied");
    CHECK(fake->calls() == 0);
    CHECK(client.request("GET", "/healthz").status == 200); // the connection serves on
  }
  SECTION("the 11th failure within 60 s gets 429 with Retry-After, the admin token too") {
    for (int i = 0; i < 10; ++i)
      REQUIRE(client.request("GET", modules, {}, bearing("wrong")).status == 403);
    auto limited = client.request("GET", modules, {}, bearing(admin_token));
    REQUIRE(limited.status == 429);
    CHECK(string_field(parse_object(limited.body), "error") == "resource_exhausted");
    CHECK_FALSE(limited.header("Retry-After").empty());
    CHECK(fake->calls() == 0);
    CHECK(client.request("GET", "/echo/still").status == 200); // routes are not refused
  }
}

TEST_CASE("admin operations refuse clients on other addresses with 403", "[unit]") {
  auto address = non_loopback_address();
  if (!address) {
    WARN("this machine has no address but loopback: the 403 over a real socket is not tested");
    return;
  }
  auto fake = std::make_shared<fake_operation>();
  auto options = admin_options(fake);
  options.host = address->to_string();
  gateway_fixture gw{options};
  http_connection client{*address, gw.port()};
  INFO("client and gateway on " << address->to_string());
  auto r = client.request("DELETE", "/_microlith/modules/acme", {}, bearing(admin_token));
  REQUIRE(r.status == 403);
  CHECK(string_field(parse_object(r.body), "error") == "forbidden");
  // Refused on its head: a large upload is answered before its body is read.
  REQUIRE_FALSE(client.write_raw(head_of("POST /_microlith/modules", 8 * 1024 * 1024,
                                         "Authorization: Bearer " + admin_token + "\r\n")));
  CHECK(client.read_reply().status == 403);
  CHECK(fake->calls() == 0);
}

TEST_CASE("an authenticated admin upload may exceed max_body_bytes, up to admin_max_body_bytes",
          "[unit]") {
  auto fake = std::make_shared<fake_operation>();
  gateway_fixture gw{admin_options(fake)}; // max_body_bytes 1 MiB, admin_max_body_bytes 12 MiB
  http_connection client{gw.port()};

  SECTION("a 10 MiB archive reaches the operation intact") {
    auto archive = archive_bytes(10 * 1024 * 1024);
    auto r = client.request(
      "POST", "/_microlith/modules?activate=true", archive,
      {{"Authorization", "Bearer " + admin_token}, {"Content-Type", "application/octet-stream"}});
    REQUIRE(r.status == 200);
    REQUIRE(fake->calls() == 1);
    auto got = fake->last();
    CHECK(got.body.size() == archive.size());
    CHECK(got.body == archive);
    CHECK(r.keep_alive);
    CHECK(client.request("GET", "/healthz").status == 200);
  }
  SECTION("a 2 MiB body to a route is still 413") {
    REQUIRE_FALSE(client.write_raw(head_of("POST /echo", 2 * 1024 * 1024)));
    auto r = client.read_reply();
    REQUIRE(r.status == 413);
    CHECK_THAT(string_field(parse_object(r.body), "message"), Contains("1048576 bytes"));
    CHECK(client.closed_within(2000ms));
  }
  SECTION("an upload over admin_max_body_bytes is 413 before its body is read") {
    REQUIRE_FALSE(client.write_raw(head_of("POST /_microlith/modules", 13 * 1024 * 1024,
                                           "Authorization: Bearer " + admin_token + "\r\n")));
    auto r = client.read_reply();
    REQUIRE(r.status == 413);
    CHECK_THAT(string_field(parse_object(r.body), "message"), Contains("12582912 bytes"));
    CHECK(client.closed_within(2000ms));
    CHECK(fake->calls() == 0);
  }
  SECTION("a chunked upload is counted against admin_max_body_bytes as it comes") {
    auto chunk = archive_bytes(3 * 1024 * 1024);
    std::string raw = "POST /_microlith/modules HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: "
                      "Bearer "
                      + admin_token + "\r\nTransfer-Encoding: chunked\r\n\r\n";
    REQUIRE_FALSE(client.write_raw(raw));
    std::string chunk_head = "300000\r\n"; // 3 MiB in hex
    for (int i = 0; i < 2; ++i)
      REQUIRE_FALSE(client.write_raw(chunk_head + chunk + "\r\n"));
    REQUIRE_FALSE(client.write_raw("0\r\n\r\n"));
    auto r = client.read_reply();
    REQUIRE(r.status == 200);
    REQUIRE(fake->calls() == 1);
    CHECK(fake->last().body == chunk + chunk);
  }
}

TEST_CASE("a refused admin request is answered before its body is read", "[unit]") {
  auto fake = std::make_shared<fake_operation>();
  gateway_fixture gw{admin_options(fake)};
  http_connection client{gw.port()};
  // Only the head is sent: an answer proves the gateway did not wait for the 10 MiB.
  SECTION("no token: 401") {
    REQUIRE_FALSE(client.write_raw(head_of("POST /_microlith/modules", 10 * 1024 * 1024)));
    auto r = client.read_reply();
    REQUIRE(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == "Bearer realm=\"microlith\"");
    CHECK_FALSE(r.keep_alive);
    CHECK(client.closed_within(2000ms));
  }
  SECTION("another token: 403") {
    REQUIRE_FALSE(client.write_raw(head_of("POST /_microlith/modules", 10 * 1024 * 1024,
                                           "Authorization: Bearer wrong-token\r\n")));
    auto r = client.read_reply();
    REQUIRE(r.status == 403);
    CHECK(string_field(parse_object(r.body), "error") == "permission_denied");
    CHECK(client.closed_within(2000ms));
  }
  SECTION("a client refused for failing too often: 429") {
    for (int i = 0; i < 10; ++i)
      REQUIRE(client.request("GET", modules, {}, bearing("wrong")).status == 403);
    REQUIRE_FALSE(client.write_raw(head_of("POST /_microlith/modules", 10 * 1024 * 1024,
                                           "Authorization: Bearer " + admin_token + "\r\n")));
    auto r = client.read_reply();
    REQUIRE(r.status == 429);
    CHECK_FALSE(r.header("Retry-After").empty());
    CHECK(client.closed_within(2000ms));
  }
  SECTION("Expect: 100-continue with the admin token gets 100, without it the refusal") {
    REQUIRE_FALSE(client.write_raw(
      head_of("POST /_microlith/modules", 5,
              "Authorization: Bearer " + admin_token + "\r\nExpect: 100-continue\r\n")));
    REQUIRE(client.read_reply().status == 100);
    REQUIRE_FALSE(client.write_raw("bytes"));
    REQUIRE(client.read_reply().status == 200);
    CHECK(fake->last().body == "bytes");
    REQUIRE_FALSE(
      client.write_raw(head_of("POST /_microlith/modules", 5, "Expect: 100-continue\r\n")));
    CHECK(client.read_reply().status == 401);
  }
}

TEST_CASE("an admin operation may answer later, from another thread", "[unit]") {
  auto fake = std::make_shared<fake_operation>();
  fake->set_hold(true);
  gateway_fixture gw{admin_options(fake)};
  http_connection client{gw.port()};
  client.send("GET", modules, {}, bearing(admin_token));
  REQUIRE(gateway_fixture::eventually([&] { return fake->calls() == 1; }));
  auto done = fake->take_done();
  REQUIRE(done);
  // Nothing is answered while the operation runs; the gateway serves other connections.
  http_connection other{gw.port()};
  CHECK(other.request("GET", "/healthz").status == 200);
  std::thread worker{[done] {
    done(gw::admin_response{200, R"({"modules":[{"name":"acme.statements"}]})"});
  }};
  worker.join();
  auto r = client.read_reply();
  REQUIRE(r.status == 200);
  CHECK(r.body == R"({"modules":[{"name":"acme.statements"}]})");
  // A second answer to the same request is dropped: the connection serves its next request.
  done(gw::admin_response{500, "{}"});
  fake->set_hold(false);
  CHECK(client.request("GET", modules, {}, bearing(admin_token)).status == 200);
}

TEST_CASE("an admin answer after its client or its gateway went is dropped", "[unit]") {
  auto fake = std::make_shared<fake_operation>();
  fake->set_hold(true);
  std::function<void(gw::admin_response)> done;

  SECTION("the client disconnected") {
    gateway_fixture gw{admin_options(fake)};
    {
      http_connection client{gw.port()};
      client.send("POST", modules, "archive", bearing(admin_token));
      REQUIRE(gateway_fixture::eventually([&] { return fake->calls() == 1; }));
    } // the client goes before the answer
    done = fake->take_done();
    REQUIRE(done);
    std::thread worker{[done] { done(gw::admin_response{200, R"({"modules":[]})"}); }};
    worker.join();
    fake->set_hold(false);
    http_connection next{gw.port()};
    CHECK(next.request("GET", modules, {}, bearing(admin_token)).status == 200);
    CHECK(gateway_fixture::eventually([&] { return gw.stats().open_connections == 1; }));
  }
  SECTION("the gateway stopped") {
    {
      gateway_fixture gw{admin_options(fake)};
      http_connection client{gw.port()};
      client.send("POST", modules, "archive", bearing(admin_token));
      REQUIRE(gateway_fixture::eventually([&] { return fake->calls() == 1; }));
      done = fake->take_done();
    } // gateway and client gone, the operation still holds `done`
    REQUIRE(done);
    std::thread worker{[done] { done(gw::admin_response{200, R"({"modules":[]})"}); }};
    worker.join();
  }
  done = nullptr;
}

TEST_CASE("a gateway with admin operations and no admin token does not start", "[unit]") {
  gateway_fixture gw;
  auto options = test_options();
  options.admin_operations[modules] = [](gw::admin_request, auto done) {
    done(gw::admin_response{});
  };
  auto started = gw::gateway_server::start(gw.node, options, nullptr, microlith::async_caller{});
  REQUIRE_FALSE(started);
  CHECK_THAT(microlith::message_of(started.error()), Contains("no admin token"));
  options.admin_token = admin_token;
  options.admin_operations.clear();
  options.admin_operations["_microlith/modules/"] = [](gw::admin_request, auto done) {
    done(gw::admin_response{});
  };
  auto malformed = gw::gateway_server::start(gw.node, options, nullptr, microlith::async_caller{});
  REQUIRE_FALSE(malformed);
  CHECK_THAT(microlith::message_of(malformed.error()), Contains("_microlith/modules/"));
}
