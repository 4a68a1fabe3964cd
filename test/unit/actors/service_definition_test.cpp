// Service definitions (actors/include/microlith/actors/service.hpp, service_definition.hpp,
// worker.hpp; src/service_definition.cpp): handlers checked against their Protobuf contract at
// start, states built fresh in every instance (from copies of the builder's arguments), states
// that fail to build, and workers that call services without serving any.
#include "test_services.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

using namespace std::chrono_literals;
using namespace unit_actors;
using Catch::Matchers::Contains;
using microlith::errc;

namespace {

// Handlers whose types do or do not match microlith.test.Mismatch's Convert(PingRequest) ->
// PingReply.
class converter {
public:
  microlith::reply<pb::PingReply> right(microlith::call_context&, const pb::PingRequest&) {
    return pb::PingReply{};
  }
  microlith::reply<pb::PingRequest> swapped(microlith::call_context&, const pb::PingReply&) {
    return pb::PingRequest{};
  }
  microlith::reply<pb::CountReply> other_reply(microlith::call_context&, const pb::PingRequest&) {
    return pb::CountReply{};
  }
};

// A state whose construction fails.
class broken {
public:
  explicit broken(microlith::call_context&) { throw std::runtime_error("no database"); }
  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest&) {
    return pb::PingReply{};
  }
};

// A worker that calls echo.Ping when it starts and reports the answer.
class pinger {
public:
  explicit pinger(microlith::call_context& ctx) {
    pb::PingRequest req;
    req.set_text("from " + ctx.name());
    ctx.call<pb::PingReply>("echo", "Ping", req)
      .then(
        [](const pb::PingReply& r) {
          the_probe().record("pinger.reply",
                             r.text() + "|" + r.caller() + "|" + std::to_string(r.hops()));
        },
        [](const caf::error& err) {
          the_probe().record("pinger.error", microlith::describe(err));
        });
  }
};

// An Echo whose Ping answers `prefix + text` and a count starting at `start`, both given to the
// builder; with `TakesContext`, its constructor takes the instance's context first and puts the
// instance's name before the prefix.
template <bool TakesContext>
class counted {
public:
  template <bool C = TakesContext, std::enable_if_t<!C, int> = 0>
  counted(std::string prefix, int start) : prefix_(std::move(prefix)), next_(start) {}

  template <bool C = TakesContext, std::enable_if_t<C, int> = 0>
  counted(microlith::call_context& ctx, std::string prefix, int start)
    : prefix_(ctx.name() + "/" + std::move(prefix)), next_(start) {}

  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest& req) {
    pb::PingReply out;
    out.set_text(prefix_ + req.text());
    out.set_value(next_++);
    return out;
  }

private:
  std::string prefix_;
  std::int64_t next_;
};

// A worker whose state is built from a text and reports it with its name.
class announcer {
public:
  announcer(microlith::call_context& ctx, const std::string& text) {
    the_probe().record("announcer", ctx.name() + ": " + text);
  }
};

caf::error start_error(microlith::node& n, const microlith::service_definition& def) {
  auto started = n.spawn(def);
  if (started)
    return {};
  return started.error();
}

} // namespace

TEST_CASE_METHOD(node_fixture, "a definition is checked against its contract at start", "[unit]") {
  SECTION("handlers that match start") {
    microlith::service_definition def =
      microlith::service<converter>("conv", "microlith.test.Mismatch")
        .handle("Convert", &converter::right);
    CHECK_FALSE(def.validate());
    CHECK_FALSE(start_error(node, def));
    CHECK(node.registry().snapshot()->instances("conv").size() == 1);
  }

  SECTION("a handler with other request and response types names the method and both types") {
    microlith::service_definition def =
      microlith::service<converter>("conv", "microlith.test.Mismatch")
        .handle("Convert", &converter::swapped);
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::bad_request));
    CHECK(microlith::message_of(err)
          == "service conv: method Convert is declared in microlith.test.Mismatch as "
             "(microlith.test.PingRequest) -> microlith.test.PingReply, but its handler takes "
             "(microlith.test.PingReply) -> microlith.test.PingRequest");
    CHECK(node.registry().snapshot()->instances("conv").empty());
  }

  SECTION("a handler with another response type") {
    microlith::service_definition def =
      microlith::service<converter>("conv", "microlith.test.Mismatch")
        .handle("Convert", &converter::other_reply);
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::bad_request));
    CHECK_THAT(microlith::message_of(err),
               Contains("but its handler takes (microlith.test.PingRequest) -> "
                        "microlith.test.CountReply"));
  }

  SECTION("a contract that is not linked in") {
    microlith::service_definition def =
      microlith::service<converter>("conv", "microlith.test.Nothing")
        .handle("Convert", &converter::right);
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::bad_request));
    CHECK_THAT(microlith::message_of(err),
               Contains("service conv: contract microlith.test.Nothing is not a Protobuf service"));
  }

  SECTION("a method the contract does not declare") {
    microlith::service_definition def =
      microlith::service<converter>("conv", "microlith.test.Mismatch")
        .handle("Transmute", &converter::right);
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::no_such_method));
    CHECK(microlith::message_of(err)
          == "service conv: contract microlith.test.Mismatch declares "
             "no method Transmute (it declares: Convert)");
  }

  SECTION("two handlers for one method") {
    microlith::service_definition def =
      microlith::service<converter>("conv", "microlith.test.Mismatch")
        .handle("Convert", &converter::right)
        .handle("Convert", &converter::right);
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::bad_request));
    CHECK(microlith::message_of(err) == "service conv: method Convert has two handlers");
  }

  SECTION("no name") {
    microlith::service_definition def = echo_service("");
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::bad_request));
    CHECK(microlith::message_of(err) == "a service or worker needs a name");
  }

  SECTION("handlers without a contract") {
    microlith::service_definition def = echo_service("echo");
    def.contract.clear();
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::bad_request));
    CHECK(microlith::message_of(err) == "echo: handlers need a contract (a Protobuf service name)");
  }

  SECTION("no state factory") {
    microlith::service_definition def = echo_service("echo");
    def.make_state = nullptr;
    auto err = start_error(node, def);
    CHECK(microlith::is(err, errc::bad_request));
    CHECK(microlith::message_of(err) == "echo: no state factory");
  }

  SECTION("start() refuses it the same way, without spawning anything") {
    microlith::service_definition def =
      microlith::service<converter>("conv", "microlith.test.Mismatch")
        .handle("Convert", &converter::swapped);
    auto started = node.start(def, caf::actor{});
    REQUIRE_FALSE(started);
    CHECK(microlith::is(started.error(), errc::bad_request));
  }
}

TEST_CASE_METHOD(node_fixture, "a state that fails to build fails the start", "[unit]") {
  microlith::service_definition def =
    microlith::service<broken>("broken", "microlith.test.Echo").handle("Ping", &broken::ping);
  auto err = start_error(node, def);
  CHECK(microlith::is(err, errc::service_unavailable));
  CHECK_THAT(microlith::message_of(err), Contains("broken failed to start"));
  CHECK(node.registry().snapshot()->instances("broken").empty());
}

// The exception's message is in the exit reason's context, which describe() renders after the
// code: node::spawn() reports "broken failed to start: caf: runtime_error: broken failed to
// start: no database".
TEST_CASE_METHOD(node_fixture, "a failed start names its cause", "[unit]") {
  microlith::service_definition def =
    microlith::service<broken>("broken", "microlith.test.Echo").handle("Ping", &broken::ping);
  auto err = start_error(node, def);
  CHECK(microlith::message_of(err)
        == "broken failed to start: caf: runtime_error: broken failed to start: no database");
}

TEST_CASE_METHOD(node_fixture, "every instance builds its own state", "[unit]") {
  auto first = must_spawn(node, echo_service("echo"));
  pb::SetRequest set;
  set.set_key("k");
  set.set_value(9);
  REQUIRE(node.cast("echo", "Remember", set));
  pb::GetRequest get;
  get.set_key("k");
  auto before = node.call<pb::PingReply>("echo", "Recall", get);
  REQUIRE(before);
  CHECK(before->value() == 9);

  caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
  REQUIRE(wait_down(node, first, 2s));
  auto second = must_spawn(node, echo_service("echo"));
  auto after = node.call<pb::PingReply>("echo", "Recall", get);
  REQUIRE(after);
  CHECK(after->instance() == second.id());
  CHECK(after->value() == 0);
}

TEST_CASE_METHOD(node_fixture,
                 "a state is built from copies of the builder's arguments in every instance",
                 "[unit]") {
  auto check = [&](const microlith::service_definition& def, const std::string& prefix) {
    auto first = must_spawn(node, def);
    for (std::int64_t expected : {10, 11}) {
      auto reply = node.call<pb::PingReply>("counted", "Ping", ping("x"));
      REQUIRE(reply);
      CHECK(reply->text() == prefix + "x");
      CHECK(reply->value() == expected);
    }
    // A new instance of the same definition starts from its own copy of the arguments: the
    // first instance moved its copy of the prefix away and counted on.
    caf::anon_send_exit(first, caf::exit_reason::user_shutdown);
    REQUIRE(wait_down(node, first, 2s));
    must_spawn(node, def);
    auto reply = node.call<pb::PingReply>("counted", "Ping", ping("y"));
    REQUIRE(reply);
    CHECK(reply->text() == prefix + "y");
    CHECK(reply->value() == 10);
  };
  SECTION("a state that takes the context first") {
    check(microlith::service<counted<true>>("counted", "microlith.test.Echo", std::string{"a:"}, 10)
            .handle("Ping", &counted<true>::ping),
          "counted/a:");
  }
  SECTION("a state that takes only the arguments") {
    check(
      microlith::service<counted<false>>("counted", "microlith.test.Echo", std::string{"a:"}, 10)
        .handle("Ping", &counted<false>::ping),
      "a:");
  }
}

TEST_CASE_METHOD(node_fixture, "a worker's state is built from the worker's arguments", "[unit]") {
  must_spawn(node, microlith::worker<announcer>("announcer", std::string{"hello"}));
  auto built = the_probe().wait_for("announcer", 2s);
  REQUIRE(built);
  CHECK(built->text == "announcer: hello");
}

TEST_CASE_METHOD(node_fixture, "a worker calls services and serves none", "[unit]") {
  must_spawn(node, echo_service("echo"));
  auto def = microlith::worker<pinger>("pinger");
  CHECK(def.contract.empty());
  must_spawn(node, def);
  auto reply = the_probe().wait_for("pinger.reply", 2s);
  REQUIRE(reply);
  CHECK(reply->text == "from pinger|pinger|1");
  CHECK_FALSE(the_probe().wait_for("pinger.error", 0ms));
  CHECK(node.registry().snapshot()->entries().count("pinger") == 0);
}
