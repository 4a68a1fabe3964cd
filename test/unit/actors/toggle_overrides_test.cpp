// Per-call toggle overrides in the kernel (toggles.hpp, actors/src/override_gate.cpp,
// call_context::enabled): an override applies to its call and to every call its handler makes,
// and to no other call; overrides given to a call are checked against the declared toggles;
// strict mode fails a call that checks a toggle without an override, and the service goes on;
// a node that does not honour overrides drops and counts them; the wire carries them.
#include "test_services.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/envelope.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/actors/toggles.hpp>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include <catch2/catch.hpp>

#include <future>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using Catch::Matchers::Contains;
using microlith::errc;
using microlith::toggle_gates;
using microlith::toggle_groups;
using microlith::toggle_overrides;
using microlith::toggle_snapshot;
using microlith::toggle_state;

namespace {

// Toggles "t" and "u", both off.
std::shared_ptr<const toggle_snapshot> both_off() {
  toggle_state t;
  t.name = "t";
  toggle_state u;
  u.name = "u";
  return std::make_shared<const toggle_snapshot>(std::vector<toggle_state>{t, u}, toggle_groups{});
}

// Echo.Ping: answers "on" or "off" for toggle "t" as its request sees it (for actor "ada" when
// the request's text is "ada").
struct leaf_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req) {
    pb::PingReply r;
    const bool on = req.text().empty() ? ctx.enabled("t") : ctx.enabled("t", req.text());
    r.set_text(on ? "on" : "off");
    return r;
  }
};

// Echo.Ping: checks "t", asks "leaf", answers "<its value> <leaf's value>".
struct branch_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req) {
    const bool mine = ctx.enabled("t");
    auto p = ctx.make_promise<pb::PingReply>();
    ctx.call<pb::PingReply>("leaf", "Ping", req)
      .then(
        [p, mine](const pb::PingReply& r) mutable {
          pb::PingReply out;
          out.set_text(std::string(mine ? "on" : "off") + " " + r.text());
          p.deliver(out);
        },
        [p](const caf::error& e) mutable { p.deliver(e); });
    return p;
  }
};

// Echo.Ping: asks "leaf" first, then checks "u" in the continuation.
struct late_checker_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    auto p = ctx.make_promise<pb::PingReply>();
    ctx.call<pb::PingReply>("leaf", "Ping", pb::PingRequest{})
      .then(
        [p, ctx](const pb::PingReply& r) mutable {
          pb::PingReply out;
          out.set_text(r.text() + (ctx.enabled("u") ? " on" : " off"));
          p.deliver(out);
        },
        [p](const caf::error& e) mutable { p.deliver(e); });
    return p;
  }
};

// Echo.Ping that checks a toggle nobody declared.
struct careless_state {
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    pb::PingReply r;
    r.set_text(ctx.enabled("nobody.declared.this") ? "on" : "off");
    return r;
  }
};

struct overrides_fixture : node_fixture {
  overrides_fixture() {
    node.publish_toggles(both_off());
    leaf = must_spawn(node, microlith::service<leaf_state>("leaf", "microlith.test.Echo")
                              .handle("Ping", &leaf_state::ping)
                              .checks_toggles({"t"}));
    branch = must_spawn(node, microlith::service<branch_state>("branch", "microlith.test.Echo")
                                .handle("Ping", &branch_state::ping)
                                .checks_toggles({"t"}));
  }

  // A blocking call of `service` with `overrides`; answers the reply's text or the error's
  // description.
  std::string ask(const std::string& service, toggle_overrides overrides,
                  pb::PingRequest req = {}) {
    auto options = with(5s);
    options.toggle_overrides = std::move(overrides);
    auto r = node.call<pb::PingReply>(service, "Ping", req, options);
    return r ? r->text() : "error: " + microlith::describe(r.error());
  }

  // The same through an async caller.
  caf::expected<microlith::message_ptr> ask_async(const std::string& service,
                                                  toggle_overrides overrides) {
    microlith::async_caller caller{node, "test"};
    std::promise<caf::expected<microlith::message_ptr>> answered;
    microlith::async_call_options options;
    options.timeout = 5s;
    caller.call(service, "Ping", std::make_shared<const pb::PingRequest>(), std::move(options),
                std::move(overrides),
                [&](caf::expected<microlith::message_ptr> r) { answered.set_value(std::move(r)); });
    auto r = answered.get_future().get();
    caller.close();
    return r;
  }

  caf::actor leaf;
  caf::actor branch;
};

std::string text_of(const caf::expected<microlith::message_ptr>& r) {
  if (!r)
    return "error: " + microlith::describe(r.error());
  return static_cast<const pb::PingReply&>(**r).text();
}

} // namespace

TEST_CASE_METHOD(overrides_fixture,
                 "an override applies to its call and the nested calls of its handler only",
                 "[unit]") {
  node.set_toggle_override_policy({true, false});

  SECTION("through a blocking call") {
    CHECK(ask("branch", {{"t", true}}) == "on on");
    CHECK(ask("branch", {}) == "off off");
  }
  SECTION("through an async caller") {
    CHECK(text_of(ask_async("branch", {{"t", true}})) == "on on");
    CHECK(text_of(ask_async("branch", {})) == "off off");
  }
  SECTION("over an actor gate of the same toggle") {
    toggle_state t;
    t.name = "t";
    t.gates.actors.emplace("ada", true);
    toggle_state u;
    u.name = "u";
    node.publish_toggles(
      std::make_shared<const toggle_snapshot>(std::vector<toggle_state>{t, u}, toggle_groups{}));
    CHECK(ask("leaf", {}, ping("ada")) == "on");
    CHECK(ask("leaf", {{"t", false}}, ping("ada")) == "off");
  }
  SECTION("while calls without overrides run at the same time") {
    // Two threads call at once, one with t=on, one with nothing: each sees its own value on
    // every call, and the node's value (off) never leaks into the first, nor the override into
    // the second.
    std::vector<std::string> with_override;
    std::vector<std::string> without;
    std::thread a{[&] {
      for (int i = 0; i < 100; ++i)
        with_override.push_back(ask("branch", {{"t", true}}));
    }};
    std::thread b{[&] {
      for (int i = 0; i < 100; ++i)
        without.push_back(ask("branch", {}));
    }};
    a.join();
    b.join();
    CHECK(with_override == std::vector<std::string>(100, "on on"));
    CHECK(without == std::vector<std::string>(100, "off off"));
  }
  CHECK(node.override_counts().ignored == 0);
}

TEST_CASE_METHOD(overrides_fixture,
                 "overrides given to a call are checked against the declared toggles", "[unit]") {
  node.set_toggle_override_policy({true, false});

  SECTION("a name that is not declared") {
    auto said = ask("branch", {{"t", true}, {"no.such_toggle", false}});
    CHECK_THAT(said, Contains("invalid_argument"));
    CHECK_THAT(said, Contains("toggle override \"no.such_toggle\": not a declared toggle"));
    auto r = ask_async("branch", {{"no.such_toggle", true}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::invalid_argument));
    CHECK_THAT(microlith::message_of(r.error()), Contains("\"no.such_toggle\""));
  }
  SECTION("a name given twice") {
    auto said = ask("branch", {{"t", true}, {"t", false}});
    CHECK_THAT(said, Contains("toggle override \"t\": given more than once"));
  }
  SECTION("more than the bound") {
    toggle_overrides many(microlith::max_toggle_overrides + 1, {"t", true});
    auto said = ask("branch", many);
    CHECK_THAT(said, Contains("33 toggle overrides given; a call carries at most 32"));
  }
}

TEST_CASE_METHOD(overrides_fixture,
                 "strict mode fails a call that checks a toggle without an override and the "
                 "service goes on",
                 "[unit]") {
  node.set_toggle_override_policy({true, true});
  REQUIRE(node.override_policy().required);

  SECTION("in the handler") {
    auto said = ask("branch", {});
    CHECK_THAT(said, Contains("failed_precondition"));
    CHECK_THAT(said, Contains("toggle \"t\" has no override in this call and [toggles] "
                              "require_override = true"));
    // Not a crash: the same instance answers the next call, which picked a value.
    CHECK(ask("branch", {{"t", false}}) == "off off");
    CHECK(ask("branch", {{"t", true}}) == "on on");
    CHECK(node.registry().resolve("branch") == branch);
  }
  SECTION("in a continuation") {
    auto late =
      must_spawn(node, microlith::service<late_checker_state>("late", "microlith.test.Echo")
                         .handle("Ping", &late_checker_state::ping)
                         .checks_toggles({"t", "u"}));
    auto said = ask("late", {{"t", true}});
    CHECK_THAT(said, Contains("failed_precondition"));
    CHECK_THAT(said, Contains("toggle \"u\" has no override"));
    CHECK(ask("late", {{"t", true}, {"u", false}}) == "on off");
    CHECK(node.registry().resolve("late") == late);
  }
  SECTION("a name that is not declared is still undeclared_toggle") {
    must_spawn(node, microlith::service<careless_state>("careless", "microlith.test.Echo")
                       .handle("Ping", &careless_state::ping));
    CHECK_THAT(ask("careless", {{"t", true}}),
               Contains("\"nobody.declared.this\" is not declared"));
  }
}

TEST_CASE_METHOD(overrides_fixture,
                 "overrides are dropped and counted when the node does not honour them", "[unit]") {
  REQUIRE_FALSE(node.override_policy().honoured);
  CHECK(ask("branch", {{"t", true}}) == "off off");
  CHECK(node.override_counts().ignored == 1);
  CHECK(text_of(ask_async("branch", {{"t", true}})) == "off off");
  CHECK(node.override_counts().ignored == 2);
  // Not even checked: an undeclared name is not an error then.
  CHECK(ask("branch", {{"no.such_toggle", true}}) == "off off");
  CHECK(node.override_counts().ignored == 3);
  // A call without overrides is not counted.
  CHECK(ask("branch", {}) == "off off");
  CHECK(node.override_counts().ignored == 3);
  // Strict mode needs honoured overrides: asked alone, it is off.
  node.set_toggle_override_policy({false, true});
  CHECK_FALSE(node.override_policy().required);
  CHECK(ask("branch", {}) == "off off");
}

TEST_CASE_METHOD(overrides_fixture,
                 "overrides arriving from another node are checked against this node's toggles",
                 "[unit]") {
  // The wire form carries them; the endpoint a request enters through drops and counts what
  // this node does not declare or honour.
  microlith::envelope env;
  env.kind = microlith::envelope_kind::call;
  env.service = "leaf";
  env.method = "Ping";
  env.body = std::make_shared<const pb::PingRequest>();
  env.meta.toggle_overrides = std::make_shared<const toggle_overrides>(
    toggle_overrides{{"t", true}, {"elsewhere.only", true}});
  std::vector<char> buffer;
  caf::binary_serializer sink{node.system(), buffer};
  REQUIRE_FALSE(sink(env));
  microlith::envelope arrived;
  caf::binary_deserializer source{node.system(), buffer};
  REQUIRE_FALSE(source(arrived));
  REQUIRE(arrived.meta.toggle_overrides);
  CHECK(*arrived.meta.toggle_overrides == *env.meta.toggle_overrides);
  CHECK_FALSE(arrived.meta.toggles);

  auto send = [&](microlith::envelope e) {
    caf::scoped_actor self{node.system()};
    e.call_id = 7;
    std::string text;
    self->send(leaf, std::move(e));
    self->receive(
      [&](microlith::envelope& reply) {
        text = reply.error ? "error: " + microlith::describe(reply.error)
                           : static_cast<const pb::PingReply&>(*reply.body).text();
      },
      caf::after(5s) >> [&] { text = "no answer"; });
    return text;
  };
  SECTION("honoured") {
    node.set_toggle_override_policy({true, false});
    CHECK(send(arrived) == "on");
    CHECK(node.override_counts().undeclared == 1);
    CHECK(node.override_counts().ignored == 0);
  }
  SECTION("not honoured") {
    CHECK(send(arrived) == "off");
    CHECK(node.override_counts().ignored == 1);
    CHECK(node.override_counts().undeclared == 0);
  }
}
