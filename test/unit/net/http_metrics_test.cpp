// Per-route HTTP metrics (net/include/microlith/net/gateway/http_metrics.hpp) and the gateway's
// `GET /metrics` endpoint over real sockets: counts by route and status, the route "" for
// requests no route matched, counts kept across a route reload, and /metrics open, behind the
// admin token, or off, with a fake renderer standing in for the observer's.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/net/gateway/http_metrics.hpp>
#include <microlith/net/gateway/route_table.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
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

/// The counts of `route` in a snapshot of `metrics`, if it is there.
std::optional<gw::route_metrics> find_route(const gw::http_metrics& metrics,
                                            const std::string& route) {
  for (auto& r : metrics.snapshot())
    if (r.route == route)
      return r;
  return std::nullopt;
}

/// How many responses with `status` `route` counted (0 when absent).
std::uint64_t responses(const gw::http_metrics& metrics, const std::string& route,
                        unsigned status) {
  auto r = find_route(metrics, route);
  if (!r)
    return 0;
  for (const auto& [s, n] : r->statuses)
    if (s == status)
      return n;
  return 0;
}

/// A renderer that answers its query back from another thread, counting its calls.
struct fake_renderer {
  std::atomic<int> calls{0};
  std::mutex mutex;
  std::vector<std::thread> threads; // requires mutex

  ~fake_renderer() {
    for (auto& t : threads)
      t.join();
  }

  gw::metrics_renderer renderer() {
    return [this](std::string query, std::function<void(std::string)> done) {
      calls++;
      std::lock_guard<std::mutex> guard{mutex};
      threads.emplace_back([query = std::move(query), done = std::move(done)] {
        done("# TYPE microlith_up gauge\nmicrolith_up{query=\"" + query + "\"} 1\n");
      });
    };
  }
};

header_list bearing(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

} // namespace

TEST_CASE("a snapshot holds each route's statuses and durations", "[unit]") {
  gw::http_metrics metrics;
  auto& none = metrics.unrouted();
  none.record(404, std::chrono::milliseconds(2));
  none.record(404, std::chrono::milliseconds(3));
  none.record(405, std::chrono::microseconds(50));
  none.record(42, std::chrono::microseconds(50)); // not an HTTP status: under 0
  auto all = metrics.snapshot();
  REQUIRE(all.size() == 1);
  CHECK(all[0].route.empty());
  CHECK(all[0].target.empty());
  using counts = std::vector<std::pair<unsigned, std::uint64_t>>;
  CHECK(all[0].statuses == counts{{0, 1}, {404, 2}, {405, 1}});
  CHECK(all[0].durations.count == 4);
  CHECK(all[0].durations.counts[microlith::duration_bucket(std::chrono::microseconds(50))] == 2);
}

TEST_CASE("route metrics count each answered request by route and status", "[unit]") {
  auto options = test_options();
  options.metrics = std::make_shared<gw::http_metrics>();
  auto& metrics = *options.metrics;
  gateway_fixture gw{options};
  REQUIRE(gw.server().metrics() == options.metrics);
  http_connection client{gw.port()};

  REQUIRE(client.request("GET", "/echo/a").status == 200);
  REQUIRE(client.request("GET", "/echo/b").status == 200);
  REQUIRE(client.request("POST", "/echo", R"({"nope":1})").status == 400);
  REQUIRE(client.request("GET", "/nowhere").status == 404);
  REQUIRE(client.request("DELETE", "/echo/a").status == 405);
  REQUIRE(client.request("GET", "/healthz").status == 200); // the gateway's own: not counted

  CHECK(gateway_fixture::eventually([&] {
    return responses(metrics, "GET /echo/{text}", 200) == 2
           && responses(metrics, "POST /echo", 400) == 1 && responses(metrics, "", 404) == 1
           && responses(metrics, "", 405) == 1;
  }));
  auto echo = find_route(metrics, "GET /echo/{text}");
  REQUIRE(echo);
  CHECK(echo->target == "echo.Ping");
  CHECK(echo->durations.count == 2);
  CHECK(echo->durations.sum_seconds > 0);
  auto post = find_route(metrics, "POST /echo");
  REQUIRE(post);
  CHECK(post->target == "echo.Ping");
  using counts = std::vector<std::pair<unsigned, std::uint64_t>>;
  CHECK(post->statuses == counts{{400, 1}});
  for (const auto& r : metrics.snapshot())
    CHECK_THAT(r.route, !Contains("healthz"));
  // Every route of the table has its counters, answered or not.
  CHECK(find_route(metrics, "GET /hang"));
}

TEST_CASE("route metrics keep their counts across a route reload", "[unit]") {
  auto options = test_options();
  options.metrics = std::make_shared<gw::http_metrics>();
  auto& metrics = *options.metrics;
  gateway_fixture gw{options};
  http_connection client{gw.port()};
  REQUIRE(client.request("GET", "/echo/a").status == 200);
  REQUIRE(
    gateway_fixture::eventually([&] { return responses(metrics, "GET /echo/{text}", 200) == 1; }));

  gw.server().routes().install(must_build(
    gw.node, {route("GET /echo/{text}", "echo.Ping"), route("GET /new/{text}", "echo.Ping")},
    options));
  REQUIRE(client.request("GET", "/echo/b").status == 200);
  REQUIRE(client.request("GET", "/new/c").status == 200);
  REQUIRE(client.request("GET", "/hang").status == 404); // gone with the reload
  CHECK(gateway_fixture::eventually([&] {
    return responses(metrics, "GET /echo/{text}", 200) == 2
           && responses(metrics, "GET /new/{text}", 200) == 1 && responses(metrics, "", 404) == 1;
  }));
  // A route that is gone keeps its last counts.
  CHECK(find_route(metrics, "GET /hang"));
}

TEST_CASE("GET /metrics answers what the renderer renders to anyone by default", "[unit]") {
  fake_renderer fake;
  auto options = test_options();
  options.render_metrics = fake.renderer();
  gateway_fixture gw{options};
  http_connection client{gw.port()};

  auto r = client.request("GET", "/metrics?name=x");
  CHECK(r.status == 200);
  CHECK(r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(r.body == "# TYPE microlith_up gauge\nmicrolith_up{query=\"name=x\"} 1\n");
  CHECK(fake.calls == 1);

  auto head = client.request("HEAD", "/metrics");
  CHECK(head.status == 200);
  CHECK(head.body.empty());

  auto post = client.request("POST", "/metrics", "{}");
  CHECK(post.status == 405);
  CHECK(post.header("Allow") == "GET, HEAD");
  CHECK_THAT(post.body, Contains("method_not_allowed"));

  // The path is the gateway's own: no route may take it.
  auto reserved = gw::reserved_paths(options);
  CHECK(std::count(reserved.begin(), reserved.end(), "/metrics") == 1);
}

TEST_CASE("GET /metrics in admin mode wants the admin token", "[unit]") {
  fake_renderer fake;
  auto options = test_options();
  options.render_metrics = fake.renderer();
  options.metrics_endpoint = gw::metrics_access::admin;
  options.admin_token = admin_token;
  gateway_fixture gw{options};
  http_connection client{gw.port()};

  auto none = client.request("GET", "/metrics");
  CHECK(none.status == 401);
  CHECK(none.header("WWW-Authenticate") == "Bearer realm=\"microlith\"");
  CHECK_THAT(none.body, Contains("unauthenticated"));
  auto wrong = client.request("GET", "/metrics", {}, bearing("not-the-admin-token-at-all"));
  CHECK(wrong.status == 403);
  CHECK_THAT(wrong.body, Contains("permission_denied"));
  CHECK(fake.calls == 0);
  auto right = client.request("GET", "/metrics", {}, bearing(admin_token));
  CHECK(right.status == 200);
  CHECK(right.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK_THAT(right.body, Contains("microlith_up"));
  CHECK(fake.calls == 1);
}

TEST_CASE("GET /metrics in admin mode answers bearers from any address", "[unit]") {
  auto address = non_loopback_address();
  if (!address) {
    WARN("this machine has no non-loopback address; skipped");
    return;
  }
  fake_renderer fake;
  auto options = test_options();
  options.host = "0.0.0.0";
  options.render_metrics = fake.renderer();
  options.metrics_endpoint = gw::metrics_access::admin;
  options.admin_token = admin_token;
  gateway_fixture gw{options};
  http_connection client{*address, gw.port()};
  CHECK(client.request("GET", "/metrics").status == 401);
  CHECK(client.request("GET", "/metrics", {}, bearing(admin_token)).status == 200);
}

TEST_CASE("GET /metrics in admin mode counts failures against the address", "[unit]") {
  fake_renderer fake;
  auto options = test_options();
  options.render_metrics = fake.renderer();
  options.metrics_endpoint = gw::metrics_access::admin;
  options.admin_token = admin_token;
  gateway_fixture gw{options};
  http_connection client{gw.port()};
  for (int i = 0; i < 10; ++i)
    REQUIRE(client.request("GET", "/metrics", {}, bearing("wrong-token-guess-number-x")).status
            == 403);
  auto locked = client.request("GET", "/metrics", {}, bearing(admin_token));
  CHECK(locked.status == 429);
  CHECK_FALSE(locked.header("Retry-After").empty());
  CHECK(fake.calls == 0);
}

TEST_CASE("GET /metrics off is an unknown path", "[unit]") {
  fake_renderer fake;
  auto options = test_options();
  options.render_metrics = fake.renderer();
  options.metrics_endpoint = gw::metrics_access::off;
  gateway_fixture gw{options};
  http_connection client{gw.port()};
  auto r = client.request("GET", "/metrics");
  CHECK(r.status == 404);
  CHECK_THAT(r.body, Contains("no_route"));
  CHECK(fake.calls == 0);
  auto reserved = gw::reserved_paths(options);
  CHECK(std::count(reserved.begin(), reserved.end(), "/metrics") == 0);
}

TEST_CASE("GET /metrics without a renderer is 503", "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};
  auto r = client.request("GET", "/metrics");
  CHECK(r.status == 503);
  CHECK_THAT(r.body, Contains("no metrics renderer"));
}

TEST_CASE("a gateway with metrics in admin mode and no token does not start", "[unit]") {
  gateway_fixture gw;
  auto options = test_options();
  options.metrics_endpoint = gw::metrics_access::admin;
  auto started = gw::gateway_server::start(gw.node, options, nullptr, microlith::async_caller{});
  REQUIRE_FALSE(started);
  CHECK_THAT(microlith::message_of(started.error()), Contains("no admin token"));
}

TEST_CASE("metrics_access reads open admin and off", "[unit]") {
  CHECK(gw::parse_metrics_access("open") == gw::metrics_access::open);
  CHECK(gw::parse_metrics_access("admin") == gw::metrics_access::admin);
  CHECK(gw::parse_metrics_access("off") == gw::metrics_access::off);
  CHECK_FALSE(gw::parse_metrics_access("Open"));
  CHECK(gw::to_string(gw::metrics_access::admin) == "admin");
}
