// Stopping children (supervision/src/supervisor.cpp): a shutdown time then a kill, brutal_kill,
// infinity, and a supervisor killed outright.
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

TEST_CASE_METHOD(supervision_fixture,
                 "a child that ignores the request to stop is killed after its shutdown time",
                 "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("t", start_child(log, "t", ignores_stop)).shutdown(400ms))
    .child(microlith::child("c", start_child(log, "c")));
  auto sup = start(spec);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  auto reason = wait_exit(node.system(), sup, 5s);
  REQUIRE(reason);
  CHECK(reason_name(*reason) == "user_shutdown");
  CHECK(log->events_since(3) == strings{"stop c", "exit-signal t", "stop t", "stop a"});
  CHECK(log->reason("t") == "kill");
  CHECK(log->reason("a") == "user_shutdown");
  auto asked = log->time_of("exit-signal t");
  auto killed = log->time_of("stop t");
  REQUIRE(asked);
  REQUIRE(killed);
  // Never before its shutdown time. No upper bound: how much later the timer fires depends on
  // the machine's load; that the timer, and nothing else, kills it is checked without any
  // timing in stepped_test.cpp.
  CHECK(millis_between(*asked, *killed) >= 400);
}

TEST_CASE_METHOD(supervision_fixture, "a brutal_kill child is killed at once", "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("t", start_child(log, "t", ignores_stop)).brutal_kill());
  auto sup = start(spec);
  auto asked = steady::now();
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  REQUIRE(wait_exit(node.system(), sup, 10s));
  // It never saw a request to stop: it was killed first thing.
  CHECK(log->events_since(2) == strings{"stop t", "stop a"});
  CHECK(log->reason("t") == "kill");
  auto killed = log->time_of("stop t");
  REQUIRE(killed);
  // Not after a shutdown time (the default is 5 s): a generous bound below it, for a busy
  // machine; stepped_test.cpp shows the kill needs no timer at all.
  CHECK(millis_between(asked, *killed) < 4000);
}

TEST_CASE_METHOD(supervision_fixture,
                 "a child with shutdown infinity stops when it chooses, and its supervisor then",
                 "[unit]") {
  // That no timer kills it however long it takes is checked in stepped_test.cpp, which fires
  // every pending timer at once; here, the same on real threads, end to end.
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("t", start_child(log, "t", ignores_stop)).shutdown_infinity());
  auto sup = start(spec);
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  REQUIRE(log->wait_for("exit-signal t"));
  caf::anon_send(log->handle("t"), finish_atom::value);
  auto reason = wait_exit(node.system(), sup, 10s);
  REQUIRE(reason);
  CHECK(reason_name(*reason) == "user_shutdown");
  CHECK(log->events_since(2) == strings{"exit-signal t", "stop t", "stop a"});
  CHECK(log->reason("t") == "normal");
}

TEST_CASE_METHOD(supervision_fixture, "a supervisor stops with the reason it was given", "[unit]") {
  microlith::supervisor_spec spec{"sup"};
  spec.child(microlith::child("a", start_child(log, "a")))
    .child(microlith::child("b", start_child(log, "b")));
  auto sup = start(spec);

  SECTION("an exit signal with a reason of its own") {
    caf::scoped_actor self{node.system()};
    self->send_exit(sup, caf::make_error(caf::sec::runtime_error));
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK(reason_name(*reason) == "runtime_error");
    CHECK(log->events_since(2) == strings{"stop b", "stop a"});
    CHECK(log->reason("b") == "user_shutdown");
  }

  SECTION("killed: it kills its children on its way out") {
    caf::anon_send_exit(sup, caf::exit_reason::kill);
    auto reason = wait_exit(node.system(), sup, 3s);
    REQUIRE(reason);
    CHECK(reason_name(*reason) == "kill");
    REQUIRE(log->wait_gone("a", 1));
    REQUIRE(log->wait_gone("b", 1));
    CHECK(log->reason("a") == "kill");
    CHECK(log->reason("b") == "kill");
  }
}
