// The supervisor stepped by hand on CAF's deterministic test scheduler: every message is
// delivered by `sched.run()` on the test thread and timers fire only on `trigger_timeouts()`, so
// each decision is checked at the exact point where it is made, without any waiting.
#include "test_children.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/supervision/snapshot.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_supervision;
using strings = std::vector<std::string>;

namespace {

struct stepped_fixture {
  static caf::actor_system_config& prepare(caf::actor_system_config& cfg) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    microlith::register_error_category(cfg);
    return cfg;
  }

  stepped_fixture()
    : sys(prepare(cfg)), sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {}

  ~stepped_fixture() {
    for (auto& sup : supervisors)
      caf::anon_send_exit(sup, caf::exit_reason::kill);
    sched.run();
    supervisors.clear();
    log->drop_handles();
  }

  stepped_fixture(const stepped_fixture&) = delete;
  stepped_fixture& operator=(const stepped_fixture&) = delete;

  // Spawns a supervisor and runs until it is idle; its exit is recorded as "exit sup <reason>".
  caf::actor spawn(microlith::supervisor_spec spec) {
    auto sup = microlith::spawn_supervisor(sys, std::move(spec));
    sup->attach_functor(
      [l = log](const caf::error& reason) { l->add("exit sup " + reason_name(reason)); });
    supervisors.push_back(sup);
    sched.run();
    return sup;
  }

  // Sends `x` to child `id` and runs until everything is idle.
  template <class T>
  void tell(const std::string& id, T x) {
    caf::anon_send(log->handle(id), x);
    sched.run();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<event_log> log = std::make_shared<event_log>();
  std::vector<caf::actor> supervisors;
};

} // namespace

TEST_CASE_METHOD(stepped_fixture, "stepped: the strategy decides which children restart",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.intensity(10, 5s);
  for (auto id : {"a", "b", "c"})
    spec.child(microlith::child(id, start_child(log, id)));
  strings expected;

  SECTION("one_for_one") {
    spec.strategy(microlith::strategy::one_for_one);
    expected = {"stop b", "start b"};
  }
  SECTION("one_for_all") {
    spec.strategy(microlith::strategy::one_for_all);
    expected = {"stop b", "stop c", "stop a", "start a", "start b", "start c"};
  }
  SECTION("rest_for_one") {
    spec.strategy(microlith::strategy::rest_for_one);
    expected = {"stop b", "stop c", "start b", "start c"};
  }

  spawn(spec);
  REQUIRE(log->events() == strings{"start a", "start b", "start c"});
  tell("b", crash_atom::value);
  CHECK(log->events_since(3) == expected);
}

TEST_CASE_METHOD(stepped_fixture, "stepped: a restart beyond the intensity stops everything",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.intensity(1, 5s);
  for (auto id : {"a", "b", "c"})
    spec.child(microlith::child(id, start_child(log, id)));
  spawn(spec);
  tell("a", crash_atom::value);
  CHECK(log->events_since(3) == strings{"stop a", "start a"});
  tell("b", crash_atom::value);
  CHECK(log->events_since(5) == strings{"stop b", "stop c", "stop a", "exit sup user_shutdown"});
}

TEST_CASE_METHOD(stepped_fixture,
                 "stepped: a child that ignores the request to stop is killed when its time is up",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("t", start_child(log, "t", ignores_stop)).shutdown(30s))
    .child(microlith::child("c", start_child(log, "c")));
  auto sup = spawn(spec);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  // t ignored the request: nothing more happens until its shutdown time is up.
  CHECK(log->events_since(3) == strings{"stop c", "exit-signal t"});
  sched.trigger_timeouts();
  sched.run();
  CHECK(log->events_since(3)
        == strings{"stop c", "exit-signal t", "stop t", "stop a", "exit sup user_shutdown"});
  CHECK(log->reason("t") == "kill");
}

TEST_CASE_METHOD(stepped_fixture,
                 "stepped: a child with shutdown infinity is waited for, never killed", "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("t", start_child(log, "t", ignores_stop)).shutdown_infinity());
  auto sup = spawn(spec);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  CHECK(log->events_since(2) == strings{"exit-signal t"});
  // Every timer the supervisor may have set fires now, however far off: none kills t.
  sched.trigger_timeouts();
  sched.run();
  CHECK(log->events_since(2) == strings{"exit-signal t"});
  // t stops when it chooses; then a, then the supervisor.
  tell("t", finish_atom::value);
  CHECK(log->events_since(2)
        == strings{"exit-signal t", "stop t", "stop a", "exit sup user_shutdown"});
  CHECK(log->reason("t") == "normal");
}

TEST_CASE_METHOD(stepped_fixture,
                 "stepped: a transient supervisor child that gives up is not restarted", "[unit]") {
  // root: a, then sub (transient, at most 0 restarts): w
  microlith::supervisor_spec sub{"sub"};
  sub.intensity(0, 5s);
  sub.child(microlith::child("w", start_child(log, "w")));
  microlith::supervisor_spec root{"root"};
  root.intensity(0, 5s); // a restart of sub would make root give up too
  root.child(microlith::child("a", start_child(log, "a")))
    .child(recorded_supervisor_child(log, sub).restart(microlith::restart_type::transient));
  spawn(root);
  REQUIRE(log->events() == strings{"start a", "start sub", "start w"});
  // w crashes: sub gives up (exits with shutdown, a normal exit), and root leaves it stopped.
  tell("w", crash_atom::value);
  CHECK(log->events_since(3) == strings{"stop w"});
  CHECK(log->count("start sub") == 1);
  CHECK(log->wait_gone("sub", 1, std::chrono::milliseconds{0})); // done in sched.run()
  // root runs on, a untouched: a crash of a is root's first restart, beyond its intensity 0.
  tell("a", crash_atom::value);
  CHECK(log->events_since(3) == strings{"stop w", "stop a", "exit sup user_shutdown"});
}

TEST_CASE_METHOD(stepped_fixture,
                 "stepped: a backoff delays every sibling the strategy restarts, and counts once",
                 "[unit]") {
  microlith::backoff_spec backoff;
  backoff.min = 1s;
  backoff.max = 1s;
  backoff.jitter = 0.0;
  microlith::supervisor_spec spec{"sup"};
  spec.strategy(microlith::strategy::one_for_all).intensity(1, 60s).backoff(backoff);
  for (auto id : {"a", "b", "c"})
    spec.child(microlith::child(id, start_child(log, id)));
  auto sup = spawn(spec);
  REQUIRE(log->events() == strings{"start a", "start b", "start c"});
  // b crashes: the others stop at once, and nobody starts before the delay is over.
  tell("b", crash_atom::value);
  CHECK(log->events_since(3) == strings{"stop b", "stop c", "stop a"});
  // All three are reported waiting out the delay.
  microlith::tree_snapshot tree;
  sys.spawn(
    [&tree, sup](caf::event_based_actor* self, int) {
      self->request(sup, caf::infinite, microlith::snapshot_atom::value)
        .then([&tree](microlith::tree_snapshot& t) { tree = std::move(t); }, [](caf::error&) {});
    },
    0);
  sched.run();
  REQUIRE(tree.children.size() == 3);
  for (const auto& c : tree.children) {
    INFO(c.id);
    CHECK(c.state == "backing_off");
  }
  sched.trigger_timeouts();
  sched.run();
  // All three wait the same delay, then start in start order: one restart, counted once.
  CHECK(log->events_since(6) == strings{"start a", "start b", "start c"});
  // A second crash within the period is the second restart: beyond intensity 1, the
  // supervisor gives up at once, without a backoff delay.
  tell("c", crash_atom::value);
  CHECK(log->events_since(9) == strings{"stop c", "stop b", "stop a", "exit sup user_shutdown"});
}

TEST_CASE_METHOD(stepped_fixture, "stepped: the next child starts only once the previous is ready",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec
    .child(
      microlith::child("a", start_child(log, "a", child_mode{false, ready_mode::on_command, false}))
        .await_ready())
    .child(microlith::child("b", start_child(log, "b")));
  spawn(spec);
  CHECK(log->events() == strings{"start a"});
  tell("a", go_atom::value);
  CHECK(log->events() == strings{"start a", "start b"});
}

// The same defect as in failed_restart_test.cpp, here without any timing: b's exit arrives while
// the supervisor waits for t to stop, is set aside with b's handle kept, and the later step that
// stops b waits for a down message that was already consumed.
TEST_CASE_METHOD(stepped_fixture,
                 "stepped: a child that exits while the supervisor is busy is not waited for",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.strategy(microlith::strategy::one_for_all).intensity(10, 5s);
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("b", start_child(log, "b")))
    .child(microlith::child("t", start_child(log, "t", ignores_stop)).shutdown(300ms));
  spawn(spec);
  tell("a", crash_atom::value);
  REQUIRE(log->events_since(3) == strings{"stop a", "exit-signal t"});
  tell("b", crash_atom::value);
  // t's shutdown time is up (and any other timer the supervisor set).
  for (int i = 0; i < 3; ++i) {
    sched.trigger_timeouts();
    sched.run();
  }
  CHECK(log->events_since(3)
        == strings{"stop a", "exit-signal t", "stop b", "stop t", "start a", "start b", "start t"});
}

// OTP's supervisor handles its parent's exit signal only after the restart it is performing, so
// a stop that arrives during a one_for_all restart lets the restart finish and then stops the
// whole tree in reverse start order.
TEST_CASE_METHOD(stepped_fixture,
                 "stepped: a stop during a one_for_all restart waits for the restart, then stops "
                 "in reverse start order",
                 "[unit]") {
  // b signals ready at once the first time, and only when told the second time.
  auto b_modes = [](int incarnation) {
    return child_mode{false, incarnation == 1 ? ready_mode::at_once : ready_mode::on_command,
                      false};
  };
  microlith::supervisor_spec spec{"sup"};
  spec.strategy(microlith::strategy::one_for_all).intensity(10, 5s);
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("b", start_child(log, "b", b_modes)).await_ready())
    .child(microlith::child("c", start_child(log, "c")));
  auto sup = spawn(spec);
  REQUIRE(log->events() == strings{"start a", "start b", "start c"});
  tell("a", crash_atom::value);
  // The restart is under way: a started again, b started and not ready yet, c not started.
  REQUIRE(log->events_since(3) == strings{"stop a", "stop c", "stop b", "start a", "start b"});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  sched.trigger_timeouts();
  sched.run();
  // The stop waits: nothing was stopped, the supervisor runs.
  CHECK(log->events_since(3) == strings{"stop a", "stop c", "stop b", "start a", "start b"});
  // b is ready: the restart finishes (c starts), then every child stops, newest first.
  tell("b", go_atom::value);
  CHECK(log->events_since(8)
        == strings{"start c", "stop c", "stop b", "stop a", "exit sup user_shutdown"});
}
