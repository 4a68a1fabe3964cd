// A running gateway (net/src/gateway/gateway_server.cpp) swapping route tables: under load
// without a failed request, visible to the very next request, never to a request in flight,
// and never with a table that does not build. Stopping a gateway with calls in flight: their
// answers (or their callee's death) arriving afterwards touch nothing of it.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace unit_net;

namespace {

std::shared_ptr<const gw::route_table> table_a(microlith::node& n) {
  return must_build(n, {route("GET /v/{name}", "binder.Echo"), route("GET /hang", "echo.Hang")});
}

std::shared_ptr<const gw::route_table> table_b(microlith::node& n) {
  return must_build(n, {route("GET /v/{name}", "binder.Echo"),
                        route("GET /only-in-b", "binder.Echo"), route("GET /hang", "echo.Hang")});
}

/// Client threads sending requests on keep-alive connections until stopped; joined on
/// destruction.
class load {
public:
  load(std::uint16_t port, int threads) : answered_(static_cast<std::size_t>(threads)) {
    for (int t = 0; t < threads; ++t)
      threads_.emplace_back([this, port, t] { run(port, t); });
  }

  ~load() { stop(); }

  load(const load&) = delete;
  load& operator=(const load&) = delete;

  /// Stops and joins the threads.
  void stop() {
    stopping_ = true;
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }

  /// True once every thread had at least one answer.
  bool all_answered() const {
    for (const auto& n : answered_)
      if (n.load() == 0)
        return false;
    return true;
  }

  std::uint64_t answered() const {
    std::uint64_t sum = 0;
    for (const auto& n : answered_)
      sum += n.load();
    return sum;
  }

  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> guard{mutex_};
    return failures_;
  }

private:
  // One client: GET /v/client-<t> until stopped; anything but 200 with its name is a failure.
  void run(std::uint16_t port, int t) {
    auto name = "client-" + std::to_string(t);
    try {
      http_connection client{port};
      while (!stopping_) {
        auto r = client.request("GET", "/v/" + name);
        if (r.status != 200 || parse_bind_request(r.body).name() != name)
          fail(name + ": " + std::to_string(r.status) + " " + r.body);
        else
          answered_[static_cast<std::size_t>(t)]++;
      }
    } catch (const std::exception& e) {
      fail(name + ": " + e.what());
    }
  }

  void fail(std::string what) {
    std::lock_guard<std::mutex> guard{mutex_};
    failures_.push_back(std::move(what));
  }

  std::atomic<bool> stopping_{false};
  std::vector<std::atomic<std::uint64_t>> answered_;
  std::mutex mutex_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

/// Holds every Hang call's promise until a Ping answers them all (and itself).
class holder {
public:
  microlith::reply<pb::PingReply> hang(microlith::call_context& ctx, const pb::PingRequest& req) {
    held_.push_back(ctx.make_promise<pb::PingReply>());
    held_count()++;
    (void)req;
    return held_.back();
  }

  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest& req) {
    pb::PingReply out;
    out.set_text(req.text());
    for (auto& p : held_)
      p.deliver(out);
    held_.clear();
    return out;
  }

  /// How many calls the holders hold (or held) in this process.
  static std::atomic<int>& held_count() {
    static std::atomic<int> n{0};
    return n;
  }

private:
  std::vector<microlith::promise<pb::PingReply>> held_;
};

microlith::service_definition holder_service() {
  return microlith::service<holder>("holder", "microlith.test.Echo")
    .handle("Hang", &holder::hang)
    .handle("Ping", &holder::ping);
}

} // namespace

TEST_CASE("route tables swap under load without failing a request", "[unit]") {
  auto options = test_options();
  options.io_threads = GENERATE(1, 2);
  INFO("io_threads: " << options.io_threads);
  gateway_fixture gw{options};
  auto& routes = gw.server().routes();
  routes.install(table_a(gw.node));
  load clients{gw.port(), 4};
  REQUIRE(gateway_fixture::eventually([&] { return clients.all_answered(); }, 5000ms));

  http_connection checker{gw.port()};
  int wrong = 0;
  std::string first_wrong;
  auto generation = routes.generation();
  for (int i = 1; i <= 300; ++i) {
    bool with_b = i % 2 == 1;
    CHECK(routes.install(with_b ? table_b(gw.node) : table_a(gw.node))
          == generation + static_cast<unsigned>(i));
    // Right after install() returns, the next request sees the new table.
    auto r = checker.request("GET", "/only-in-b");
    if (r.status != (with_b ? 200u : 404u)) {
      if (wrong++ == 0)
        first_wrong =
          "install " + std::to_string(i) + ": " + std::to_string(r.status) + " " + r.body;
    }
  }
  clients.stop();
  INFO(first_wrong);
  CHECK(wrong == 0);
  auto failures = clients.failures();
  INFO((failures.empty() ? std::string{} : failures.front()));
  CHECK(failures.empty());
  CHECK(clients.answered() > 0);
}

TEST_CASE("a table swap never changes a request in flight", "[unit]") {
  auto options = test_options();
  options.request_timeout = 300ms;
  gateway_fixture gw{options};
  auto& routes = gw.server().routes();
  routes.install(table_a(gw.node));
  http_connection client{gw.port()};
  client.send("GET", "/hang");
  REQUIRE(the_probe().wait_for("echo.hang", 2000ms));
  routes.install(must_build(gw.node, {route("GET /v/{name}", "binder.Echo")}));
  // The request was routed by the table it arrived with: it times out, it is not "no route".
  CHECK(client.read_reply().status == 504);
  CHECK(client.request("GET", "/hang").status == 404);
}

TEST_CASE("a table that does not build leaves the current one serving", "[unit]") {
  gateway_fixture gw;
  auto& routes = gw.server().routes();
  routes.install(table_a(gw.node));
  auto generation = routes.generation();
  auto current = routes.current();
  http_connection client{gw.port()};
  REQUIRE(client.request("GET", "/v/before").status == 200);

  // Installed as the gateway module reloads a group's routes: built against the registry's
  // contracts with the gateway's own paths reserved, and installed only when it builds.
  auto contracts = gw::registered_contracts(gw.node.registry());
  auto reserved = gw::reserved_paths(test_options().websocket_path, false);
  auto refused = routes.build_and_install(
    {route("GET /v/{name}", "binder.Echo"), route("GET /only-in-b/{nope}", "binder.Echo"),
     route("GET /x", "nobody.Ping"), route("GET /ws", "echo.Ping")},
    contracts, reserved);
  REQUIRE_FALSE(refused);
  auto why = microlith::message_of(refused.error());
  CHECK_THAT(why, Catch::Matchers::Contains("{nope} is not a field"));
  CHECK_THAT(why, Catch::Matchers::Contains("no service named \"nobody\" is known"));
  CHECK_THAT(why, Catch::Matchers::Contains("matches /ws, which the gateway serves itself"));
  CHECK(routes.generation() == generation);
  CHECK(routes.current() == current);
  auto r = client.request("GET", "/v/after");
  CHECK(r.status == 200);
  CHECK(parse_bind_request(r.body).name() == "after");
  CHECK(client.request("GET", "/x").status == 404);
  CHECK(client.request("GET", "/only-in-b/1").status == 404);

  // The same call installs a table that builds, served from the next request on.
  auto installed = routes.build_and_install(
    {route("GET /v/{name}", "binder.Echo"), route("GET /x", "echo.Ping")}, contracts, reserved);
  REQUIRE(installed);
  CHECK(*installed == generation + 1);
  CHECK(client.request("GET", "/x").status == 200);
}

TEST_CASE("stopping the gateway closes its connections", "[unit]") {
  auto gw = std::make_unique<gateway_fixture>();
  http_connection idle{gw->port()};
  REQUIRE(idle.request("GET", "/healthz").status == 200);
  http_connection waiting{gw->port()};
  waiting.send("GET", "/hang");
  REQUIRE(the_probe().wait_for("echo.hang", 2000ms));
  ws_connection ws{gw->port()};
  ws.send(R"({"subscribe": "t"})");
  REQUIRE(ws.read());

  gw.reset(); // the node stops the gateway (and everything else) with all of this open
  CHECK(idle.closed_within(2000ms));
  CHECK(waiting.closed_within(2000ms));
  CHECK(ws.closed_within(2000ms));
}

TEST_CASE("a gateway that cannot listen fails its worker's start", "[unit]") {
  gateway_fixture gw;
  SECTION("the port is taken") {
    auto options = test_options();
    options.port = gw.port();
    auto started = gw.node.spawn(gw::gateway_worker("http2", gw.node, options, gw.routes));
    REQUIRE_FALSE(started);
    CHECK_THAT(microlith::describe(started.error()), Catch::Matchers::Contains("cannot listen"));
  }
  SECTION("the address is not an address") {
    auto options = test_options();
    options.host = "not-an-address";
    auto started = gw.node.spawn(gw::gateway_worker("http2", gw.node, options, gw.routes));
    REQUIRE_FALSE(started);
    CHECK_THAT(microlith::describe(started.error()), Catch::Matchers::Contains("not-an-address"));
  }
  // The running gateway is unaffected.
  http_connection client{gw.port()};
  CHECK(client.request("GET", "/healthz").status == 200);
}

TEST_CASE("a gateway stopped with calls in flight ignores what arrives for them", "[unit]") {
  microlith::node_options opts;
  opts.name = "unit";
  opts.threads = 2;
  microlith::node node{opts};
  auto holder_instance = node.spawn(holder_service());
  REQUIRE(holder_instance);
  // Watches the holder from before any call: its monitor is older than the caller's, and CAF
  // notifies an exiting actor's monitors newest first, so this one hears of the exit last.
  auto watcher = std::make_unique<caf::scoped_actor>(node.system());
  (*watcher)->monitor(*holder_instance);
  auto routes = std::make_shared<gw::route_switch>();
  routes->install(must_build(node, {route("GET /hang", "holder.Hang")}));
  microlith::async_caller caller{node, "direct"};
  auto options = test_options();
  options.io_threads = GENERATE(1, 2);
  INFO("io_threads: " << options.io_threads);
  auto started = gw::gateway_server::start(node, options, routes, caller);
  REQUIRE(started);
  auto server = std::move(*started);
  holder::held_count() = 0;
  constexpr int clients = 16;
  std::vector<std::unique_ptr<http_connection>> connections;
  for (int i = 0; i < clients; ++i) {
    connections.push_back(std::make_unique<http_connection>(server->port()));
    connections.back()->send("GET", "/hang");
  }
  REQUIRE(gateway_fixture::eventually([] { return holder::held_count() == clients; }));
  CHECK(caller.in_flight() == clients);

  SECTION("answers after the stop") {
    server.reset();
    CHECK(caller.in_flight() == 0); // the stop completed them, into its closed gate
    auto r = node.call<pb::PingReply>("holder", "Ping", pb::PingRequest{});
    CHECK(r); // the holder answered the held calls (into the closed caller) and serves on
  }
  SECTION("answers racing the stop") {
    // The first Ping answers every held call while the gateway stops; the holder must serve
    // every Ping, whether its answers to the held calls find the gateway running or stopped.
    std::atomic<int> answered{0};
    std::thread answering{[&] {
      for (int i = 0; i < 50; ++i)
        if (node.call<pb::PingReply>("holder", "Ping", pb::PingRequest{}))
          ++answered;
    }};
    server.reset();
    answering.join();
    CHECK(answered == 50);
    CHECK(caller.in_flight() == 0);
  }
  SECTION("the callee's death after the stop") {
    server.reset();
    CHECK(caller.in_flight() == 0);
    microlith::signal_exit(*holder_instance, caf::exit_reason::kill);
    // The watcher hears of the exit after every monitor the caller ever had on the holder.
    bool down = false;
    caf::error reason;
    (*watcher)->receive(
      [&](caf::down_msg& msg) {
        down = true;
        reason = msg.reason;
      },
      caf::after(std::chrono::seconds(5)) >> [] {});
    CHECK(down);
    CHECK(reason == caf::exit_reason::kill);
    auto r = node.call<pb::PingReply>("holder", "Ping", pb::PingRequest{});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), microlith::errc::service_unavailable));
  }

  // The answers went out before each Ping's own answer, and the exit's notices before the
  // watcher's: nothing is still on its way to the stopped gateway.
  for (auto& c : connections)
    CHECK(c->closed_within(2000ms));
  CHECK(caller.in_flight() == 0);
  watcher.reset();
  node.shutdown();
}
