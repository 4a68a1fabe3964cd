// Restart intensity and escalation (supervision/src/supervisor.cpp): more than `intensity`
// restarts within `period` make a supervisor stop its children and exit, and its own supervisor
// then decides, up to the top.
#include "test_children.hpp"

#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_supervision;
using strings = std::vector<std::string>;

TEST_CASE_METHOD(supervision_fixture,
                 "more restarts than the intensity within the period stop the supervisor",
                 "[unit]") {
  int intensity = 0;
  SECTION("intensity 0: the first exit is too many") {
    intensity = 0;
  }
  SECTION("intensity 2: the third exit is too many") {
    intensity = 2;
  }
  microlith::supervisor_spec spec{"sup"};
  spec.intensity(intensity, 5s);
  for (auto id : {"a", "b", "c"})
    spec.child(microlith::child(id, start_child(log, id)));
  auto sup = start(spec);
  for (int i = 1; i <= intensity; ++i) {
    caf::anon_send(log->handle("b"), crash_atom::value);
    if (!log->wait_for("start b", static_cast<std::size_t>(i) + 1))
      FAIL(log->dump());
  }
  auto mark = log->size();
  caf::anon_send(log->handle("b"), crash_atom::value);
  auto reason = wait_exit(node.system(), sup, 3s);
  if (!reason)
    FAIL(log->dump());
  CHECK(reason_name(*reason) == "user_shutdown");
  // b is not restarted; the others are stopped newest first.
  CHECK(log->events_since(mark) == strings{"stop b", "stop c", "stop a"});
  CHECK(log->count("start b") == static_cast<std::size_t>(intensity) + 1);
  CHECK(log->reason("a") == "user_shutdown");
  CHECK(log->reason("c") == "user_shutdown");
}

TEST_CASE_METHOD(supervision_fixture, "restarts older than the period are forgotten", "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.intensity(1, 500ms);
  spec.child(microlith::child("a", start_child(log, "a")));
  auto sup = start(spec);
  caf::anon_send(log->handle("a"), crash_atom::value);
  REQUIRE(log->wait_for("start a", 2));
  // Let the first restart age beyond the period: the second one is then the only one within it.
  std::this_thread::sleep_for(650ms);
  caf::anon_send(log->handle("a"), crash_atom::value);
  REQUIRE(log->wait_for("start a", 3));
  CHECK(microlith::snapshot_of(node.system(), sup)); // still running: it answers

  SECTION("while two quick ones in a row are one too many") {
    caf::anon_send(log->handle("a"), crash_atom::value);
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK(reason_name(*reason) == "user_shutdown");
    CHECK(log->count("start a") == 3);
  }
}

TEST_CASE_METHOD(supervision_fixture, "a supervisor that gives up escalates to its parent",
                 "[unit]") {
  // root (one_for_one, at most 1 restart in 5 s)
  //   a
  //   sub (at most 1 restart in 5 s)
  //     w
  microlith::supervisor_spec sub{"sub"};
  sub.intensity(1, 5s);
  sub.child(microlith::child("w", start_child(log, "w")));
  microlith::supervisor_spec root{"root"};
  root.intensity(1, 5s);
  root.child(microlith::child("a", start_child(log, "a")))
    .child(recorded_supervisor_child(log, sub));
  auto sup = start(root);
  CHECK(log->events() == strings{"start a", "start sub", "start w"});

  // w crashes once: sub restarts it.
  caf::anon_send(log->handle("w"), crash_atom::value);
  REQUIRE(log->wait_for("start w", 2));
  CHECK(log->count("start sub") == 1);

  // w crashes again: sub gives up, and root restarts sub (its first restart), which starts w.
  caf::anon_send(log->handle("w"), crash_atom::value);
  REQUIRE(log->wait_gone("sub", 1));
  REQUIRE(log->wait_for("start sub", 2));
  REQUIRE(log->wait_for("start w", 3));
  CHECK(microlith::snapshot_of(node.system(), sup)); // root runs on: it answers
  CHECK(log->count("start a") == 1);

  SECTION("and when it gives up again, the parent exceeds its own intensity and gives up too") {
    caf::anon_send(log->handle("w"), crash_atom::value);
    REQUIRE(log->wait_for("start w", 4));
    auto mark = log->size();
    caf::anon_send(log->handle("w"), crash_atom::value);
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK(reason_name(*reason) == "user_shutdown");
    CHECK(log->count("start sub") == 2);
    // w crashed and sub stopped nothing else; root then stopped a.
    CHECK(log->events_since(mark) == strings{"stop w", "stop a"});
  }
}
