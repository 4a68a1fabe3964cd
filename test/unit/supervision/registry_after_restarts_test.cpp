// Services re-register when a restarted child replaces them: after many random crashes of the
// instances of one service name, the registry holds exactly the live instances — every one
// answers a call, none is a dead handle — and callers by name reach them without doing anything.
#include "proto/test.pb.h"

#include <microlith/actors/exit.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <thread>

using namespace std::chrono_literals;

namespace {

class pool_member {
public:
  microlith::reply<microlith::test::PingReply> ping(microlith::call_context&,
                                                    const microlith::test::PingRequest& req) {
    microlith::test::PingReply out;
    out.set_value(req.value());
    return out;
  }
};

microlith::service_definition pool_member_service() {
  return microlith::service<pool_member>("pool", "microlith.test.Echo")
    .handle("Ping", &pool_member::ping);
}

std::vector<caf::actor> registered(microlith::node& n) {
  return n.registry().snapshot()->instances("pool");
}

// Asks `instance` directly (not by name) whether it is alive and serving.
bool answers(microlith::node& n, const caf::actor& instance) {
  caf::scoped_actor self{n.system()};
  bool alive = false;
  self->request(instance, 2s, microlith::info_atom::value)
    .receive(
      [&](std::int64_t, std::vector<std::string>& services) {
        alive = services == std::vector<std::string>{"pool"};
      },
      [](caf::error&) {});
  return alive;
}

} // namespace

TEST_CASE("after random restarts the registry holds exactly the live instances",
          "[unit][supervision]") {
  constexpr int instances = 20;
  constexpr int crashes = 300;
  microlith::node_options opts;
  opts.threads = 2;
  microlith::node n{opts};
  auto spec = microlith::supervisor_spec{"pool-sup"}.intensity(crashes + 10, 60s);
  auto* np = &n;
  for (int i = 0; i < instances; ++i)
    spec.child(microlith::child("pool-" + std::to_string(i), [np](caf::event_based_actor* sup) {
                 return np->start(pool_member_service(), caf::actor_cast<caf::actor>(sup));
               }).await_ready());
  auto sup = microlith::start_supervisor(n.system(), spec);
  REQUIRE(sup);
  n.adopt(*sup);
  REQUIRE(registered(n).size() == std::size_t{instances});

  std::mt19937 rng{7};
  for (int round = 0; round < crashes; ++round) {
    // Kills can outpace restarts on a loaded machine (a round waits for its victim to leave the
    // registry, not for its replacement): wait for an instance rather than pick from none.
    for (int i = 0; i < 2000 && registered(n).empty(); ++i)
      std::this_thread::sleep_for(1ms);
    auto now = registered(n);
    REQUIRE_FALSE(now.empty());
    auto victim = now[std::uniform_int_distribution<std::size_t>(0, now.size() - 1)(rng)];
    microlith::signal_exit(victim, caf::exit_reason::kill);
    // Callers by name keep being served while the victim is replaced.
    microlith::test::PingRequest req;
    req.set_value(round);
    auto reply = n.call<microlith::test::PingReply>("pool", "Ping", req);
    if (!reply) {
      // Only the crash itself may show: the call reached the victim as it died.
      CHECK((microlith::is(reply.error(), microlith::errc::service_down)
             || microlith::is(reply.error(), microlith::errc::service_unavailable)));
    } else {
      CHECK(reply->value() == round);
    }
    // The dead instance leaves the registry (so the next round picks a live one).
    auto gone = [&] {
      auto xs = registered(n);
      return std::find(xs.begin(), xs.end(), victim) == xs.end();
    };
    for (int i = 0; i < 500 && !gone(); ++i)
      std::this_thread::sleep_for(1ms);
    REQUIRE(gone());
  }
  // Settled: every instance replaced, each registered exactly once, every one alive.
  for (int i = 0; i < 500 && registered(n).size() != std::size_t{instances}; ++i)
    std::this_thread::sleep_for(10ms);
  auto final_set = registered(n);
  REQUIRE(final_set.size() == std::size_t{instances});
  std::set<caf::actor> distinct(final_set.begin(), final_set.end());
  CHECK(distinct.size() == final_set.size());
  for (const auto& instance : final_set)
    CHECK(answers(n, instance));
  auto tree = microlith::snapshot_of(n.system(), *sup);
  REQUIRE(tree);
  std::uint32_t restarts = 0;
  for (const auto& c : tree->children) {
    CHECK(c.state == "running");
    restarts += c.restarts;
  }
  CHECK(restarts == std::uint32_t{crashes});
}
