// The service registry (actors/include/microlith/actors/registry.hpp): adding, removing and
// versioning instances, snapshots that never change once published, cached views that follow
// changes, and calls spread over the instances of one name.
#include "test_services.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using microlith::errc;

namespace {

struct registry_fixture {
  registry_fixture() { the_probe().reset(); }

  ~registry_fixture() {
    for (auto& x : idle)
      caf::anon_send_exit(x, caf::exit_reason::kill);
  }

  // An actor that does nothing, standing in for an instance. (It takes an argument: CAF 0.17
  // dereferences a null argument tuple for function-based actors spawned without any, which
  // UBSan reports.)
  caf::actor make_idle() {
    auto x = node.system().spawn([](int) -> caf::behavior { return {[](int) {}}; }, 0);
    idle.push_back(x);
    return x;
  }

  microlith::node node{two_threads()};
  std::vector<caf::actor> idle;
};

} // namespace

TEST_CASE_METHOD(registry_fixture,
                 "the registry adds and removes instances, versioning each change", "[unit]") {
  microlith::service_registry reg;
  auto a = make_idle();
  auto b = make_idle();
  CHECK(reg.version() == 0);
  CHECK(reg.snapshot()->entries().empty());
  CHECK_FALSE(reg.resolve("svc"));

  reg.add("svc", a);
  CHECK(reg.version() == 1);
  CHECK(reg.snapshot()->version() == 1);
  CHECK(reg.snapshot()->instances("svc") == std::vector<caf::actor>{a});
  CHECK(reg.resolve("svc") == a);

  SECTION("adding the same instance again changes nothing") {
    reg.add("svc", a);
    CHECK(reg.version() == 1);
    CHECK(reg.snapshot()->instances("svc").size() == 1);
  }

  SECTION("removing one instance leaves the others") {
    reg.add("svc", b);
    CHECK(reg.version() == 2);
    reg.remove("svc", a.address());
    CHECK(reg.version() == 3);
    CHECK(reg.snapshot()->instances("svc") == std::vector<caf::actor>{b});
    reg.remove("svc", b.address());
    CHECK(reg.version() == 4);
    CHECK(reg.snapshot()->entries().count("svc") == 0);
    CHECK_FALSE(reg.resolve("svc"));
  }

  SECTION("removing what is not there changes nothing") {
    reg.remove("svc", b.address());
    reg.remove("other", a.address());
    CHECK(reg.version() == 1);
    CHECK(reg.snapshot()->instances("svc") == std::vector<caf::actor>{a});
  }

  SECTION("one instance may serve several names; removing it from one keeps the other") {
    reg.add("other", a);
    reg.remove("svc", a.address());
    CHECK(reg.snapshot()->instances("svc").empty());
    CHECK(reg.snapshot()->instances("other") == std::vector<caf::actor>{a});
  }

  SECTION("clearing empties it and is a new version") {
    reg.add("other", b);
    reg.clear();
    CHECK(reg.version() == 3);
    CHECK(reg.snapshot()->entries().empty());
  }

  SECTION("a snapshot never changes once taken") {
    auto before = reg.snapshot();
    reg.add("svc", b);
    reg.remove("svc", a.address());
    CHECK(before->version() == 1);
    CHECK(before->instances("svc") == std::vector<caf::actor>{a});
    CHECK(reg.snapshot()->instances("svc") == std::vector<caf::actor>{b});
  }
}

TEST_CASE_METHOD(registry_fixture, "lookups spread over the instances of one name", "[unit]") {
  microlith::service_registry reg;
  std::vector<caf::actor> xs{make_idle(), make_idle(), make_idle()};
  for (auto& x : xs)
    reg.add("svc", x);
  std::map<caf::actor_id, int> hits;

  SECTION("through the registry") {
    for (int i = 0; i < 30; ++i)
      ++hits[reg.resolve("svc").id()];
  }

  SECTION("through a cached view") {
    microlith::registry_view view{reg};
    for (int i = 0; i < 30; ++i)
      ++hits[view.resolve("svc").id()];
  }

  REQUIRE(hits.size() == 3);
  for (auto& x : xs)
    CHECK(hits[x.id()] == 10);
}

TEST_CASE_METHOD(registry_fixture, "a cached view follows the registry's changes", "[unit]") {
  microlith::service_registry reg;
  microlith::registry_view view{reg};
  auto a = make_idle();
  auto b = make_idle();
  CHECK_FALSE(view.resolve("svc"));
  reg.add("svc", a);
  CHECK(view.resolve("svc") == a);
  reg.add("svc", b);
  reg.remove("svc", a.address());
  CHECK(view.resolve("svc") == b);
  CHECK(view.resolve("svc") == b);
  reg.clear();
  CHECK_FALSE(view.resolve("svc"));
}

TEST_CASE_METHOD(registry_fixture, "instances register when they start and leave when they stop",
                 "[unit]") {
  auto first = must_spawn(node, echo_service("echo"));
  CHECK(node.registry().snapshot()->instances("echo") == std::vector<caf::actor>{first});

  SECTION("a second instance of the same name joins the first") {
    auto second = must_spawn(node, echo_service("echo"));
    CHECK(node.registry().snapshot()->instances("echo")
          == (std::vector<caf::actor>{first, second}));

    SECTION("the one that stops leaves; the other keeps serving") {
      caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
      REQUIRE(wait_down(node, first, 2s));
      CHECK(node.registry().snapshot()->instances("echo") == std::vector<caf::actor>{second});
      for (int i = 0; i < 4; ++i) {
        auto r = node.call<pb::PingReply>("echo", "Ping", ping("x"));
        REQUIRE(r);
        CHECK(r->instance() == second.id());
      }
    }

    SECTION("removing one instance by hand removes only that one") {
      node.registry().remove("echo", first.address());
      CHECK(node.registry().snapshot()->instances("echo") == std::vector<caf::actor>{second});
    }
  }

  SECTION("one that crashes leaves too") {
    auto r = node.call<pb::PingReply>("echo", "Throw", ping("x"));
    REQUIRE_FALSE(r);
    REQUIRE(wait_down(node, first, 2s));
    CHECK(node.registry().snapshot()->instances("echo").empty());
  }

  SECTION("the node's shutdown empties it") {
    must_spawn(node, relay_service("relay"));
    node.shutdown();
    CHECK(node.registry().snapshot()->entries().empty());
    auto r = node.call<pb::PingReply>("echo", "Ping", ping("x"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }
}

TEST_CASE_METHOD(registry_fixture, "calls are spread over the instances of one name", "[unit]") {
  std::vector<caf::actor> echoes;
  for (int i = 0; i < 3; ++i)
    echoes.push_back(must_spawn(node, echo_service("echo")));
  std::map<std::uint64_t, int> served;

  SECTION("from a blocking caller") {
    for (int i = 0; i < 30; ++i) {
      auto r = node.call<pb::PingReply>("echo", "Ping", ping("x", i));
      REQUIRE(r);
      ++served[r->instance()];
    }
  }

  SECTION("from an actor") {
    must_spawn(node, relay_service("relay"));
    for (int i = 0; i < 30; ++i) {
      auto r = node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Ping", ping("x")));
      REQUIRE(r);
      ++served[r->echo().instance()];
    }
  }

  REQUIRE(served.size() == 3);
  for (auto& x : echoes)
    CHECK(served[x.id()] == 10);
}
