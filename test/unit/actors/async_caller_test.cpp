// Calls from plain threads that must not block (actors/src/async_caller.cpp): the envelope goes
// from the calling thread straight to the service and the answer straight back to the caller's
// port. The completion runs exactly once — with the answer, the handler's error, timeout,
// service_down when the callee stops or crashes mid-call, service_unavailable when nobody
// serves the service or the caller closes — and never again after that, whatever arrives late.
// Calls carry their correlation id and the caller's name.
#include "test_services.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/atoms.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>
#include <microlith/actors/node.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using microlith::errc;

namespace {

/// One call's outcome, and how many times its completion ran.
struct outcome {
  std::promise<caf::expected<microlith::message_ptr>> answer;
  std::atomic<int> runs{0};
};

/// Starts a call whose completion records into the outcome it answers.
std::shared_ptr<outcome> start_call(const microlith::async_caller& caller, std::string service,
                                    std::string method, const pb::PingRequest& req,
                                    microlith::async_call_options options) {
  auto out = std::make_shared<outcome>();
  caller.call(std::move(service), std::move(method), std::make_shared<const pb::PingRequest>(req),
              std::move(options), [out](caf::expected<microlith::message_ptr> result) {
                if (out->runs++ == 0)
                  out->answer.set_value(std::move(result));
              });
  return out;
}

/// The outcome's answer, waiting at most `limit` for it.
caf::expected<microlith::message_ptr> wait_answer(outcome& out,
                                                  std::chrono::milliseconds limit = 5s) {
  auto future = out.answer.get_future();
  REQUIRE(future.wait_for(limit) == std::future_status::ready);
  return future.get();
}

caf::expected<microlith::message_ptr> call_and_wait(const microlith::async_caller& caller,
                                                    std::string service, std::string method,
                                                    const pb::PingRequest& req,
                                                    microlith::async_call_options options) {
  auto out = start_call(caller, std::move(service), std::move(method), req, std::move(options));
  auto result = wait_answer(*out);
  CHECK(out->runs == 1);
  return result;
}

/// Waits until `condition` holds, polling, at most `limit`.
template <class F>
bool eventually(F condition, std::chrono::milliseconds limit = 2s) {
  auto deadline = steady::now() + limit;
  while (!condition()) {
    if (steady::now() >= deadline)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

const pb::PingReply& as_reply(const caf::expected<microlith::message_ptr>& r) {
  REQUIRE(r);
  const auto* reply = dynamic_cast<const pb::PingReply*>(r->get());
  REQUIRE(reply != nullptr);
  return *reply;
}

} // namespace

TEST_CASE_METHOD(node_fixture, "an async call completes once with the answer", "[unit]") {
  must_spawn(node, echo_service("echo"));
  microlith::async_caller caller{node, "gateway"};
  CHECK(caller.name() == "gateway");

  SECTION("with the correlation id and the caller's name, as a call from no handler") {
    auto r = call_and_wait(caller, "echo", "Ping", ping("hi", 5), {2s, "req-42", {}});
    const auto& reply = as_reply(r);
    CHECK(reply.text() == "hi");
    CHECK(reply.value() == 5);
    CHECK(reply.correlation_id() == "req-42");
    CHECK(reply.caller() == "gateway");
    CHECK(reply.hops() == 0);
    CHECK(reply.remaining_ms() <= 2000);
    CHECK(reply.remaining_ms() > 1000);
  }

  SECTION("with the node's default timeout when the call sets none") {
    auto r = call_and_wait(caller, "echo", "Ping", ping("x"), {0ms, {}, {}});
    const auto& reply = as_reply(r); // a reference into r: r must outlive it
    CHECK(reply.remaining_ms() <= 5000);
    CHECK(reply.remaining_ms() > 4000);
  }

  SECTION("with the handler's error") {
    auto r = call_and_wait(caller, "echo", "Fail", ping("no"), {2s, {}, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::remote_error));
  }

  SECTION("with service_unavailable for a service nobody serves") {
    auto r = call_and_wait(caller, "nobody", "Ping", ping("x"), {2s, {}, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
    CHECK(caller.in_flight() == 0);
  }

  SECTION("with timeout when the answer does not come in time") {
    auto started = steady::now();
    auto r = call_and_wait(caller, "echo", "Hang", ping("x"), {100ms, {}, {}});
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK(elapsed >= 100);
    CHECK(elapsed < 2000);
    CHECK(caller.in_flight() == 0);
  }

  SECTION("with timeout at an earlier deadline than a call already waiting") {
    auto slow = start_call(caller, "echo", "Hang", ping("slow"), {10s, {}, {}});
    auto started = steady::now();
    auto r = call_and_wait(caller, "echo", "Hang", ping("quick"), {100ms, {}, {}});
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK(elapsed < 2000);
    CHECK(slow->runs == 0);
    CHECK(caller.in_flight() == 1);
  }

  SECTION("with timeout at each call's deadline, whatever order the deadlines came in") {
    // Deadlines out of order arm earlier ticks over later ones; every call still times out,
    // none before its deadline, and nothing is left armed for calls that are gone. (The order
    // of their completions is checked, independently of tick punctuality, in the test case
    // "calls that one late tick finds expired time out in deadline order".)
    std::vector<std::shared_ptr<outcome>> calls;
    std::vector<int> order{300, 100, 250, 50, 200, 150};
    std::vector<steady::time_point> completed(order.size());
    auto started = steady::now();
    for (std::size_t i = 0; i < order.size(); ++i) {
      auto out = std::make_shared<outcome>();
      caller.call("echo", "Hang", std::make_shared<const pb::PingRequest>(ping("x")),
                  {std::chrono::milliseconds{order[i]}, {}, {}},
                  [out, at = &completed[i]](caf::expected<microlith::message_ptr> result) {
                    *at = steady::now();
                    if (out->runs++ == 0)
                      out->answer.set_value(std::move(result));
                  });
      calls.push_back(out);
    }
    for (std::size_t i = 0; i < calls.size(); ++i) {
      auto r = wait_answer(*calls[i]);
      REQUIRE_FALSE(r);
      CHECK(microlith::is(r.error(), errc::timeout));
      CHECK(millis_between(started, completed[i]) >= order[i]);
    }
    CHECK(caller.in_flight() == 0);
  }

  SECTION("with timeout on a thread that may use the node's clock") {
    // A completion may schedule timers (a retry, a delayed send). CAF's clock thread reads a
    // queue of 64 events that it alone drains: a timeout completion run there that schedules
    // more than that would wait for itself forever.
    auto sink = node.system().spawn( // an argument: see docs/testing.md on argument-less spawns
      [](caf::event_based_actor*, int) -> caf::behavior { return {[](microlith::tick_atom) {}}; },
      0);
    auto out = std::make_shared<outcome>();
    caller.call("echo", "Hang", std::make_shared<const pb::PingRequest>(ping("x")), {50ms, {}, {}},
                [out, sink](caf::expected<microlith::message_ptr> result) {
                  for (int i = 0; i < 200; ++i)
                    caf::delayed_anon_send(sink, std::chrono::milliseconds{1},
                                           microlith::tick_atom::value);
                  if (out->runs++ == 0)
                    out->answer.set_value(std::move(result));
                });
    auto r = wait_answer(*out);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  }

  SECTION("and not again when the answer comes after the deadline") {
    auto out = start_call(caller, "echo", "Ping", ping("late", 0, 300), {100ms, {}, {}});
    // Answered 100 ms after the late one by the same instance, to the same port: once its
    // answer is in, the late answer has been delivered (and dropped) before it.
    auto marker = start_call(caller, "echo", "Ping", ping("marker", 0, 400), {10s, {}, {}});
    auto r = wait_answer(*out);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK(as_reply(wait_answer(*marker)).text() == "marker");
    CHECK(out->runs == 1);
  }
}

TEST_CASE_METHOD(node_fixture, "calls that one late tick finds expired time out in deadline order",
                 "[unit]") {
  // The calls wait in echo's Hang. Then both scheduler threads are held by two actors while
  // the deadlines pass, so the deadline tick (handled on a scheduler thread) comes late and
  // finds every call expired at once.
  must_spawn(node, echo_service("echo"));
  microlith::async_caller caller{node, "gateway"};
  std::vector<int> deadlines{1300, 1100, 1250, 1050, 1300, 1200, 1150, 1050};
  std::vector<std::shared_ptr<outcome>> calls;
  std::mutex mutex;
  std::vector<std::size_t> finished; // indexes into deadlines, in completion order
  for (std::size_t i = 0; i < deadlines.size(); ++i) {
    auto out = std::make_shared<outcome>();
    caller.call("echo", "Hang", std::make_shared<const pb::PingRequest>(ping(std::to_string(i))),
                {std::chrono::milliseconds{deadlines[i]}, {}, {}},
                [out, i, &mutex, &finished](caf::expected<microlith::message_ptr> result) {
                  {
                    std::lock_guard<std::mutex> guard{mutex};
                    finished.push_back(i);
                  }
                  if (out->runs++ == 0)
                    out->answer.set_value(std::move(result));
                });
    calls.push_back(out);
  }
  // One calling thread, so echo holds the calls in the order they were made: once it holds the
  // last, it holds all (had it not taken them before their deadlines, it would refuse them
  // itself, in call order).
  steady::time_point all_made;
  REQUIRE(eventually(
    [&] {
      auto last = the_probe().wait_for("echo.hang", 0ms);
      if (last && last->text == "7")
        all_made = last->at;
      return last && last->text == "7";
    },
    10s));
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  std::atomic<int> held{0};
  std::vector<caf::actor> holders;
  for (int i = 0; i < 2; ++i)
    holders.push_back(node.system().spawn(
      [released, &held](caf::event_based_actor*, int) -> caf::behavior {
        return {[released, &held](microlith::tick_atom) {
          ++held;
          // Bounded, so that a failing test cannot hang: far beyond what the test needs.
          released.wait_for(30s);
        }};
      },
      i));
  for (auto& h : holders)
    caf::anon_send(h, microlith::tick_atom::value);
  REQUIRE(eventually([&] { return held == 2; }, 10s));
  // Every deadline has passed (each is at most 1300 ms after its call was made).
  REQUIRE(eventually([&] { return steady::now() > all_made + 1350ms; }, 5s));
  release->set_value();
  for (auto& out : calls) {
    auto r = wait_answer(*out);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK(out->runs == 1);
  }
  // Earliest deadline first; equal deadlines in the order the calls were made. (Had a tick
  // come in time for some, those completed earlier, which is deadline order too.)
  std::lock_guard<std::mutex> guard{mutex};
  CHECK(finished == std::vector<std::size_t>{3, 7, 1, 6, 5, 2, 0, 4});
  CHECK(caller.in_flight() == 0);
  for (auto& h : holders)
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(node_fixture,
                 "an async call fails with service_down when its callee stops "
                 "mid-call",
                 "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));
  microlith::async_caller caller{node, "gateway"};
  auto out = start_call(caller, "echo", "Hang", ping("x"), {10s, {}, {}});
  REQUIRE(the_probe().wait_for("echo.hang", 2s));
  auto started = steady::now();

  SECTION("stopped") {
    microlith::signal_exit(echo, caf::exit_reason::user_shutdown);
  }
  SECTION("killed") {
    microlith::signal_exit(echo, caf::exit_reason::kill);
  }

  auto r = wait_answer(*out, 2s);
  REQUIRE_FALSE(r);
  CHECK(microlith::is(r.error(), errc::service_down));
  CHECK(millis_between(started, steady::now()) < 2000); // at once, not at the deadline
  CHECK(caller.in_flight() == 0);
  CHECK(out->runs == 1);
}

TEST_CASE_METHOD(node_fixture, "a callee's death fails only the calls made to it", "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));
  must_spawn(node, echo_service("other"));
  microlith::async_caller caller{node, "gateway"};
  auto doomed1 = start_call(caller, "echo", "Hang", ping("a"), {10s, {}, {}});
  auto doomed2 = start_call(caller, "echo", "Hang", ping("b"), {10s, {}, {}});
  auto survivor = start_call(caller, "other", "Hang", ping("c"), {10s, {}, {}});
  REQUIRE(the_probe().wait_for("other.hang", 2s));
  REQUIRE(eventually([&] { return caller.in_flight() == 3; }));

  microlith::signal_exit(echo, caf::exit_reason::kill);
  for (auto* out : {doomed1.get(), doomed2.get()}) {
    auto r = wait_answer(*out, 2s);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_down));
  }
  CHECK(survivor->runs == 0);
  CHECK(caller.in_flight() == 1);

  // A later call to the same name goes to nobody (the instance is gone from the registry).
  auto r = call_and_wait(caller, "echo", "Ping", ping("x"), {2s, {}, {}});
  REQUIRE_FALSE(r);
  CHECK(microlith::is(r.error(), errc::service_unavailable));
}

TEST_CASE_METHOD(node_fixture, "a closed caller completes its calls with service_unavailable",
                 "[unit]") {
  must_spawn(node, echo_service("echo"));
  microlith::async_caller caller{node, "gateway"};

  SECTION("pending when it closes: at once, each once") {
    auto a = start_call(caller, "echo", "Hang", ping("a"), {10s, {}, {}});
    auto b = start_call(caller, "echo", "Ping", ping("b", 0, 300), {10s, {}, {}});
    REQUIRE(the_probe().wait_for("echo.hang", 2s));
    caller.close();
    for (auto* out : {a.get(), b.get()}) {
      auto r = wait_answer(*out, 0ms); // completed inside close()
      REQUIRE_FALSE(r);
      CHECK(microlith::is(r.error(), errc::service_unavailable));
    }
    CHECK(caller.in_flight() == 0);
    // b's answer comes after 300 ms, to the closed port, and is dropped. A call of another
    // caller, answered by the same instance 100 ms later, shows it has been delivered.
    microlith::async_caller other{node, "other"};
    auto marker = call_and_wait(other, "echo", "Ping", ping("marker", 0, 400), {10s, {}, {}});
    CHECK(as_reply(marker).text() == "marker");
    CHECK(a->runs == 1);
    CHECK(b->runs == 1);
    caller.close(); // idempotent
    other.close();
  }

  SECTION("made after it closed") {
    caller.close();
    auto r = call_and_wait(caller, "echo", "Ping", ping("x"), {2s, {}, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }

  SECTION("when its last copy is destroyed") {
    std::shared_ptr<outcome> out;
    {
      auto copy = caller;
      caller = microlith::async_caller{};
      out = start_call(copy, "echo", "Hang", ping("x"), {10s, {}, {}});
      REQUIRE(the_probe().wait_for("echo.hang", 2s));
      CHECK(out->runs == 0);
    }
    auto r = wait_answer(*out, 0ms);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }

  SECTION("made with no caller at all") {
    auto r = call_and_wait(microlith::async_caller{}, "echo", "Ping", ping("x"), {2s, {}, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }
}

TEST_CASE_METHOD(node_fixture, "async calls from several threads each complete exactly once",
                 "[unit]") {
  must_spawn(node, echo_service("echo"));
  microlith::async_caller caller{node, "gateway"};
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  constexpr int total = threads * per_thread;
  std::vector<std::atomic<int>> runs(total);
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<int> remaining{total};
  std::promise<void> all_done;
  auto all_done_future = all_done.get_future();
  // Every third call hangs until its 50 ms deadline; every fifth fails in its handler.
  auto method_of = [](int i) { return i % 3 == 0 ? "Hang" : i % 5 == 0 ? "Fail" : "Ping"; };

  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      for (int i = t * per_thread; i < (t + 1) * per_thread; ++i)
        caller.call("echo", method_of(i), std::make_shared<const pb::PingRequest>(ping("x", i)),
                    {i % 3 == 0 ? 50ms : 5000ms, {}, {}},
                    [&, i](caf::expected<microlith::message_ptr> r) {
                      runs[static_cast<std::size_t>(i)]++;
                      (r ? ok : failed)++;
                      if (--remaining == 0)
                        all_done.set_value();
                    });
    });
  for (auto& s : senders)
    s.join();
  REQUIRE(all_done_future.wait_for(10s) == std::future_status::ready);
  // Anything arriving late would run a completion again: echo answers this last call after
  // every call made before it (the hanging ones never answer before it stops).
  auto marker = call_and_wait(caller, "echo", "Ping", ping("marker"), {5s, {}, {}});
  CHECK(as_reply(marker).text() == "marker");
  int expected_ok = 0;
  for (int i = 0; i < total; ++i)
    expected_ok += std::string_view{method_of(i)} == "Ping" ? 1 : 0;
  CHECK(ok == expected_ok);
  CHECK(failed == total - expected_ok);
  int twice = 0;
  for (auto& n : runs)
    twice += n.load() != 1 ? 1 : 0;
  CHECK(twice == 0);
  CHECK(caller.in_flight() == 0);
}

TEST_CASE_METHOD(node_fixture, "closing while threads call completes every call exactly once",
                 "[unit]") {
  must_spawn(node, echo_service("echo"));
  microlith::async_caller caller{node, "gateway"};
  constexpr int threads = 3;
  constexpr int per_thread = 2000;
  std::vector<std::atomic<int>> runs(threads * per_thread);
  std::atomic<int> unavailable{0};
  std::atomic<int> calls_made{0};
  std::atomic<bool> go{false};

  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      while (!go)
        std::this_thread::yield();
      for (int i = t * per_thread; i < (t + 1) * per_thread; ++i) {
        calls_made++;
        caller.call("echo", "Ping", std::make_shared<const pb::PingRequest>(ping("x", i, i % 2)),
                    {5s, {}, {}}, [&, i](caf::expected<microlith::message_ptr> r) {
                      runs[static_cast<std::size_t>(i)]++;
                      if (!r && microlith::is(r.error(), errc::service_unavailable))
                        unavailable++;
                    });
      }
    });
  go = true;
  REQUIRE(eventually([&] { return calls_made >= 300; }));
  caller.close();
  for (auto& s : senders)
    s.join();
  // Every call made completes: answered before the close (the last of those completions may
  // still be running on a scheduler thread), dropped by the close, or refused after it.
  auto sum = [&] {
    int n = 0;
    for (auto& x : runs)
      n += x.load();
    return n;
  };
  REQUIRE(eventually([&] { return sum() == calls_made.load(); }));
  CHECK(unavailable > 0);
  // Answers to calls sent before the close arrive now, and are dropped. The echo instance
  // answers this later call after all of them: its delay (5 ms) ends after theirs (0 or 1 ms).
  microlith::async_caller other{node, "other"};
  auto marker = call_and_wait(other, "echo", "Ping", ping("marker", 0, 5), {5s, {}, {}});
  CHECK(as_reply(marker).text() == "marker");
  other.close();
  int twice = 0;
  for (auto& n : runs)
    twice += n.load() != 1 ? 1 : 0;
  CHECK(twice == 0);
  CHECK(caller.in_flight() == 0);
}

TEST_CASE_METHOD(node_fixture, "close() returns once no completion runs any more", "[unit]") {
  must_spawn(node, echo_service("echo"));
  microlith::async_caller caller{node, "gateway"};
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};

  SECTION("a completion running on another thread is waited for") {
    caller.call("echo", "Ping", std::make_shared<const pb::PingRequest>(ping("x")), {5s, {}, {}},
                [&](caf::expected<microlith::message_ptr>) {
                  started = true;
                  std::this_thread::sleep_for(300ms);
                  finished = true;
                });
    REQUIRE(eventually([&] { return started.load(); }));
    caller.close();
    CHECK(finished);
  }
  SECTION("a completion may hold the last copy of its caller") {
    // Destroying the completion closes the caller, on the thread that ran it, without waiting
    // for itself; the flag is set once the caller's copy is gone.
    struct holder {
      std::atomic<bool>* flag = nullptr;
      microlith::async_caller last;
      ~holder() {
        last = microlith::async_caller{}; // closes it: the last copy
        if (flag != nullptr)
          *flag = true;
      }
    };
    auto h = std::make_shared<holder>();
    h->flag = &finished;
    h->last = caller;
    caller = microlith::async_caller{};
    auto* last = &h->last;
    last->call(
      "echo", "Ping", std::make_shared<const pb::PingRequest>(ping("x")), {5s, {}, {}},
      [h = std::move(h), &started](caf::expected<microlith::message_ptr>) { started = true; });
    REQUIRE(eventually([&] { return finished.load(); }));
    CHECK(started);
  }
  SECTION("a completion may close its own caller") {
    auto same = caller;
    caller.call("echo", "Ping", std::make_shared<const pb::PingRequest>(ping("x")), {5s, {}, {}},
                [&, same](caf::expected<microlith::message_ptr>) {
                  same.close(); // does not wait for itself
                  finished = true;
                });
    REQUIRE(eventually([&] { return finished.load(); }));
    auto r = call_and_wait(caller, "echo", "Ping", ping("x"), {2s, {}, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }
}
