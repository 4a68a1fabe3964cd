// Toggles in the kernel (actors/include/microlith/actors/toggles.hpp, actors/src/toggles.cpp,
// actors/src/toggle_holder.cpp): each gate and their precedence, the stickiness of the
// percentage of actors, undeclared names, the snapshot a request captures when it enters the
// node and keeps through its nested calls, and publishing while other threads check.
#include "test_services.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/envelope.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/actors/toggles.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using Catch::Matchers::Contains;
using microlith::percentage_kind;
using microlith::toggle_gates;
using microlith::toggle_groups;
using microlith::toggle_snapshot;
using microlith::toggle_state;

namespace {

toggle_state toggle(std::string name, toggle_gates gates = {}) {
  toggle_state t;
  t.name = std::move(name);
  t.gates = std::move(gates);
  return t;
}

toggle_snapshot one(toggle_gates gates, toggle_groups groups = {}) {
  return toggle_snapshot{{toggle("t", std::move(gates))}, std::move(groups)};
}

std::shared_ptr<const toggle_snapshot> shared_boolean(bool on) {
  toggle_gates gates;
  gates.boolean = on;
  return std::make_shared<const toggle_snapshot>(
    std::vector<toggle_state>{toggle("t", gates), toggle("u", gates)}, toggle_groups{});
}

// Echo.Ping: answers "on" or "off" for toggle "t" as its request sees it.
struct inner_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    pb::PingReply r;
    r.set_text(ctx.enabled("t") ? "on" : "off");
    return r;
  }
};

// Echo.Ping: checks "t", then publishes a snapshot with "t" flipped (a change during the
// request), then asks "inner": answers "<outer's value> <inner's value>".
struct outer_state {
  explicit outer_state(microlith::node* n) : node_(n) {}
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    const bool mine = ctx.enabled("t");
    node_->publish_toggles(shared_boolean(!mine));
    auto p = ctx.make_promise<pb::PingReply>();
    ctx.call<pb::PingReply>("inner", "Ping", pb::PingRequest{})
      .then(
        [p, mine](const pb::PingReply& r) mutable {
          pb::PingReply out;
          out.set_text(std::string(mine ? "on" : "off") + " " + r.text());
          p.deliver(out);
        },
        [p](const caf::error& e) mutable { p.deliver(e); });
    return p;
  }
  microlith::node* node_;
};

// Echo.Ping that checks a toggle it does not declare.
struct careless_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    pb::PingReply r;
    r.set_text(ctx.enabled("nobody.declared.this") ? "on" : "off");
    return r;
  }
};

// Echo.Ping: answers the digest its call arrived with, the one it would send to another node,
// and "on" or "off" for toggle "t" (a nested call's view of a request from another node).
struct onward_digest_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    microlith::envelope onward;
    onward.meta = ctx.meta();
    pb::PingReply r;
    r.set_text(fmt::format("{:x} {:x} {}", ctx.meta().toggles_digest,
                           microlith::to_wire(onward).toggles_digest,
                           ctx.enabled("t") ? "on" : "off"));
    return r;
  }
};

// Echo.Ping: asks "onward" and answers what it answered.
struct relay_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    auto p = ctx.make_promise<pb::PingReply>();
    ctx.call<pb::PingReply>("onward", "Ping", pb::PingRequest{})
      .then([p](const pb::PingReply& r) mutable { p.deliver(r); },
            [p](const caf::error& e) mutable { p.deliver(e); });
    return p;
  }
};

} // namespace

TEST_CASE("each gate of a toggle decides alone", "[unit]") {
  SECTION("boolean") {
    toggle_gates on;
    on.boolean = true;
    CHECK(one(on).enabled("t"));
    CHECK(one(on).enabled("t", "anyone"));
    CHECK_FALSE(one(toggle_gates{}).enabled("t"));
    CHECK_FALSE(one(toggle_gates{}).enabled("t", "anyone"));
  }
  SECTION("actors") {
    toggle_gates g;
    g.actors = {{"alice", true}, {"bob", false}};
    auto s = one(g);
    CHECK(s.enabled("t", "alice"));
    CHECK_FALSE(s.enabled("t", "bob"));
    CHECK_FALSE(s.enabled("t", "carol"));
    CHECK_FALSE(s.enabled("t")); // no key: actor gates do not apply
  }
  SECTION("groups") {
    toggle_gates g;
    g.groups = {{"staff", true}};
    auto s = one(g, {{"staff", {"alice", "bob"}}, {"other", {"carol"}}});
    CHECK(s.enabled("t", "alice"));
    CHECK(s.enabled("t", "bob"));
    CHECK_FALSE(s.enabled("t", "carol"));
    CHECK_FALSE(s.enabled("t"));
  }
  SECTION("percentage of actors") {
    toggle_gates g;
    g.percentage = percentage_kind::actors;
    g.percent = 30;
    auto s = one(g);
    int on = 0;
    for (int i = 0; i < 10000; ++i) {
      auto key = "account-" + std::to_string(i);
      bool expected = microlith::toggle_actor_score("t", key) < 3000;
      REQUIRE(s.enabled("t", key) == expected);
      on += expected ? 1 : 0;
    }
    CHECK(on > 2700);
    CHECK(on < 3300);
    CHECK_FALSE(s.enabled("t")); // no key: no actor to score
  }
  SECTION("percentage of time") {
    toggle_gates g;
    g.percentage = percentage_kind::time;
    g.percent = 25;
    auto s = one(g);
    int on = 0;
    for (int i = 0; i < 20000; ++i)
      on += s.enabled("t") ? 1 : 0;
    CHECK(on > 4000);
    CHECK(on < 6000);
    g.percent = 0;
    CHECK_FALSE(one(g).enabled("t"));
    g.percent = 100;
    CHECK(one(g).enabled("t"));
  }
}

TEST_CASE("gates are checked in the order actor then group then boolean then percentage",
          "[unit]") {
  toggle_groups groups{{"staff", {"alice", "bob"}}, {"banned", {"bob"}}};
  SECTION("an actor gate that is off wins over an enabled group and the boolean") {
    toggle_gates g;
    g.boolean = true;
    g.groups = {{"staff", true}};
    g.actors = {{"alice", false}};
    CHECK_FALSE(one(g, groups).enabled("t", "alice"));
    CHECK(one(g, groups).enabled("t", "bob"));
  }
  SECTION("an actor gate that is on wins over a disabled group") {
    toggle_gates g;
    g.groups = {{"staff", false}};
    g.actors = {{"alice", true}};
    CHECK(one(g, groups).enabled("t", "alice"));
    CHECK_FALSE(one(g, groups).enabled("t", "bob"));
  }
  SECTION("a disabled group wins over the boolean and over an enabled group") {
    toggle_gates g;
    g.boolean = true;
    g.groups = {{"staff", true}, {"banned", false}};
    CHECK_FALSE(one(g, groups).enabled("t", "bob")); // in both: off wins
    CHECK(one(g, groups).enabled("t", "alice"));
    CHECK(one(g, groups).enabled("t", "zoe")); // in no group: the boolean
  }
  SECTION("an enabled group wins over the percentage") {
    toggle_gates g;
    g.groups = {{"staff", true}};
    g.percentage = percentage_kind::actors;
    g.percent = 0;
    CHECK(one(g, groups).enabled("t", "alice"));
    CHECK_FALSE(one(g, groups).enabled("t", "zoe"));
  }
  SECTION("the boolean on wins over the percentage; off lets the percentage decide") {
    toggle_gates g;
    g.boolean = true;
    g.percentage = percentage_kind::actors;
    g.percent = 0;
    CHECK(one(g).enabled("t", "zoe"));
    g.boolean = false;
    g.percent = 100;
    CHECK(one(g).enabled("t", "zoe"));
  }
}

TEST_CASE("raising the percentage of actors only adds keys", "[unit]") {
  std::vector<std::string> keys;
  for (int i = 0; i < 2000; ++i)
    keys.push_back("user" + std::to_string(i));
  std::vector<bool> before(keys.size(), false);
  for (int percent = 0; percent <= 100; percent += 5) {
    toggle_gates g;
    g.percentage = percentage_kind::actors;
    g.percent = percent;
    auto s = one(g);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      bool now = s.enabled("t", keys[i]);
      if (before[i])
        REQUIRE(now); // a key once in stays in
      before[i] = now;
      REQUIRE(s.enabled("t", keys[i]) == now); // and the same key gets the same answer
    }
  }
  // The score is FNV-1a of "t", a zero byte and the key, modulo 10000: fixed across builds.
  CHECK(microlith::toggle_actor_score("t", "user0")
        == microlith::toggle_actor_score(std::string("t"), std::string("user0")));
  CHECK(microlith::toggle_actor_score("t", "") == 4569); // 0x08c81007b56a7af9 % 10000
  CHECK(microlith::toggle_actor_score("bank.transfer_fee", "ada") == 4471);
  CHECK(microlith::toggle_actor_score("a", "b") != microlith::toggle_actor_score("b", "a"));
}

TEST_CASE("checking a toggle that is not declared is an error naming it", "[unit]") {
  auto s = one(toggle_gates{});
  CHECK_THROWS_WITH(s.enabled("bank.transfer_fe"),
                    Contains("\"bank.transfer_fe\"") && Contains("not declared"));
  CHECK_THROWS_AS(s.enabled("x", "key"), microlith::undeclared_toggle);
  CHECK_THROWS_AS(toggle_snapshot{}.enabled("t"), microlith::undeclared_toggle);
}

TEST_CASE("a snapshot of 10000 toggles finds each of them", "[unit]") {
  std::vector<toggle_state> many;
  for (int i = 0; i < 10000; ++i) {
    toggle_gates g;
    g.boolean = i % 3 == 0;
    many.push_back(toggle("area" + std::to_string(i % 7) + ".toggle_" + std::to_string(i), g));
  }
  toggle_snapshot s{many, {}};
  for (int i = 0; i < 10000; ++i)
    REQUIRE(s.enabled("area" + std::to_string(i % 7) + ".toggle_" + std::to_string(i))
            == (i % 3 == 0));
  CHECK(s.find("area0.toggle_10000") == nullptr);
}

TEST_CASE_METHOD(node_fixture, "a service that checks an undeclared toggle does not start",
                 "[unit]") {
  microlith::service_definition def =
    microlith::service<careless_state>("careless", "microlith.test.Echo")
      .handle("Ping", &careless_state::ping)
      .checks_toggles({"nobody.declared.this"});
  auto started = node.spawn(def);
  REQUIRE_FALSE(started);
  CHECK_THAT(microlith::describe(started.error()),
             Contains("careless checks toggle \"nobody.declared.this\", which is not declared"));

  SECTION("and a check at run time of an undeclared name fails the call, naming it") {
    microlith::service_definition loose =
      microlith::service<careless_state>("loose", "microlith.test.Echo")
        .handle("Ping", &careless_state::ping);
    must_spawn(node, loose);
    auto r = node.call<pb::PingReply>("loose", "Ping", pb::PingRequest{}, with(2s));
    REQUIRE_FALSE(r);
    CHECK_THAT(microlith::describe(r.error()), Contains("nobody.declared.this"));
  }
}

TEST_CASE_METHOD(node_fixture, "a change during a request is not seen by its nested calls",
                 "[unit]") {
  node.publish_toggles(shared_boolean(false));
  must_spawn(node, microlith::service<inner_state>("inner", "microlith.test.Echo")
                     .handle("Ping", &inner_state::ping)
                     .checks_toggles({"t"}));
  must_spawn(node, microlith::service<outer_state>("outer", "microlith.test.Echo", &node)
                     .handle("Ping", &outer_state::ping)
                     .checks_toggles({"t"}));

  SECTION("through a blocking call") {
    auto r = node.call<pb::PingReply>("outer", "Ping", pb::PingRequest{}, with(5s));
    REQUIRE(r);
    CHECK(r->text() == "off off");
    // The next request captures the value outer published: it sees "on" throughout.
    r = node.call<pb::PingReply>("outer", "Ping", pb::PingRequest{}, with(5s));
    REQUIRE(r);
    CHECK(r->text() == "on on");
    // And a direct call now sees what that one published.
    r = node.call<pb::PingReply>("inner", "Ping", pb::PingRequest{}, with(5s));
    REQUIRE(r);
    CHECK(r->text() == "off");
  }

  SECTION("through an async caller") {
    microlith::async_caller caller{node, "test"};
    std::promise<caf::expected<microlith::message_ptr>> answered;
    microlith::async_call_options options;
    options.timeout = 5s;
    caller.call("outer", "Ping", std::make_shared<const pb::PingRequest>(), options,
                [&](caf::expected<microlith::message_ptr> r) { answered.set_value(std::move(r)); });
    auto r = answered.get_future().get();
    caller.close();
    REQUIRE(r);
    CHECK(static_cast<const pb::PingReply&>(**r).text() == "off off");
  }

  SECTION("a snapshot given to the call is the one it sees") {
    microlith::blocking_call_options options = with(5s);
    options.toggles = shared_boolean(true);
    auto r = node.call<pb::PingReply>("inner", "Ping", pb::PingRequest{}, options);
    REQUIRE(r);
    CHECK(r->text() == "on");
  }
}

TEST_CASE_METHOD(node_fixture,
                 "a request from another node passes the digest it arrived with on to its nested "
                 "calls also when this node does not hold those values",
                 "[unit]") {
  node.publish_toggles(shared_boolean(true));
  must_spawn(node, microlith::service<onward_digest_state>("onward", "microlith.test.Echo")
                     .handle("Ping", &onward_digest_state::ping)
                     .checks_toggles({"t"}));
  auto relay = must_spawn(node, microlith::service<relay_state>("relay", "microlith.test.Echo")
                                  .handle("Ping", &relay_state::ping));
  // A digest this node never published: the values of another node (a miss here).
  const std::uint64_t elsewhere = shared_boolean(false)->digest();
  REQUIRE(node.published_toggles(elsewhere) == nullptr);
  const auto misses = node.toggle_snapshot_misses();
  microlith::metadata meta;
  meta.correlation_id = "corr-digest";
  meta.caller = "other-node";
  meta.deadline = microlith::clock::now() + 5s;
  meta.toggles_digest = elsewhere;
  caf::scoped_actor self{node.system()};
  self->send(relay, microlith::make_call(3, "relay", "Ping",
                                         std::make_shared<const pb::PingRequest>(), meta));
  bool answered = false;
  self->receive(
    [&](microlith::envelope& reply) {
      answered = true;
      REQUIRE_FALSE(reply.error);
      const auto* body = dynamic_cast<const pb::PingReply*>(reply.body.get());
      REQUIRE(body != nullptr);
      // The nested call ran with this node's current values ("t" on), and still names, and
      // would send on, the digest the request arrived with.
      CHECK(body->text() == fmt::format("{:x} {:x} on", elsewhere, elsewhere));
    },
    caf::after(10s) >> [] {});
  REQUIRE(answered);
  CHECK(node.toggle_snapshot_misses() == misses + 1);
}

TEST_CASE_METHOD(node_fixture, "threads checking while another publishes never see a torn value",
                 "[unit]") {
  // Every snapshot published has "t" and "u" equal; a reader that ever saw them differ, or
  // read freed memory (the sanitizer build), would fail.
  node.publish_toggles(shared_boolean(false));
  std::atomic<bool> stop{false};
  std::atomic<long> checks{0};
  std::atomic<long> torn{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i)
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        auto s = node.toggles();
        if (s->enabled("t") != s->enabled("u"))
          torn.fetch_add(1);
        checks.fetch_add(1, std::memory_order_relaxed);
      }
    });
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i)
      node.publish_toggles(shared_boolean(i % 2 == 0));
    stop = true;
  });
  writer.join();
  for (auto& r : readers)
    r.join();
  CHECK(torn.load() == 0);
  CHECK(checks.load() > 0);
  // The last publication (i = 19999, odd: off) is the one in force.
  CHECK_FALSE(node.toggles()->enabled("t"));
}
