// The node (actors/include/microlith/actors/node.hpp, src/node.cpp): its configuration, the
// shutdown that stops what it started newest first, and correlation ids.
#include "test_services.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace unit_actors;
using microlith::errc;

TEST_CASE("a node runs the scheduler threads it was given", "[unit]") {
  SECTION("two") {
    microlith::node node{two_threads()};
    CHECK(node.system().scheduler().num_workers() == 2);
  }
  SECTION("none given: one per hardware thread, at least two") {
    auto opts = two_threads();
    opts.threads = 0;
    microlith::node node{opts};
    CHECK(node.system().scheduler().num_workers()
          == std::max(2u, std::thread::hardware_concurrency()));
  }
}

TEST_CASE("a node gives CAF's scheduler its idle policy", "[unit]") {
  auto opts = two_threads();
  opts.idle_spin_polls = 7;
  opts.idle_nap_polls = 3;
  opts.idle_wait = std::chrono::milliseconds{4};
  microlith::node node{opts};
  // The work-stealing scheduler reads these settings from the system's config when it starts.
  const auto& cfg = node.system().config();
  CHECK(caf::get_or(cfg, "work-stealing.aggressive-poll-attempts", std::size_t{0}) == 7);
  CHECK(caf::get_or(cfg, "work-stealing.moderate-poll-attempts", std::size_t{0}) == 3);
  CHECK(caf::get_or(cfg, "work-stealing.relaxed-sleep-duration", caf::timespan{0})
        == caf::timespan{std::chrono::milliseconds{4}});
}

TEST_CASE("a node's shutdown stops what it started, newest first", "[unit]") {
  the_probe().reset();
  microlith::node node{two_threads()};
  for (auto name : {"first", "second", "third"})
    must_spawn(node, echo_service(name));
  node.shutdown();
  CHECK(the_probe().notes()
        == std::vector<std::string>{"third stopped", "second stopped", "first stopped"});
  CHECK(node.registry().snapshot()->entries().empty());

  SECTION("and a second shutdown does nothing") {
    node.shutdown();
    CHECK(the_probe().notes().size() == 3);
  }

  SECTION("and calls after it are service_unavailable") {
    auto r = node.call<pb::PingReply>("first", "Ping", ping("x"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }
}

TEST_CASE("correlation ids are fresh", "[unit]") {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    auto id = microlith::make_correlation_id();
    REQUIRE(id.size() == 13);
    REQUIRE(id.find_first_not_of("0123456789abcdefghijklmnopqrstuv") == std::string::npos);
    seen.insert(id);
  }
  CHECK(seen.size() == 10000);
}
