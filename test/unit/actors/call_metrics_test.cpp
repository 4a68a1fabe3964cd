// Call metrics (call_metrics.hpp): what a node's services answered per service and method —
// calls, failures by kind, a duration histogram — counted by real instances of real services,
// through answers given at once, through promises and refusals, across a restart of the
// instance; and nothing at all when the node is told not to count.
#include "test_services.hpp"

#include <microlith/actors/call_metrics.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>

#include <caf/sec.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using microlith::errc;
using microlith::method_metrics;

namespace {

// The metrics of `service`.`method` on `n`; empty ones (calls == 0) when it has none.
method_metrics metrics_of(const microlith::node& n, const std::string& service,
                          const std::string& method) {
  for (auto& m : n.call_metrics())
    if (m.service == service && m.method == method)
      return m;
  method_metrics none;
  none.service = service;
  none.method = method;
  return none;
}

std::uint64_t errors_of(const method_metrics& m, const std::string& kind) {
  for (const auto& [name, count] : m.errors)
    if (name == kind)
      return count;
  return 0;
}

} // namespace

TEST_CASE_METHOD(node_fixture, "call metrics count the calls of each method", "[unit]") {
  must_spawn(node, echo_service());

  SECTION("answered calls with their durations") {
    for (int i = 0; i < 3; ++i)
      REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("hi")));
    auto m = metrics_of(node, "echo", "Ping");
    CHECK(m.calls == 3);
    CHECK(m.errors.empty());
    CHECK(m.duration.count == 3);
    CHECK(m.duration.sum_seconds > 0);
    CHECK(m.duration.sum_seconds < 1);
    CHECK(metrics_of(node, "echo", "Fail").calls == 0); // counted per method
  }
  SECTION("failures by the kind the handler picked") {
    REQUIRE_FALSE(
      node.call<pb::PingReply>("echo", "Fail", ping("no", static_cast<int>(errc::not_found))));
    REQUIRE_FALSE(
      node.call<pb::PingReply>("echo", "Fail", ping("no", static_cast<int>(errc::not_found))));
    REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Fail", ping("no")));
    auto m = metrics_of(node, "echo", "Fail");
    CHECK(m.calls == 3);
    CHECK(m.duration.count == 3);
    using entry = std::pair<std::string, std::uint64_t>;
    CHECK(m.errors == std::vector<entry>{{"not_found", 2}, {"remote_error", 1}});
  }
  SECTION("refusals count as failures of the method asked for") {
    REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Nope", ping("x")));
    REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Ping", pb::Empty{}));
    auto nope = metrics_of(node, "echo", "Nope");
    CHECK(nope.calls == 1);
    CHECK(errors_of(nope, "no_such_method") == 1);
    auto ping_metrics = metrics_of(node, "echo", "Ping");
    CHECK(ping_metrics.calls == 1);
    CHECK(errors_of(ping_metrics, "bad_request") == 1);
  }
  SECTION("an answer through a promise is counted when it is delivered") {
    auto reply = node.call<pb::PingReply>("echo", "Ping", ping("later", 0, 30));
    REQUIRE(reply);
    auto m = metrics_of(node, "echo", "Ping");
    CHECK(m.calls == 1);
    CHECK(m.errors.empty());
    REQUIRE(m.duration.count == 1);
    CHECK(m.duration.sum_seconds >= 0.025);
    CHECK(m.duration.quantile(0.5) >= 0.025); // the 25-50 ms bucket
    // The handler of the delayed answer's own cast counts nothing (casts are not answered).
    CHECK(metrics_of(node, "echo", "Wake").calls == 0);
  }
  SECTION("a promise dropped unanswered counts as remote_error") {
    REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Drop", ping("x")));
    CHECK(errors_of(metrics_of(node, "echo", "Drop"), "remote_error") == 1);
  }
  SECTION("a nested call counts at both services") {
    must_spawn(node, relay_service());
    REQUIRE(node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Ping", ping("hi"))));
    CHECK(metrics_of(node, "relay", "Forward").calls == 1);
    CHECK(metrics_of(node, "echo", "Ping").calls == 1);
    auto all = node.call_metrics();
    REQUIRE(all.size() >= 2);
    for (std::size_t i = 1; i < all.size(); ++i) // sorted by service, then method
      CHECK(std::make_pair(all[i - 1].service, all[i - 1].method)
            < std::make_pair(all[i].service, all[i].method));
  }
}

TEST_CASE_METHOD(node_fixture, "call metrics survive a restart of the instance", "[unit]") {
  auto first = must_spawn(node, echo_service());
  REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("a")));
  REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("b")));
  REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Throw", ping("crash")));
  REQUIRE(wait_down(node, first, 5s));
  must_spawn(node, echo_service());
  REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("c")));
  auto m = metrics_of(node, "echo", "Ping");
  CHECK(m.calls == 3);
  CHECK(m.duration.count == 3);
  CHECK(errors_of(metrics_of(node, "echo", "Throw"), "remote_error") == 1);
}

TEST_CASE("a node told not to count call metrics counts nothing", "[unit]") {
  auto options = two_threads();
  options.call_metrics = false;
  microlith::node node{options};
  must_spawn(node, echo_service());
  REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("a")));
  REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Fail", ping("no")));
  REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Nope", ping("x")));
  CHECK(node.call_metrics().empty());
}

TEST_CASE("kind_name names errors as clients see them", "[unit]") {
  CHECK(microlith::kind_name(microlith::make_error(errc::not_found, "x")) == "not_found");
  CHECK(microlith::kind_name(caf::make_error(caf::sec::request_timeout)) == "internal");
  CHECK(microlith::kind_name(caf::error{}) == "internal");
}
