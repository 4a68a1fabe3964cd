// Calls between services on one node (actors/src/endpoint_actor.cpp, node.cpp): answers at once,
// later and through promises; the metadata that travels with a call into nested calls; deadlines
// shrinking into nested calls; casts; late replies; call loops; many concurrent callers.
#include "test_services.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/envelope.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using Catch::Matchers::Contains;
using Catch::Matchers::Matches;
using Catch::Matchers::StartsWith;
using microlith::errc;

namespace {

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto until = steady::now() + limit;
  while (!done()) {
    if (steady::now() > until)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

} // namespace

TEST_CASE_METHOD(node_fixture, "a call is answered", "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));

  SECTION("at once, by the handler's return value") {
    auto r = node.call<pb::PingReply>("echo", "Ping", ping("hello", 42));
    REQUIRE(r);
    CHECK(r->text() == "hello");
    CHECK(r->value() == 42);
    CHECK(r->instance() == echo.id());
  }

  SECTION("later, through a promise delivered when a timer fires") {
    auto started = steady::now();
    auto r = node.call<pb::PingReply>("echo", "Ping", ping("later", 7, 80), with(2s));
    auto elapsed = millis_between(started, steady::now());
    REQUIRE(r);
    CHECK(r->text() == "later");
    CHECK(r->value() == 7);
    CHECK(elapsed >= 80);
  }

  SECTION("through a relay that answers once its own call has answered") {
    must_spawn(node, relay_service("relay"));
    auto r =
      node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Ping", ping("via", 3)));
    REQUIRE(r);
    CHECK(r->echo().text() == "via");
    CHECK(r->echo().value() == 3);
  }

  SECTION("once, by the first answer of a promise delivered twice") {
    auto r = node.call<pb::PingReply>("echo", "Twice", ping("two", 10));
    REQUIRE(r);
    CHECK(r->value() == 10);
    // The second answer went nowhere: the next call gets its own answer.
    auto next = node.call<pb::PingReply>("echo", "Ping", ping("next", 20));
    REQUIRE(next);
    CHECK(next->text() == "next");
    CHECK(next->value() == 20);
  }
}

TEST_CASE_METHOD(node_fixture, "a call carries its correlation id, caller and hop count",
                 "[unit]") {
  must_spawn(node, echo_service("echo"));

  SECTION("a blocking call passes the ones it was given") {
    auto r = node.call<pb::PingReply>("echo", "Ping", ping("x"), with(2s, "order-17", "tester"));
    REQUIRE(r);
    CHECK(r->correlation_id() == "order-17");
    CHECK(r->caller() == "tester");
    CHECK(r->hops() == 0);
  }

  SECTION("a blocking call without a correlation id gets a fresh one") {
    auto a = node.call<pb::PingReply>("echo", "Ping", ping("a"));
    auto b = node.call<pb::PingReply>("echo", "Ping", ping("b"));
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->correlation_id().size() == 13);
    CHECK(b->correlation_id().size() == 13);
    CHECK(a->correlation_id() != b->correlation_id());
    CHECK(a->caller() == "client");
  }

  SECTION("nested calls inherit the correlation id, name their caller and count hops") {
    must_spawn(node, relay_service("relay"));
    must_spawn(node, relay_service("relay2"));
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Ping", ping("deep"), {"relay2"}),
                                       with(2s, "corr-nested", "tester"));
    REQUIRE(r);
    // What the first relay saw.
    CHECK(r->correlation_id() == "corr-nested");
    CHECK(r->caller() == "tester");
    CHECK(r->hops() == 0);
    // What echo saw, two calls further down.
    CHECK(r->echo().correlation_id() == "corr-nested");
    CHECK(r->echo().caller() == "relay2");
    CHECK(r->echo().hops() == 2);
    CHECK(r->echo().idempotency_key().empty()); // none given, none invented
  }

  SECTION("nested calls inherit the idempotency key") {
    must_spawn(node, relay_service("relay"));
    must_spawn(node, relay_service("relay2"));
    auto opts = with(2s, "corr-keyed", "tester");
    opts.idempotency_key = "transfer-0042";
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Ping", ping("deep"), {"relay2"}), opts);
    REQUIRE(r);
    CHECK(r->echo().idempotency_key() == "transfer-0042");
    CHECK(r->echo().hops() == 2);
  }
}

TEST_CASE_METHOD(node_fixture, "a nested call never outlives the request it serves", "[unit]") {
  must_spawn(node, echo_service("echo"));
  must_spawn(node, relay_service("relay"));

  SECTION("the callee sees the parent's deadline, not the nested call's longer timeout") {
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Ping", ping("d"), {}, 10s), with(1s));
    REQUIRE(r);
    CHECK(r->echo().remaining_ms() <= 1000);
    CHECK(r->echo().remaining_ms() > 0);
  }

  SECTION("a nested call with a longer timeout fails at the parent's deadline") {
    auto started = steady::now();
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Hang", ping("h"), {}, 60s), with(300ms));
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK(elapsed >= 300);
    // The relay's own nested call failed at the same deadline, not after its 60 s. The bound
    // only has to tell the two apart: generous, for a busy machine.
    auto failed = the_probe().wait_for("relay.error", 30s);
    REQUIRE(failed);
    // It names the time left of the parent's 300 ms, not the nested call's own 60 s.
    CHECK_THAT(failed->text, Matches(R"(timeout: echo\.Hang did not answer within )"
                                     R"((\d{1,2}|[12]\d\d|300) ms( \(\d+ ms late\))?)"));
    CHECK(millis_between(started, failed->at) >= 300);
    CHECK(millis_between(started, failed->at) < 30000);
  }

  SECTION("a nested call's own shorter timeout applies") {
    auto started = steady::now();
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Hang", ping("h"), {}, 200ms), with(3s));
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK_THAT(microlith::message_of(r.error()),
               Matches(R"(echo\.Hang did not answer within 200 ms( \(\d+ ms late\))?)"));
    CHECK(elapsed >= 200);
    CHECK(elapsed < 1200);
  }
}

TEST_CASE_METHOD(node_fixture,
                 "an actor's calls that one late tick finds expired fail in deadline order",
                 "[unit]") {
  // The relay makes one nested call (to echo's Hang) per Forward request, each with its own
  // timeout; all of them wait in the relay's table. Both scheduler threads are then held while
  // the deadlines pass, so the relay's deadline tick comes late and finds every call expired.
  must_spawn(node, echo_service("echo"));
  must_spawn(node, relay_service("relay"));
  microlith::async_caller caller{node, "test"};
  std::vector<int> timeouts{1300, 1100, 1250, 1050, 1300, 1200, 1150, 1050};
  std::mutex mutex;
  std::vector<std::size_t> failed; // indexes into timeouts, in the order the relay failed them
  std::atomic<int> done{0};
  for (std::size_t i = 0; i < timeouts.size(); ++i) {
    auto req = relay_to("echo", "Hang", ping("h" + std::to_string(i)), {},
                        std::chrono::milliseconds{timeouts[i]});
    // The relay answers on its own thread, which runs this completion at once: the order of
    // the completions is the order of the relay's answers.
    caller.call("relay", "Forward", std::make_shared<const pb::RelayRequest>(req), {30s, {}, {}},
                [i, &mutex, &failed, &done](caf::expected<microlith::message_ptr> r) {
                  if (!r && microlith::is(r.error(), errc::timeout)) {
                    std::lock_guard<std::mutex> guard{mutex};
                    failed.push_back(i);
                  }
                  ++done;
                });
  }
  // One sender, so the relay handled the requests, and echo the nested calls, in order: once
  // echo holds the last one, every nested call is in the relay's table.
  steady::time_point all_made;
  REQUIRE(wait_until(
    [&] {
      auto last = the_probe().wait_for("echo.hang", 0ms);
      if (last && last->text == "h7")
        all_made = last->at;
      return last && last->text == "h7";
    },
    10s));
  auto release = std::make_shared<std::promise<void>>();
  std::shared_future<void> released = release->get_future().share();
  std::atomic<int> held{0};
  std::vector<caf::actor> holders;
  for (int i = 0; i < 2; ++i)
    holders.push_back(node.system().spawn(
      [released, &held](caf::event_based_actor*, int) -> caf::behavior {
        return {[released, &held](const std::string&) {
          ++held;
          released.wait_for(30s); // bounded, so that a failing test cannot hang
        }};
      },
      i));
  for (auto& h : holders)
    caf::anon_send(h, std::string{"hold"});
  REQUIRE(wait_until([&] { return held == 2; }, 10s));
  // Every deadline has passed (each is at most 1300 ms after its call was made).
  REQUIRE(wait_until([&] { return steady::now() > all_made + 1350ms; }, 5s));
  release->set_value();
  REQUIRE(wait_until([&] { return done == static_cast<int>(timeouts.size()); }, 10s));
  // Earliest deadline first, equal ones in call order. (Had a tick come in time for some,
  // those failed earlier, which is deadline order too.)
  std::lock_guard<std::mutex> guard{mutex};
  CHECK(failed == std::vector<std::size_t>{3, 7, 1, 6, 5, 2, 0, 4});
  caller.close();
  for (auto& h : holders)
    caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(node_fixture, "a cast is delivered", "[unit]") {
  must_spawn(node, echo_service("echo"));

  SECTION("its effect is seen by a later call") {
    pb::SetRequest set;
    set.set_key("k");
    set.set_value(5);
    REQUIRE(node.cast("echo", "Remember", set));
    pb::GetRequest get;
    get.set_key("k");
    auto r = node.call<pb::PingReply>("echo", "Recall", get);
    REQUIRE(r);
    CHECK(r->value() == 5);
  }

  SECTION("to a service that is not running: refused") {
    pb::SetRequest set;
    CHECK_FALSE(node.cast("nowhere", "Remember", set));
  }

  SECTION("to a method that does not exist, or with a wrong body: dropped, the service lives on") {
    REQUIRE(node.cast("echo", "Nope", pb::Empty{}));
    REQUIRE(node.cast("echo", "Remember", pb::Empty{}));
    auto r = node.call<pb::CountReply>("echo", "Count", pb::Empty{});
    REQUIRE(r);
    CHECK(r->handled() == 1); // neither cast reached a handler
  }
}

TEST_CASE_METHOD(node_fixture, "a reply that comes after its deadline is dropped", "[unit]") {
  must_spawn(node, echo_service("echo"));

  SECTION("by a blocking caller") {
    auto late = node.call<pb::PingReply>("echo", "Ping", ping("late", 1, 300), with(100ms));
    REQUIRE_FALSE(late);
    CHECK(microlith::is(late.error(), errc::timeout));
    auto next = node.call<pb::PingReply>("echo", "Ping", ping("next", 2, 400), with(2s));
    REQUIRE(next);
    CHECK(next->text() == "next");
    CHECK(next->value() == 2);
  }

  SECTION("by an actor, whose next call gets its own answer") {
    must_spawn(node, relay_service("relay"));
    auto late = node.call<pb::RelayReply>(
      "relay", "Forward", relay_to("echo", "Ping", ping("late", 1, 300), {}, 100ms), with(2s));
    REQUIRE_FALSE(late);
    CHECK(microlith::is(late.error(), errc::timeout));
    // The late answer reaches the relay while this call waits for its own.
    auto next = node.call<pb::RelayReply>(
      "relay", "Forward", relay_to("echo", "Ping", ping("next", 2, 400), {}, 2s), with(3s));
    REQUIRE(next);
    CHECK(next->echo().text() == "next");
    CHECK(next->echo().value() == 2);
  }
}

TEST_CASE_METHOD(node_fixture,
                 "a call whose deadline passed before it was handled is refused, not run",
                 "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));
  caf::scoped_actor self{node.system()};
  // Sent straight to the instance, as a caller whose deadline has passed by the time the
  // instance gets to it (a call that waited behind others in its mailbox).
  self->send(
    echo, microlith::make_call(7, "echo", "Remember", std::make_shared<const pb::SetRequest>([] {
                                 pb::SetRequest set;
                                 set.set_key("k");
                                 set.set_value(5);
                                 return set;
                               }()),
                               {"corr-late", "client", microlith::clock::now() - 1ms, 0, {}, {}}));
  bool answered = false;
  self->receive(
    [&](microlith::envelope& reply) {
      answered = true;
      CHECK(reply.kind == microlith::envelope_kind::reply);
      CHECK(reply.call_id == 7);
      CHECK(microlith::is(reply.error, errc::timeout));
      CHECK(microlith::message_of(reply.error)
            == "echo.Remember: the deadline passed before the request was handled");
    },
    caf::after(10s) >> [] {});
  REQUIRE(answered);
  // The handler did not run: nothing was remembered, and only this Count was handled.
  pb::GetRequest get;
  get.set_key("k");
  auto recalled = node.call<pb::PingReply>("echo", "Recall", get);
  REQUIRE(recalled);
  CHECK(recalled->value() == 0);
  auto count = node.call<pb::CountReply>("echo", "Count", pb::Empty{});
  REQUIRE(count);
  CHECK(count->handled() == 2); // Recall and Count
}

TEST_CASE_METHOD(node_fixture, "a call loop is cut after max_hops nested calls", "[unit]") {
  must_spawn(node, echo_service("echo"));
  must_spawn(node, relay_service("relay"));

  SECTION("a chain longer than max_hops fails with bad_request") {
    std::vector<std::string> loop(microlith::max_hops + 6, "relay");
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Ping", ping("x"), loop), with(5s));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::bad_request));
    CHECK_THAT(microlith::message_of(r.error()),
               Contains("relay.Forward: more than 64 nested calls"));
  }

  SECTION("a chain ending exactly at max_hops is answered") {
    std::vector<std::string> chain(microlith::max_hops - 1, "relay");
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Ping", ping("y"), chain), with(5s));
    REQUIRE(r);
    CHECK(r->echo().hops() == microlith::max_hops);
  }
}

TEST_CASE_METHOD(node_fixture, "many threads calling at once are all answered correctly",
                 "[unit]") {
  constexpr int threads = 8;
  constexpr int calls = 500;
  must_spawn(node, echo_service("echo"));
  std::atomic<int> wrong{0};
  std::atomic<int> failed{0};
  std::vector<std::future<void>> callers;
  for (int t = 0; t < threads; ++t)
    callers.push_back(std::async(std::launch::async, [&, t] {
      for (int k = 0; k < calls; ++k) {
        auto text = "t" + std::to_string(t) + "-" + std::to_string(k);
        auto value = std::int64_t{t} * 1000 + k;
        auto r = node.call<pb::PingReply>("echo", "Ping", ping(text, value), with(10s));
        if (!r)
          ++failed;
        else if (r->text() != text || r->value() != value)
          ++wrong;
      }
    }));
  for (auto& f : callers)
    f.get();
  CHECK(failed == 0);
  CHECK(wrong == 0);
  auto count = node.call<pb::CountReply>("echo", "Count", pb::Empty{});
  REQUIRE(count);
  CHECK(count->handled() == threads * calls + 1);
}
