// The run-time child operations of a static supervisor (supervision/src/supervisor.cpp, OTP's
// supervisor API), with OTP's answers: which_children, count_children, start_child,
// terminate_child, restart_child, delete_child. Real actors on the node's scheduler threads.
#include "test_children.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>
#include <microlith/supervision/child_error.hpp>
#include <microlith/supervision/child_operations.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_supervision;
using microlith::child_errc;
using strings = std::vector<std::string>;

namespace {

// Children a, b, c (one_for_one, intensity 1 in 60 s unless told otherwise).
microlith::supervisor_spec three_children(const std::shared_ptr<event_log>& log) {
  microlith::supervisor_spec spec{"sup"};
  spec.intensity(1, 60s);
  for (auto id : {"a", "b", "c"})
    spec.child(microlith::child(id, start_child(log, id)));
  return spec;
}

// The ids which_children answers, in its order.
strings ids_of(const std::vector<microlith::child_info>& children) {
  strings out;
  for (const auto& c : children)
    out.push_back(c.id);
  return out;
}

const microlith::child_info* find(const std::vector<microlith::child_info>& children,
                                  const std::string& id) {
  for (const auto& c : children)
    if (c.id == id)
      return &c;
  return nullptr;
}

child_errc refusal(const caf::error& err) {
  return microlith::child_error_of(err);
}

} // namespace

TEST_CASE_METHOD(supervision_fixture,
                 "which_children and count_children report every child in start order",
                 "[unit][operations]") {
  microlith::supervisor_spec sub{"inner"};
  sub.child(microlith::child("w", start_child(log, "w")));
  auto spec = three_children(log);
  spec.child(microlith::supervisor_child(sub));
  auto sup = start(spec);
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "b", "c", "inner"});
  CHECK(find(*children, "b")->actor == log->handle("b"));
  CHECK(find(*children, "inner")->kind == microlith::child_kind::supervisor);
  CHECK(find(*children, "a")->kind == microlith::child_kind::worker);
  CHECK_FALSE(find(*children, "a")->restarting);
  auto counts = microlith::count_children(node.system(), sup);
  REQUIRE(counts);
  CHECK(counts->specs == 4);
  CHECK(counts->active == 4);
  CHECK(counts->supervisors == 1);
  CHECK(counts->workers == 3);
}

TEST_CASE_METHOD(supervision_fixture, "restart_child of a running child answers running",
                 "[unit][operations]") {
  auto sup = start(three_children(log));
  auto restarted = microlith::restart_child(node.system(), sup, "b");
  REQUIRE_FALSE(restarted);
  CHECK(refusal(restarted.error()) == child_errc::running);
  auto unknown = microlith::restart_child(node.system(), sup, "nobody");
  REQUIRE_FALSE(unknown);
  CHECK(refusal(unknown.error()) == child_errc::not_found);
  // b was left alone: still its first instance.
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(find(*children, "b")->actor == log->handle("b"));
  CHECK(log->count("start b") == 1);
  CHECK(log->count("stop b") == 0);
}

TEST_CASE_METHOD(supervision_fixture,
                 "delete_child refuses a running child and an unknown id, and removes a stopped "
                 "one",
                 "[unit][operations]") {
  auto sup = start(three_children(log));
  CHECK(refusal(microlith::delete_child(node.system(), sup, "b")) == child_errc::running);
  CHECK(refusal(microlith::delete_child(node.system(), sup, "nobody")) == child_errc::not_found);
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "b", "c"});
  // Stopped, its spec can go.
  REQUIRE_FALSE(microlith::terminate_child(node.system(), sup, "b"));
  CHECK_FALSE(microlith::delete_child(node.system(), sup, "b"));
  children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "c"});
  auto again = microlith::restart_child(node.system(), sup, "b");
  REQUIRE_FALSE(again);
  CHECK(refusal(again.error()) == child_errc::not_found);
}

TEST_CASE_METHOD(supervision_fixture,
                 "terminate_child and restart_child are not counted towards the intensity",
                 "[unit][operations]") {
  // Intensity 1 within 60 s: a second restart would stop the supervisor.
  auto sup = start(three_children(log));
  for (int round = 1; round <= 3; ++round) {
    REQUIRE_FALSE(microlith::terminate_child(node.system(), sup, "b"));
    auto b = microlith::restart_child(node.system(), sup, "b");
    REQUIRE(b);
    CHECK(*b == log->handle("b"));
  }
  CHECK(log->count("stop b") == 3);
  CHECK(log->count("start b") == 4);
  // Three stops and starts later, the supervisor still runs, and the first crash is its first
  // restart (allowed) ...
  caf::anon_send(log->handle("a"), crash_atom::value);
  if (!log->wait_for("start a", 2))
    FAIL(log->dump());
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "b", "c"});
  // ... and the second its second restart: one too many.
  caf::anon_send(log->handle("a"), crash_atom::value);
  auto reason = wait_exit(node.system(), sup, 3s);
  if (!reason)
    FAIL(log->dump());
  CHECK(reason_name(*reason) == "user_shutdown");
}

TEST_CASE_METHOD(supervision_fixture,
                 "a terminated child keeps its spec, is not restarted, and restart_child starts "
                 "it again",
                 "[unit][operations]") {
  auto sup = start(three_children(log));
  auto first = log->handle("b");
  REQUIRE_FALSE(microlith::terminate_child(node.system(), sup, "b"));
  CHECK(log->reason("b") == "user_shutdown");
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "b", "c"});
  CHECK_FALSE(find(*children, "b")->actor);
  CHECK_FALSE(find(*children, "b")->restarting);
  auto counts = microlith::count_children(node.system(), sup);
  REQUIRE(counts);
  CHECK(counts->specs == 3);
  CHECK(counts->active == 2);
  CHECK(log->count("start b") == 1); // permanent, yet not restarted
  // Terminating a stopped child needs nothing.
  CHECK_FALSE(microlith::terminate_child(node.system(), sup, "b"));
  auto b = microlith::restart_child(node.system(), sup, "b");
  REQUIRE(b);
  CHECK(*b != first);
  children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(find(*children, "b")->actor == *b);
  CHECK(log->count("start b") == 2);
  CHECK(refusal(microlith::terminate_child(node.system(), sup, "nobody")) == child_errc::not_found);
}

TEST_CASE_METHOD(supervision_fixture, "terminate_child of a temporary child removes its spec",
                 "[unit][operations]") {
  auto spec = three_children(log);
  spec.child(
    microlith::child("t", start_child(log, "t")).restart(microlith::restart_type::temporary));
  auto sup = start(spec);
  REQUIRE_FALSE(microlith::terminate_child(node.system(), sup, "t"));
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "b", "c"});
}

TEST_CASE_METHOD(supervision_fixture,
                 "start_child adds a child last, and which_children and count_children show it",
                 "[unit][operations]") {
  auto sup = start(three_children(log));
  auto d = microlith::start_child(node.system(), sup, microlith::child("d", start_child(log, "d")));
  REQUIRE(d);
  CHECK(*d == log->handle("d"));
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "b", "c", "d"});
  CHECK(find(*children, "d")->actor == *d);
  auto counts = microlith::count_children(node.system(), sup);
  REQUIRE(counts);
  CHECK(counts->specs == 4);
  CHECK(counts->active == 4);
  CHECK(counts->workers == 4);
  // A spec whose id a running child has: already_started, with that child.
  auto twice =
    microlith::start_child(node.system(), sup, microlith::child("d", start_child(log, "d")));
  REQUIRE_FALSE(twice);
  CHECK(refusal(twice.error()) == child_errc::already_started);
  CHECK(microlith::running_child_of(twice.error()) == *d);
  // ... a stopped one: already_present.
  REQUIRE_FALSE(microlith::terminate_child(node.system(), sup, "d"));
  auto present =
    microlith::start_child(node.system(), sup, microlith::child("d", start_child(log, "d")));
  REQUIRE_FALSE(present);
  CHECK(refusal(present.error()) == child_errc::already_present);
  CHECK(log->count("start d") == 1);
  // The new child is last in start order: a stop takes it first.
  REQUIRE(microlith::restart_child(node.system(), sup, "d"));
  auto mark = log->size();
  microlith::signal_exit(sup, caf::exit_reason::user_shutdown);
  REQUIRE(wait_exit(node.system(), sup, 3s));
  CHECK(log->events_since(mark) == strings{"stop d", "stop c", "stop b", "stop a"});
}

TEST_CASE_METHOD(supervision_fixture, "start_child of a spec that fails to start keeps nothing",
                 "[unit][operations]") {
  auto sup = start(three_children(log));
  auto bad = microlith::start_child(
    node.system(), sup,
    microlith::child("d", failing_start(log, "d",
                                        microlith::make_error(microlith::errc::service_unavailable,
                                                              "no database"))));
  REQUIRE_FALSE(bad);
  CHECK_THAT(microlith::describe(bad.error()), Catch::Contains("no database"));
  auto children = microlith::which_children(node.system(), sup);
  REQUIRE(children);
  CHECK(ids_of(*children) == strings{"a", "b", "c"});
  // Not a restart either: the id is free again, and the supervisor runs on.
  auto d = microlith::start_child(node.system(), sup, microlith::child("d", start_child(log, "d")));
  REQUIRE(d);
  CHECK(*d == log->handle("d"));
}
