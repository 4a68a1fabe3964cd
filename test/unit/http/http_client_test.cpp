// The HTTP client against local HTTP and HTTPS servers: answers of any status, keep-alive reuse
// and the pool's line, the deadline, truncated, oversized and reset responses, refused
// connections, certificates trusted through a CA file and refused without it, redirects.
#include "test_server.hpp"

#include "support/temp_folder.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/net/http/http_client.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <string>

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using http_test::answer;
using http_test::seen_request;
using http_test::test_server;
using microlith::errc;
namespace mh = microlith::http;

namespace {

/// Waits until `condition` holds, polling every few milliseconds, at most `limit`.
template <class F>
bool eventually(F condition, std::chrono::milliseconds limit = 5000ms) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// A port on 127.0.0.1 that nothing listens on (bound by the OS, then closed).
std::uint16_t closed_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  return a.local_endpoint().port();
}

answer echo_request(const seen_request& r) {
  auto a = answer::ok(r.method + " " + r.target + " " + r.body);
  a.headers.push_back({"X-Content-Type-Seen", r.header("content-type")});
  return a;
}

} // namespace

TEST_CASE("a GET answers the server's status headers and body", "[unit][http]") {
  test_server server{[](const seen_request& r) {
    auto a = answer::ok("hello from " + r.target);
    a.headers.push_back({"X-Served-By", "test"});
    return a;
  }};
  mh::http_client client;
  auto out = client.request_blocking(mh::http_request::get(server.url("/greeting?x=1")));
  REQUIRE_FALSE(out.error);
  CHECK(out.response.status == 200);
  CHECK(out.response.ok());
  CHECK(out.response.body == "hello from /greeting?x=1");
  REQUIRE(out.response.find_header("x-served-by") != nullptr);
  CHECK(*out.response.find_header("X-SERVED-BY") == "test");
  CHECK(out.response.url == server.url("/greeting?x=1"));
}

TEST_CASE("a POST sends its body and content type", "[unit][http]") {
  test_server server{echo_request};
  mh::http_client client;
  auto out = client.request_blocking(
    mh::http_request::post(server.url("/items"), R"({"name":"ada"})", "application/json"));
  REQUIRE_FALSE(out.error);
  CHECK(out.response.body == R"(POST /items {"name":"ada"})");
  CHECK(*out.response.find_header("x-content-type-seen") == "application/json");
}

TEST_CASE("a status that is not 2xx is a response and not an error", "[unit][http]") {
  test_server server{[](const seen_request&) {
    auto a = answer::ok(R"({"error":"no such rate"})");
    a.status = 404;
    return a;
  }};
  mh::http_client client;
  auto out = client.request_blocking(mh::http_request::get(server.url("/rates/xyz")));
  REQUIRE_FALSE(out.error);
  CHECK(out.response.status == 404);
  CHECK_FALSE(out.response.ok());
  CHECK(out.response.reason == "Not Found");
  CHECK(out.response.body == R"({"error":"no such rate"})");
}

TEST_CASE("requests to one origin reuse a keep-alive connection", "[unit][http]") {
  test_server server{echo_request};
  mh::http_client client;
  for (int i = 0; i < 3; ++i) {
    auto out = client.request_blocking(mh::http_request::get(server.url("/n")));
    REQUIRE_FALSE(out.error);
  }
  CHECK(server.requests() == 3);
  CHECK(server.connections() == 1);
  CHECK(client.stats().connections_opened == 1);
}

TEST_CASE("a response that closes its connection is not followed by a reuse", "[unit][http]") {
  test_server server{[](const seen_request&) {
    auto a = answer::ok("bye");
    a.keep_alive = false;
    return a;
  }};
  mh::http_client client;
  REQUIRE_FALSE(client.request_blocking(mh::http_request::get(server.url("/a"))).error);
  REQUIRE_FALSE(client.request_blocking(mh::http_request::get(server.url("/b"))).error);
  CHECK(server.connections() == 2);
}

TEST_CASE("a GET on a kept connection the server closed is sent again on a new one",
          "[unit][http]") {
  test_server server{[](const seen_request&) {
    auto a = answer::ok("once");
    a.close_after = true; // announces keep-alive, closes anyway
    return a;
  }};
  mh::http_client client;
  REQUIRE_FALSE(client.request_blocking(mh::http_request::get(server.url("/a"))).error);
  auto second = client.request_blocking(mh::http_request::get(server.url("/b")));
  REQUIRE_FALSE(second.error);
  CHECK(second.response.body == "once");
  CHECK(server.connections() == 2);
}

TEST_CASE("with one connection per host a second request waits for the first to finish",
          "[unit][http]") {
  test_server server{[](const seen_request& r) {
    auto a = answer::ok(r.target);
    if (r.target == "/slow")
      a.how = answer::kind::hold;
    return a;
  }};
  mh::http_client_options options;
  options.max_connections_per_host = 1;
  mh::http_client client{options};
  auto first = std::async(std::launch::async, [&] {
    return client.request_blocking(mh::http_request::get(server.url("/slow")));
  });
  REQUIRE(eventually([&] { return server.held() == 1; }));
  auto second = std::async(std::launch::async, [&] {
    return client.request_blocking(mh::http_request::get(server.url("/quick")));
  });
  server.release();
  auto a = first.get();
  auto b = second.get();
  REQUIRE_FALSE(a.error);
  REQUIRE_FALSE(b.error);
  CHECK(a.response.body == "/slow");
  CHECK(b.response.body == "/quick");
  // With a second connection allowed, /quick would have had one of its own.
  CHECK(server.connections() == 1);
}

TEST_CASE("a server that does not answer fails the request with timeout at its deadline",
          "[unit][http]") {
  test_server server{[](const seen_request&) { return answer::with(answer::kind::hang); }};
  mh::http_client client;
  auto request = mh::http_request::get(server.url("/never"));
  request.timeout = 300ms;
  auto out = client.request_blocking(request);
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::timeout));
  CHECK(microlith::message_of(out.error)
        == "GET " + server.url("/never") + " did not complete within 300 ms");
}

TEST_CASE("a body cut short by the server is service_unavailable", "[unit][http]") {
  test_server server{[](const seen_request&) {
    auto a = answer::with(answer::kind::truncate);
    a.declared = 100;
    a.body = "only ten b";
    return a;
  }};
  mh::http_client client;
  auto out = client.request_blocking(mh::http_request::get(server.url("/cut")));
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::service_unavailable));
  CHECK_THAT(microlith::message_of(out.error),
             Contains("the connection closed before the whole response arrived"));
}

TEST_CASE("a body over the limit is resource_exhausted", "[unit][http]") {
  test_server server{[](const seen_request&) {
    auto a = answer::with(answer::kind::oversize);
    a.declared = 20000;
    a.body = std::string(1000, 'x');
    return a;
  }};

  SECTION("the client's limit") {
    mh::http_client_options options;
    options.max_response_bytes = 10000;
    mh::http_client client{options};
    auto out = client.request_blocking(mh::http_request::get(server.url("/big")));
    REQUIRE(out.error);
    CHECK(microlith::is(out.error, errc::resource_exhausted));
    CHECK_THAT(microlith::message_of(out.error),
               Contains("the response body is over the limit of 10000 bytes"));
  }

  SECTION("a request's own limit") {
    mh::http_client client;
    auto request = mh::http_request::get(server.url("/big"));
    request.max_response_bytes = 500;
    auto out = client.request_blocking(request);
    REQUIRE(out.error);
    CHECK(microlith::is(out.error, errc::resource_exhausted));
    CHECK_THAT(microlith::message_of(out.error), Contains("over the limit of 500 bytes"));
  }
}

TEST_CASE("a connection reset by the server is service_unavailable", "[unit][http]") {
  test_server server{[](const seen_request&) { return answer::with(answer::kind::reset); }};
  mh::http_client client;
  auto out = client.request_blocking(mh::http_request::get(server.url("/reset")));
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::service_unavailable));
  CHECK_THAT(microlith::message_of(out.error), Contains("GET " + server.url("/reset")));
}

TEST_CASE("a refused connection is service_unavailable naming the address", "[unit][http]") {
  auto port = closed_port();
  mh::http_client client;
  auto out = client.request_blocking(
    mh::http_request::get("http://127.0.0.1:" + std::to_string(port) + "/x"));
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::service_unavailable));
  CHECK_THAT(microlith::message_of(out.error),
             Contains("cannot connect to 127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("a bad URL is invalid_argument naming it", "[unit][http]") {
  mh::http_client client;
  auto out = client.request_blocking(mh::http_request::get("ftp://example.com/file"));
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::invalid_argument));
  CHECK_THAT(microlith::message_of(out.error),
             Contains("bad URL \"ftp://example.com/file\": scheme \"ftp\" is not http or https"));
}

TEST_CASE("HTTPS answers with a certificate trusted through the CA file", "[unit][http]") {
  test_support::temp_folder folder{"http-tls"};
  auto cert = http_test::make_self_signed(folder.path(), "server");
  test_server server{echo_request, &cert};
  mh::http_client_options options;
  options.ca_file = cert.certificate.string();
  mh::http_client client{options};
  for (int i = 0; i < 2; ++i) {
    auto out = client.request_blocking(mh::http_request::get(server.url("/secure")));
    REQUIRE_FALSE(out.error);
    CHECK(out.response.body == "GET /secure ");
  }
  CHECK(server.connections() == 1);
}

TEST_CASE("HTTPS to a server whose certificate is not trusted is service_unavailable",
          "[unit][http]") {
  test_support::temp_folder folder{"http-tls"};
  auto cert = http_test::make_self_signed(folder.path(), "server");
  test_server server{echo_request, &cert};
  mh::http_client client; // the system's CA store only
  auto out = client.request_blocking(mh::http_request::get(server.url("/secure")));
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::service_unavailable));
  CHECK_THAT(microlith::message_of(out.error), Contains("certificate verification failed"));
  CHECK(server.requests() == 0);
}

TEST_CASE("a CA file that cannot be read is refused naming it", "[unit][http]") {
  mh::http_client_options options;
  options.ca_file = "/nonexistent/ca.pem";
  CHECK_THROWS_WITH(mh::http_client{options}, Contains("\"/nonexistent/ca.pem\""));
}

TEST_CASE("a redirect is answered as it is unless the request follows redirects", "[unit][http]") {
  test_server server{[](const seen_request& r) {
    if (r.target == "/old") {
      auto a = answer::ok("");
      a.status = 302;
      a.headers.push_back({"Location", "/new"});
      return a;
    }
    return answer::ok("new place");
  }};
  mh::http_client client;

  SECTION("by default") {
    auto out = client.request_blocking(mh::http_request::get(server.url("/old")));
    REQUIRE_FALSE(out.error);
    CHECK(out.response.status == 302);
    CHECK(*out.response.find_header("location") == "/new");
  }

  SECTION("followed") {
    auto request = mh::http_request::get(server.url("/old"));
    request.max_redirects = 3;
    auto out = client.request_blocking(request);
    REQUIRE_FALSE(out.error);
    CHECK(out.response.status == 200);
    CHECK(out.response.body == "new place");
    CHECK(out.response.url == server.url("/new"));
  }
}

TEST_CASE("a client closed with a request in flight fails it with service_unavailable",
          "[unit][http]") {
  test_server server{[](const seen_request&) { return answer::with(answer::kind::hang); }};
  std::promise<mh::http_outcome> outcome;
  {
    mh::http_client client;
    client.async_request(mh::http_request::get(server.url("/never")),
                         [&outcome](mh::http_outcome o) { outcome.set_value(std::move(o)); });
    REQUIRE(eventually([&] { return server.requests() == 1; }));
  }
  auto out = outcome.get_future().get();
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::service_unavailable));
  CHECK_THAT(microlith::message_of(out.error), Contains("the HTTP client closed"));
}

TEST_CASE("headers over the limit are resource_exhausted", "[unit][http]") {
  test_server server{[](const seen_request&) {
    auto a = answer::ok("small body");
    a.headers.push_back({"X-Padding", std::string(3000, 'p')});
    return a;
  }};
  mh::http_client_options options;
  options.max_header_bytes = 1024;
  mh::http_client client{options};
  auto out = client.request_blocking(mh::http_request::get(server.url("/padded")));
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::resource_exhausted));
  CHECK_THAT(microlith::message_of(out.error),
             Contains("status line and headers are over the limit of 1024 bytes"));
}

TEST_CASE("a request waiting in line for a connection ends at its deadline", "[unit][http]") {
  test_server server{[](const seen_request& r) {
    auto a = answer::ok(r.target);
    if (r.target == "/slow")
      a.how = answer::kind::hold;
    return a;
  }};
  mh::http_client_options options;
  options.max_connections_per_host = 1;
  mh::http_client client{options};
  auto first = std::async(std::launch::async, [&] {
    return client.request_blocking(mh::http_request::get(server.url("/slow")));
  });
  REQUIRE(eventually([&] { return server.held() == 1; }));
  auto queued = mh::http_request::get(server.url("/queued"));
  queued.timeout = 200ms;
  auto out = client.request_blocking(queued);
  REQUIRE(out.error);
  CHECK(microlith::is(out.error, errc::timeout));
  CHECK(server.requests() == 1); // it never reached the server
  server.release();
  REQUIRE_FALSE(first.get().error);
  // The line is empty again: the next request takes the released connection.
  auto next = client.request_blocking(mh::http_request::get(server.url("/next")));
  REQUIRE_FALSE(next.error);
  CHECK(next.response.body == "/next");
  CHECK(server.connections() == 1);
}
