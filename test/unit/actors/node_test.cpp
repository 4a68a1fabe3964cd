// The node (actors/include/microlith/actors/node.hpp, src/node.cpp): its configuration, the
// shutdown that stops what it started newest first, and correlation ids.
#include "test_services.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

using namespace unit_actors;
using microlith::errc;

TEST_CASE("a node runs the scheduler threads it was given", "[unit]") {
  microlith::node node{two_threads()};
  CHECK(node.options().threads == 2);
  CHECK(node.options().name == "unit");
  CHECK(node.system().scheduler().num_workers() == 2);
}

TEST_CASE("a node's shutdown stops what it started, newest first", "[unit]") {
  the_probe().reset();
  microlith::node node{two_threads()};
  for (auto name : {"first", "second", "third"})
    must_spawn(node, echo_service(name));
  node.shutdown();
  CHECK(the_probe().notes() ==
        std::vector<std::string>{"third stopped", "second stopped", "first stopped"});
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
