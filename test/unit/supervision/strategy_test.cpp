// Restart strategies (supervision/src/supervisor.cpp): which children are restarted when one
// exits, and in which order they are stopped and started again.
#include "test_children.hpp"

#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_supervision;
using strings = std::vector<std::string>;

namespace {

// A supervisor with children a, b, c (and more when given), tolerant enough to restart often.
microlith::supervisor_spec three_children(const std::shared_ptr<event_log>& log,
                                          microlith::strategy how) {
  microlith::supervisor_spec spec{"sup"};
  spec.strategy(how).intensity(10, 5s);
  for (auto id : {"a", "b", "c"})
    spec.child(microlith::child(id, start_child(log, id)));
  return spec;
}

} // namespace

TEST_CASE_METHOD(supervision_fixture, "the strategy decides which children restart, in order",
                 "[unit]") {
  SECTION("one_for_one: only the child that exited") {
    auto sup = start(three_children(log, microlith::strategy::one_for_one));
    auto a = log->handle("a");
    auto c = log->handle("c");
    auto mark = log->size();
    caf::anon_send(log->handle("b"), crash_atom::value);
    REQUIRE(log->wait_for("start b", 2));
    CHECK(log->events_since(mark) == strings{"stop b", "start b"});
    CHECK(log->handle("a") == a);
    CHECK(log->handle("c") == c);
    CHECK(log->reason("b") == "runtime_error");
  }

  SECTION("one_for_all: all of them, stopped in reverse and started in order") {
    auto sup = start(three_children(log, microlith::strategy::one_for_all));
    auto mark = log->size();
    caf::anon_send(log->handle("b"), crash_atom::value);
    REQUIRE(log->wait_for("start c", 2));
    CHECK(log->events_since(mark)
          == strings{"stop b", "stop c", "stop a", "start a", "start b", "start c"});
    CHECK(log->reason("a") == "user_shutdown");
    CHECK(log->reason("c") == "user_shutdown");
  }

  SECTION("rest_for_one: the child that exited and those started after it") {
    auto sup = start(three_children(log, microlith::strategy::rest_for_one));
    auto a = log->handle("a");
    auto mark = log->size();
    caf::anon_send(log->handle("b"), crash_atom::value);
    REQUIRE(log->wait_for("start c", 2));
    CHECK(log->events_since(mark) == strings{"stop b", "stop c", "start b", "start c"});
    CHECK(log->handle("a") == a);
  }

  SECTION("rest_for_one: the last child alone") {
    auto sup = start(three_children(log, microlith::strategy::rest_for_one));
    auto mark = log->size();
    caf::anon_send(log->handle("c"), crash_atom::value);
    REQUIRE(log->wait_for("start c", 2));
    CHECK(log->events_since(mark) == strings{"stop c", "start c"});
  }

  SECTION("rest_for_one: the first child takes all the others") {
    auto sup = start(three_children(log, microlith::strategy::rest_for_one));
    auto mark = log->size();
    caf::anon_send(log->handle("a"), crash_atom::value);
    REQUIRE(log->wait_for("start c", 2));
    CHECK(log->events_since(mark)
          == strings{"stop a", "stop c", "stop b", "start a", "start b", "start c"});
  }
}

TEST_CASE_METHOD(supervision_fixture,
                 "a temporary sibling stopped by a group restart is not started again", "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.strategy(microlith::strategy::one_for_all).intensity(10, 5s);
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("t", start_child(log, "t")).restart(microlith::restart_type::temporary))
    .child(microlith::child("c", start_child(log, "c")));
  auto sup = start(spec);
  auto mark = log->size();
  caf::anon_send(log->handle("a"), crash_atom::value);
  REQUIRE(log->wait_for("start c", 2));
  CHECK(log->events_since(mark) == strings{"stop a", "stop c", "stop t", "start a", "start c"});

  SECTION("and the next restart does not know it any more") {
    mark = log->size();
    caf::anon_send(log->handle("c"), crash_atom::value);
    REQUIRE(log->wait_for("start c", 3));
    CHECK(log->events_since(mark) == strings{"stop c", "stop a", "start a", "start c"});
  }
}

TEST_CASE_METHOD(supervision_fixture, "a supervisor survives many restarts of its children",
                 "[unit]") {
  microlith::strategy how = microlith::strategy::one_for_one;
  SECTION("one_for_one") {
    how = microlith::strategy::one_for_one;
  }
  SECTION("one_for_all") {
    how = microlith::strategy::one_for_all;
  }
  SECTION("rest_for_one") {
    how = microlith::strategy::rest_for_one;
  }
  auto spec = three_children(log, how);
  spec.intensity(100, 10s);
  auto sup = start(spec);
  for (std::size_t round = 1; round <= 20; ++round) {
    caf::anon_send(log->handle("b"), crash_atom::value);
    // Wait for the whole restart before the next crash.
    REQUIRE(log->wait_for("start b", round + 1));
    if (how != microlith::strategy::one_for_one)
      REQUIRE(log->wait_for("start c", round + 1));
  }
  CHECK(microlith::snapshot_of(node.system(), sup)); // still running: it answers
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  auto reason = wait_exit(node.system(), sup, 3s);
  REQUIRE(reason);
  CHECK(reason_name(*reason) == "user_shutdown");
}
