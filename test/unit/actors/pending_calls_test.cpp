// The pending-call table every caller shares (actors/src/detail/pending_calls.hpp): slots
// reused without allocating, answers to calls that ended ignored by their id's generation, one
// timer armed for the earliest deadline and re-armed by each tick, every call to a callee that
// died failed at its down message, and the texts of the errors it ends calls with
// (actors/src/call_errors.cpp). The callees are real actors; the table's owner (here the test
// thread) hands it replies, down messages and ticks as an actor would.
#include "allocation_counter.hpp"
#include "test_services.hpp"

#include "detail/call_errors.hpp"
#include "detail/pending_calls.hpp"

#include <microlith/actors/envelope.hpp>
#include <microlith/actors/error.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using call_clock = microlith::clock;
using microlith::errc;
using microlith::message_ptr;

namespace {

using table = microlith::detail::pending_calls<microlith::detail::reply_handler>;
using ended = table::ended;

/// An actor that answers nothing: a callee whose calls stay in flight. (It takes an argument:
/// CAF 0.17 binds a reference through a null pointer when a function-based actor has none,
/// which the sanitizer build reports; docs/testing.md.)
caf::actor make_callee(microlith::node& n) {
  return n.system().spawn(
    [](caf::event_based_actor*, int) -> caf::behavior { return {[](std::int64_t) {}}; }, 0);
}

/// A reply envelope to call `id`.
microlith::envelope reply_to(std::uint64_t id) {
  microlith::envelope env;
  env.kind = microlith::envelope_kind::reply;
  env.call_id = id;
  return env;
}

/// Records the error each completion runs with, in the order they run.
struct recorder {
  std::vector<std::string> seen;

  microlith::detail::reply_handler completion(std::string name) {
    return [this, name](const message_ptr&, const caf::error& err) {
      seen.push_back(name + ": " + (err ? microlith::describe(err) : std::string{"answered"}));
    };
  }

  void run(std::vector<ended>& calls) {
    for (auto& call : calls)
      call.done(nullptr, call.error);
    calls.clear();
  }
};

/// The low half of an id: the slot it names.
std::uint32_t slot_of(std::uint64_t id) {
  return static_cast<std::uint32_t>(id & 0xffffffffu);
}

} // namespace

TEST_CASE_METHOD(node_fixture, "the pending-call table reuses its slots without allocating",
                 "[unit]") {
  auto callee = make_callee(node);
  table calls;
  // Names longer than a string's inline buffer: a reused slot keeps their capacity.
  const std::string service = "a-service-with-a-long-name";
  const std::string method = "AMethodWithALongNameToo";
  auto t0 = call_clock::now();
  auto round = [&](int n) {
    std::vector<std::uint64_t> ids;
    ids.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i)
      ids.push_back(calls.add(callee, t0, t0 + 5s, service, method, {}).id);
    for (auto id : ids) {
      auto env = reply_to(id);
      microlith::detail::reply_handler done;
      REQUIRE(calls.take_reply(env, done));
    }
    return ids;
  };
  auto first = round(8);
  CHECK(calls.size() == 0);
  CHECK(calls.capacity() == 8);
  auto second = round(8);
  CHECK(calls.capacity() == 8); // the same slots again
  std::vector<std::uint32_t> first_slots, second_slots;
  for (auto id : first)
    first_slots.push_back(slot_of(id));
  for (auto id : second)
    second_slots.push_back(slot_of(id));
  std::sort(first_slots.begin(), first_slots.end());
  std::sort(second_slots.begin(), second_slots.end());
  CHECK(first_slots == second_slots);
  for (std::size_t i = 0; i < first.size(); ++i)
    CHECK(std::find(first.begin(), first.end(), second[i]) == first.end()); // ids never repeat

  SECTION("a call answered in time allocates nothing once the table has grown") {
    // The ids go into a vector reserved before counting; a completion capturing two pointers
    // fits inside std::function.
    int answered = 0;
    std::vector<std::uint64_t> ids;
    ids.reserve(8);
    auto before = allocations_on_this_thread();
    for (int i = 0; i < 8; ++i)
      ids.push_back(calls
                      .add(callee, t0, t0 + 5s, service, method,
                           [&answered, &ids](const message_ptr&, const caf::error&) {
                             answered += ids.empty() ? 0 : 1;
                           })
                      .id);
    for (auto id : ids) {
      auto env = reply_to(id);
      microlith::detail::reply_handler done;
      REQUIRE(calls.take_reply(env, done));
      done(env.body, env.error);
    }
    auto after = allocations_on_this_thread();
    CHECK(answered == 8);
    CHECK(after - before == 0);
    // The counter does count: a long string on the heap is two allocations.
    auto one = std::make_unique<std::string>(64, 'x');
    CHECK(allocations_on_this_thread() - after == 2); // the string object and its buffer
  }

  anon_send_exit(callee, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(node_fixture, "an answer to a call that ended already is ignored", "[unit]") {
  auto callee = make_callee(node);
  table calls;
  recorder rec;
  auto t0 = call_clock::now();

  SECTION("its slot holds a later call: the generation tells them apart") {
    auto old_id = calls.add(callee, t0, t0 + 5s, "echo", "Ping", rec.completion("old")).id;
    auto env = reply_to(old_id);
    microlith::detail::reply_handler done;
    REQUIRE(calls.take_reply(env, done));
    auto new_id = calls.add(callee, t0, t0 + 5s, "echo", "Ping", rec.completion("new")).id;
    CHECK(slot_of(new_id) == slot_of(old_id));
    CHECK(new_id != old_id);
    auto late = reply_to(old_id);
    CHECK_FALSE(calls.take_reply(late, done));
    CHECK(calls.find(old_id) == nullptr);
    CHECK(calls.size() == 1);
    auto answer = reply_to(new_id);
    REQUIRE(calls.take_reply(answer, done));
    done(nullptr, {});
    CHECK(rec.seen == std::vector<std::string>{"new: answered"});
  }

  SECTION("it timed out") {
    auto id = calls.add(callee, t0, t0 + 100ms, "echo", "Ping", rec.completion("late")).id;
    std::vector<ended> out;
    calls.expire(t0 + 100ms, t0 + 100ms, out);
    rec.run(out);
    auto late = reply_to(id);
    microlith::detail::reply_handler done;
    CHECK_FALSE(calls.take_reply(late, done));
    CHECK(rec.seen
          == std::vector<std::string>{"late: timeout: echo.Ping did not answer within "
                                      "100 ms"});
  }

  SECTION("an id that names no slot at all") {
    auto none = reply_to(std::uint64_t{7} << 32 | 12345);
    microlith::detail::reply_handler done;
    CHECK_FALSE(calls.take_reply(none, done));
    CHECK(calls.find(0) == nullptr);
  }

  anon_send_exit(callee, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(node_fixture,
                 "the pending-call timer is armed for the earliest deadline and re-armed by "
                 "each tick",
                 "[unit]") {
  auto callee = make_callee(node);
  table calls;
  recorder rec;
  std::vector<ended> out;
  auto t0 = call_clock::now();
  CHECK(calls.armed() == call_clock::time_point::max());
  CHECK(calls.add(callee, t0, t0 + 300ms, "echo", "A", rec.completion("a")).arm);
  CHECK(calls.add(callee, t0, t0 + 100ms, "echo", "B", rec.completion("b")).arm);
  CHECK_FALSE(calls.add(callee, t0, t0 + 200ms, "echo", "C", rec.completion("c")).arm);
  CHECK_FALSE(calls.add(callee, t0, t0 + 300ms, "echo", "D", rec.completion("d")).arm);
  CHECK(calls.armed() == t0 + 100ms);

  // The tick armed first (for 300 ms) is stale once the earlier one was armed: it does nothing.
  CHECK(calls.expire(t0 + 300ms, t0 + 300ms, out) == call_clock::time_point::max());
  CHECK(out.empty());
  CHECK(calls.size() == 4);

  // The armed tick ends what has expired and re-arms for the earliest deadline left.
  CHECK(calls.expire(t0 + 100ms, t0 + 150ms, out) == t0 + 200ms);
  rec.run(out);
  CHECK(
    rec.seen
    == std::vector<std::string>{"b: timeout: echo.B did not answer within 100 ms (50 ms late)"});
  CHECK(calls.armed() == t0 + 200ms);

  // A late tick ends every expired call, in deadline order, equal deadlines in call order.
  rec.seen.clear();
  CHECK(calls.expire(t0 + 200ms, t0 + 400ms, out) == call_clock::time_point::max());
  rec.run(out);
  CHECK(
    rec.seen
    == std::vector<std::string>{"c: timeout: echo.C did not answer within 200 ms (200 ms late)",
                                "a: timeout: echo.A did not answer within 300 ms (100 ms late)",
                                "d: timeout: echo.D did not answer within 300 ms (100 ms late)"});
  CHECK(calls.size() == 0);
  CHECK(calls.armed() == call_clock::time_point::max());

  // With nothing armed, the next call arms again; a tick before its deadline ends nothing and
  // re-arms for it.
  CHECK(calls.add(callee, t0, t0 + 500ms, "echo", "E", rec.completion("e")).arm);
  CHECK(calls.expire(t0 + 500ms, t0 + 499ms, out) == t0 + 500ms);
  CHECK(out.empty());
  CHECK(calls.armed() == t0 + 500ms);

  anon_send_exit(callee, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(node_fixture,
                 "every call to a callee that died fails with service_down at its down message",
                 "[unit]") {
  auto doomed = make_callee(node);
  auto other = make_callee(node);
  auto* doomed_ctrl = caf::actor_cast<caf::actor_control_block*>(doomed);
  table calls;
  recorder rec;
  std::vector<ended> out;
  auto t0 = call_clock::now();
  // One monitor per callee: only the first call to each asks for one.
  CHECK(calls.add(doomed, t0, t0 + 5s, "ledger", "Post", rec.completion("1")).watch_callee);
  CHECK(calls.add(other, t0, t0 + 5s, "audit", "Note", rec.completion("other")).watch_callee);
  CHECK_FALSE(calls.add(doomed, t0, t0 + 1s, "ledger", "Read", rec.completion("2")).watch_callee);
  CHECK(calls.watches(doomed_ctrl));

  caf::scoped_actor self{node.system()};
  self->monitor(doomed);
  self->send_exit(doomed, caf::exit_reason::kill);
  caf::down_msg down;
  bool got_down = false;
  self->receive(
    [&](caf::down_msg& msg) {
      down = msg;
      got_down = true;
    },
    caf::after(std::chrono::seconds(10)) >> [] {});
  REQUIRE(got_down);
  // A call made after the death but before the down message is handled fails with it too.
  CHECK_FALSE(calls.add(doomed, t0, t0 + 5s, "ledger", "Post", rec.completion("3")).watch_callee);

  REQUIRE(
    calls.callee_down(caf::actor_cast<caf::actor_control_block*>(down.source), down.reason, out));
  rec.run(out);
  auto why = microlith::describe(down.reason);
  CHECK(rec.seen
        == std::vector<std::string>{
          "1: service_down: the instance of ledger serving ledger.Post went down (" + why + ")",
          "2: service_down: the instance of ledger serving ledger.Read went down (" + why + ")",
          "3: service_down: the instance of ledger serving ledger.Post went down (" + why + ")"});
  CHECK(calls.size() == 1); // the other callee's call is still in flight
  CHECK_FALSE(calls.watches(doomed_ctrl));
  // A second down message of the same callee (or one of a callee never called) does nothing.
  CHECK_FALSE(calls.callee_down(doomed_ctrl, down.reason, out));
  CHECK(out.empty());

  anon_send_exit(other, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(node_fixture, "a closing caller's table drops every call in call order",
                 "[unit]") {
  auto a = make_callee(node);
  auto b = make_callee(node);
  table calls;
  recorder rec;
  auto t0 = call_clock::now();
  calls.add(b, t0, t0 + 1s, "b", "M", rec.completion("1"));
  calls.add(a, t0, t0 + 5s, "a", "M", rec.completion("2"));
  calls.add(b, t0, t0 + 3s, "b", "N", rec.completion("3"));
  std::vector<ended> out;
  std::vector<caf::actor_addr> watched;
  calls.drop_all("gateway", out, watched);
  rec.run(out);
  CHECK(rec.seen
        == std::vector<std::string>{
          "1: service_unavailable: the call to b.M was dropped: its caller gateway closed",
          "2: service_unavailable: the call to a.M was dropped: its caller gateway closed",
          "3: service_unavailable: the call to b.N was dropped: its caller gateway closed"});
  CHECK(watched.size() == 2);
  CHECK(calls.size() == 0);
  CHECK(calls.armed() == call_clock::time_point::max());
  anon_send_exit(a, caf::exit_reason::user_shutdown);
  anon_send_exit(b, caf::exit_reason::user_shutdown);
}

TEST_CASE("the errors that end calls read the same for every caller", "[unit]") {
  namespace d = microlith::detail;
  auto text = [](const caf::error& err) { return microlith::describe(err); };

  SECTION("timeout names the time the call was given, and how late it was noticed") {
    CHECK(text(d::timeout_error("echo", "Ping", 300ms, 0ms))
          == "timeout: echo.Ping did not answer within 300 ms");
    CHECK(text(d::timeout_error("echo", "Ping", 300ms, 999us))
          == "timeout: echo.Ping did not answer within 300 ms");
    CHECK(text(d::timeout_error("echo", "Ping", 300ms, 12ms))
          == "timeout: echo.Ping did not answer within 300 ms (12 ms late)");
  }

  SECTION("service_down names the instance and its exit reason") {
    CHECK(text(d::callee_down_error("ledger", "Post", caf::error{}))
          == "service_down: the instance of ledger serving ledger.Post went down (normal exit)");
    CHECK(text(d::callee_down_error("ledger", "Post",
                                    microlith::make_error(errc::remote_error, "boom")))
          == "service_down: the instance of ledger serving ledger.Post went down (remote_error: "
             "boom)");
  }

  SECTION("an unreadable answer is bad_request, set by the table on a reply without an error") {
    CHECK(text(d::unreadable_answer_error("echo", "Ping", "unknown type x.Y"))
          == "bad_request: the answer of echo.Ping cannot be read: unknown type x.Y");
    microlith::node n{two_threads()};
    auto callee = make_callee(n);
    table calls;
    auto t0 = call_clock::now();
    auto id = calls.add(callee, t0, t0 + 5s, "echo", "Ping", {}).id;
    auto env = reply_to(id);
    env.undecodable = "unknown type x.Y";
    microlith::detail::reply_handler done;
    REQUIRE(calls.take_reply(env, done));
    CHECK(text(env.error)
          == "bad_request: the answer of echo.Ping cannot be read: unknown type x.Y");
    anon_send_exit(callee, caf::exit_reason::user_shutdown);
  }

  SECTION("the calls that cannot be made") {
    CHECK(text(d::no_instance_error("nowhere"))
          == "service_unavailable: no instance of service nowhere is running");
    CHECK(text(d::call_loop_error("relay", "Forward"))
          == "bad_request: relay.Forward: more than 64 nested calls (a call loop?)");
    CHECK(text(d::caller_refused_error("echo", "Ping", "gateway"))
          == "service_unavailable: echo.Ping: the caller gateway is closed");
    CHECK(text(d::no_caller_error("echo", "Ping"))
          == "service_unavailable: echo.Ping: no caller to make the call through");
    CHECK(text(d::caller_closed_error("echo", "Ping", "gateway"))
          == "service_unavailable: the call to echo.Ping was dropped: its caller gateway closed");
  }
}
