// Restarts that go wrong (supervision/src/supervisor.cpp): a restart that fails to start is
// retried through the supervisor's mailbox and counts against the intensity; children that exit
// while the supervisor is busy stopping or starting others.
#include "test_children.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_supervision;
using microlith::errc;
using strings = std::vector<std::string>;

namespace {

// Incarnations from `first_bad` to `last_bad` die before they are ready.
mode_plan dies_between(int first_bad, int last_bad) {
  return [=](int incarnation) {
    child_mode mode;
    mode.ready = ready_mode::at_once;
    mode.die_at_start = incarnation >= first_bad && incarnation <= last_bad;
    return mode;
  };
}

// Starts a child normally the first time, then refuses every start.
microlith::start_function refuses_after_first(std::shared_ptr<event_log> log, std::string id) {
  auto starts = std::make_shared<int>(0);
  auto good = start_child(log, id);
  auto bad = failing_start(log, id, microlith::make_error(errc::service_unavailable, "no db"));
  return [starts, good, bad](caf::event_based_actor* sup) {
    return ++*starts == 1 ? good(sup) : bad(sup);
  };
}

} // namespace

TEST_CASE_METHOD(supervision_fixture,
                 "a restart that fails is retried and counts against the intensity", "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.intensity(2, 5s);

  SECTION("a child that dies before it is ready, once: retried until it starts") {
    spec.child(microlith::child("w", start_child(log, "w", dies_between(2, 2))).await_ready());
    spec.child(microlith::child("s", start_child(log, "s")));
    auto sup = start(spec);
    caf::anon_send(log->handle("w"), crash_atom::value);
    REQUIRE(log->wait_for("start w", 3));
    // Two restarts so far (the failed one included): the supervisor lives on.
    CHECK(microlith::snapshot_of(node.system(), sup)); // still running: it answers
    // A crash of s makes the third restart within the period: one too many.
    caf::anon_send(log->handle("s"), crash_atom::value);
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK(reason_name(*reason) == "user_shutdown");
    CHECK(log->count("start w") == 3);
  }

  SECTION("a child that keeps dying before it is ready: the supervisor gives up") {
    spec.child(microlith::child("w", start_child(log, "w", dies_between(2, 100))).await_ready());
    spec.child(microlith::child("s", start_child(log, "s")));
    auto sup = start(spec);
    auto mark = log->size();
    caf::anon_send(log->handle("w"), crash_atom::value);
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK(reason_name(*reason) == "user_shutdown");
    CHECK(log->count("start w") == 3);
    CHECK(log->events_since(mark)
          == strings{"stop w", "start w", "stop w", "start w", "stop w", "stop s"});
  }

  SECTION("a start function that keeps refusing: the supervisor gives up") {
    spec.child(microlith::child("w", refuses_after_first(log, "w")));
    spec.child(microlith::child("s", start_child(log, "s")));
    auto sup = start(spec);
    auto mark = log->size();
    caf::anon_send(log->handle("w"), crash_atom::value);
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK(reason_name(*reason) == "user_shutdown");
    CHECK(log->events_since(mark)
          == strings{"stop w", "start-failed w", "start-failed w", "stop s"});
  }
}

// A child whose exit arrives while the supervisor waits for another child to stop (or start) is
// set aside for later, but it keeps its handle: when the supervisor later comes to stop that
// child, it asks the dead actor to stop and waits for a down message that it has already
// received. The supervisor then hangs: it never finishes the restart or the shutdown.
TEST_CASE_METHOD(supervision_fixture,
                 "a child that exits while the supervisor is busy is not waited for", "[unit]") {
  SECTION("during a one_for_all restart") {
    microlith::supervisor_spec spec{"sup"};
    spec.strategy(microlith::strategy::one_for_all).intensity(10, 5s);
    spec.child(microlith::child("a", start_child(log, "a")))
      .child(microlith::child("b", start_child(log, "b")))
      .child(microlith::child("t", start_child(log, "t", child_mode{true, ready_mode::none, false}))
               .shutdown(300ms));
    auto sup = start(spec);
    caf::anon_send(log->handle("a"), crash_atom::value);
    // The supervisor is stopping t, which makes it wait up to 300 ms; b crashes meanwhile.
    REQUIRE(log->wait_for("exit-signal t"));
    caf::anon_send(log->handle("b"), crash_atom::value);
    CHECK(log->wait_for("start t", 2, 3s));
    CHECK(log->count("start a") == 2);
    CHECK(log->count("start b") == 2);
  }

  SECTION("during the start, when a later child fails to start") {
    microlith::supervisor_spec spec{"sup"};
    spec.child(microlith::child("a", start_child(log, "a")))
      .child(microlith::child(
               "b", start_child(log, "b", child_mode{false, ready_mode::on_command, false}))
               .await_ready());
    auto self = caf::scoped_actor{node.system()};
    auto sup = microlith::spawn_supervisor(node.system(), spec, caf::actor{self});
    track(sup);
    REQUIRE(log->wait_for("start b"));
    // a dies while the supervisor waits for b to be ready; then b fails to start.
    caf::anon_send(log->handle("a"), crash_atom::value);
    REQUIRE(log->wait_gone("a", 1));
    caf::anon_send(log->handle("b"), crash_atom::value);
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK_THAT(microlith::message_of(*reason),
               Catch::Matchers::Contains("child b failed to start"));
  }
}
