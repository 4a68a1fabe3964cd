// Starting and stopping a supervisor's children (supervision/src/supervisor.cpp): start order,
// children that signal ready, start failures, specs that cannot run, and stop order.
#include "test_children.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_supervision;
using Catch::Matchers::Contains;
using microlith::errc;
using strings = std::vector<std::string>;

TEST_CASE_METHOD(supervision_fixture, "children start in order and stop in reverse order",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};

  SECTION("children that count as started once spawned") {
    spec.child(microlith::child("a", start_child(log, "a")))
      .child(microlith::child("b", start_child(log, "b")))
      .child(microlith::child("c", start_child(log, "c")));
  }

  SECTION("children that signal ready") {
    child_mode ready{false, ready_mode::at_once, false};
    spec.child(microlith::child("a", start_child(log, "a", ready)).await_ready())
      .child(microlith::child("b", start_child(log, "b", ready)).await_ready())
      .child(microlith::child("c", start_child(log, "c", ready)).await_ready());
  }

  auto sup = start(spec);
  CHECK(log->events() == strings{"start a", "start b", "start c"});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  auto reason = wait_exit(node.system(), sup, 3s);
  REQUIRE(reason);
  CHECK(reason_name(*reason) == "user_shutdown");
  CHECK(log->events() == strings{"start a", "start b", "start c", "stop c", "stop b", "stop a"});
  CHECK(log->reason("a") == "user_shutdown");
}

TEST_CASE_METHOD(supervision_fixture, "the next child starts only once the previous is ready",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(
      microlith::child("b", start_child(log, "b", child_mode{false, ready_mode::on_command, false}))
        .await_ready())
    .child(microlith::child("c", start_child(log, "c")));
  auto starting = std::async(std::launch::async,
                             [&] { return microlith::start_supervisor(node.system(), spec); });
  REQUIRE(log->wait_for("start b"));
  // b has not said it is ready: c must wait, and so does start_supervisor.
  CHECK_FALSE(log->wait_for("start c", 1, 300ms));
  CHECK(starting.wait_for(0ms) == std::future_status::timeout);
  caf::anon_send(log->handle("b"), go_atom::value);
  REQUIRE(starting.wait_for(3s) == std::future_status::ready);
  auto sup = starting.get();
  REQUIRE(sup);
  track(*sup);
  CHECK(log->events() == strings{"start a", "start b", "start c"});
}

TEST_CASE_METHOD(supervision_fixture, "a child that fails to start fails the supervisor's start",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("b", start_child(log, "b")));
  std::string cause;

  SECTION("its start function answers an error") {
    spec.child(microlith::child(
      "c", failing_start(log, "c", microlith::make_error(errc::bad_request, "no config"))));
    cause = "bad_request: no config";
  }

  SECTION("its start function throws") {
    spec.child(microlith::child("c", throwing_start(log, "c", "no disk")));
    cause = "no disk";
  }

  SECTION("its start function answers no actor") {
    spec.child(
      microlith::child("c", [l = log](caf::event_based_actor*) -> caf::expected<caf::actor> {
        l->add("start-failed c");
        return caf::actor{};
      }));
    cause = "the start function returned no actor";
  }

  SECTION("it dies before it is ready") {
    spec.child(
      microlith::child("c", start_child(log, "c", child_mode{false, ready_mode::on_command, true}))
        .await_ready());
    cause = "failed to start";
  }

  auto sup = microlith::start_supervisor(node.system(), spec);
  REQUIRE_FALSE(sup);
  CHECK(microlith::is(sup.error(), errc::service_unavailable));
  CHECK_THAT(microlith::message_of(sup.error()),
             Contains("supervisor sup: child c failed to start"));
  CHECK_THAT(microlith::message_of(sup.error()), Contains(cause));
  // The children already started are stopped, newest first.
  auto events = log->events();
  REQUIRE(events.size() >= 4);
  CHECK(strings(events.begin(), events.begin() + 2) == strings{"start a", "start b"});
  CHECK(strings(events.end() - 2, events.end()) == strings{"stop b", "stop a"});
  CHECK(log->reason("a") == "user_shutdown");
  CHECK(log->reason("b") == "user_shutdown");
}

TEST_CASE_METHOD(supervision_fixture, "a spec that cannot run is refused", "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  std::string expected;

  SECTION("two children with one id") {
    spec.child(microlith::child("a", start_child(log, "a")))
      .child(microlith::child("a", start_child(log, "a")));
    expected = "supervisor sup: two children are called a";
  }

  SECTION("a negative intensity") {
    spec.intensity(-1, 1s);
    expected = "supervisor sup: intensity must be >= 0, got -1";
  }

  SECTION("an empty period") {
    spec.intensity(1, 0ms);
    expected = "supervisor sup: period must be > 0";
  }

  SECTION("a child without a start function") {
    spec.child(microlith::child("a", nullptr));
    expected = "supervisor sup: child a has no start function";
  }

  auto invalid = spec.validate();
  CHECK(microlith::is(invalid, errc::bad_request));
  CHECK(microlith::message_of(invalid) == expected);
  auto sup = microlith::start_supervisor(node.system(), spec);
  REQUIRE_FALSE(sup);
  CHECK(microlith::message_of(sup.error()) == expected);
  CHECK(log->events().empty());
}

TEST_CASE_METHOD(supervision_fixture, "a nested supervisor starts and stops in its place",
                 "[unit]") {
  microlith::supervisor_spec sub{"sub"};
  sub.child(microlith::child("x", start_child(log, "x")))
    .child(microlith::child("y", start_child(log, "y")));
  microlith::supervisor_spec root{"root"};
  root.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::supervisor_child(sub))
    .child(microlith::child("b", start_child(log, "b")));
  auto sup = start(root);
  CHECK(log->events() == strings{"start a", "start x", "start y", "start b"});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  REQUIRE(wait_exit(node.system(), sup, 3s));
  CHECK(log->events_since(4) == strings{"stop b", "stop y", "stop x", "stop a"});
}
