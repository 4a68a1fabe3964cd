// Calls from plain threads that must not block (actors/src/async_caller.cpp): the completion
// runs once with the answer, an error or the timeout; the call carries its correlation id and
// the via actor's name as caller; a call through an actor that is gone completes with
// service_unavailable instead of never.
#include "test_services.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>
#include <microlith/actors/node.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using microlith::errc;

namespace {

/// A worker that does nothing by itself: calls go through it.
struct idle_state {};

caf::expected<microlith::message_ptr> call_and_wait(const microlith::async_caller& caller,
                                                    std::string service, std::string method,
                                                    const pb::PingRequest& req,
                                                    microlith::async_call_options options) {
  std::promise<caf::expected<microlith::message_ptr>> answer;
  auto future = answer.get_future();
  caller.call(std::move(service), std::move(method), std::make_shared<const pb::PingRequest>(req),
              std::move(options), [&answer](caf::expected<microlith::message_ptr> result) {
                answer.set_value(std::move(result));
              });
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  return future.get();
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
  auto via = must_spawn(node, microlith::worker<idle_state>("gateway"));
  microlith::async_caller caller{via};

  SECTION("with the correlation id and the via actor as caller") {
    auto r = call_and_wait(caller, "echo", "Ping", ping("hi", 5), {2s, "req-42"});
    const auto& reply = as_reply(r);
    CHECK(reply.text() == "hi");
    CHECK(reply.correlation_id() == "req-42");
    CHECK(reply.caller() == "gateway");
    CHECK(reply.hops() == 1);
    CHECK(reply.remaining_ms() <= 2000);
    CHECK(reply.remaining_ms() > 1000);
  }

  SECTION("with the handler's error") {
    auto r = call_and_wait(caller, "echo", "Fail", ping("no"), {2s, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::remote_error));
  }

  SECTION("with service_unavailable for a service nobody serves") {
    auto r = call_and_wait(caller, "nobody", "Ping", ping("x"), {2s, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }

  SECTION("with timeout when the answer does not come in time") {
    auto started = steady::now();
    auto r = call_and_wait(caller, "echo", "Hang", ping("x"), {100ms, {}});
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK(elapsed >= 100);
    CHECK(elapsed < 2000);
  }
}

TEST_CASE_METHOD(node_fixture, "an async call through a stopped actor completes with "
                               "service_unavailable",
                 "[unit]") {
  must_spawn(node, echo_service("echo"));
  auto via = must_spawn(node, microlith::worker<idle_state>("gateway"));
  microlith::async_caller caller{via};

  SECTION("sent after the actor stopped") {
    microlith::signal_exit(via, caf::exit_reason::user_shutdown);
    REQUIRE(wait_down(node, via, 2s));
    auto r = call_and_wait(caller, "echo", "Ping", ping("x"), {2s, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }

  SECTION("pending while the actor stops") {
    std::promise<caf::expected<microlith::message_ptr>> answer;
    auto future = answer.get_future();
    caller.call("echo", "Hang", std::make_shared<const pb::PingRequest>(ping("x")), {10s, {}},
                [&answer](caf::expected<microlith::message_ptr> r) {
                  answer.set_value(std::move(r));
                });
    REQUIRE(the_probe().wait_for("echo.hang", 2s));
    microlith::signal_exit(via, caf::exit_reason::user_shutdown);
    REQUIRE(future.wait_for(2s) == std::future_status::ready);
    auto r = future.get();
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }

  SECTION("made with no actor at all") {
    auto r = call_and_wait(microlith::async_caller{}, "echo", "Ping", ping("x"), {2s, {}});
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }
}

TEST_CASE_METHOD(node_fixture, "async calls from several threads all complete", "[unit]") {
  must_spawn(node, echo_service("echo"));
  auto via = must_spawn(node, microlith::worker<idle_state>("gateway"));
  microlith::async_caller caller{via};
  constexpr int threads = 4;
  constexpr int per_thread = 500;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::promise<void> all_done;
  std::atomic<int> remaining{threads * per_thread};
  std::vector<std::thread> senders;
  for (int t = 0; t < threads; ++t)
    senders.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i)
        caller.call("echo", "Ping",
                    std::make_shared<const pb::PingRequest>(ping("x", t * per_thread + i)),
                    {5s, {}}, [&](caf::expected<microlith::message_ptr> r) {
                      (r ? ok : failed)++;
                      if (--remaining == 0)
                        all_done.set_value();
                    });
    });
  for (auto& s : senders)
    s.join();
  REQUIRE(all_done.get_future().wait_for(10s) == std::future_status::ready);
  CHECK(ok == threads * per_thread);
  CHECK(failed == 0);
}
