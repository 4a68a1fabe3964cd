// Request tracing (trace.hpp): a traced call records one span per call it causes where each is
// served, linked by parent span, with durations and outcomes; an untraced call records none;
// the node's log keeps only its newest spans and says which requests were forced into it.
#include "test_services.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/trace.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using microlith::errc;
using microlith::span_record;

namespace {

// The span of `service`.`method` among `spans`; fails the test when there is not exactly one.
const span_record& span_of(const std::vector<span_record>& spans, const std::string& service,
                           const std::string& method) {
  const span_record* found = nullptr;
  for (const auto& s : spans)
    if (s.service == service && s.method == method) {
      REQUIRE(found == nullptr);
      found = &s;
    }
  REQUIRE(found != nullptr);
  return *found;
}

microlith::blocking_call_options traced(std::string correlation_id, std::uint64_t parent = 0,
                                        bool forced = false) {
  auto options = with(5s, std::move(correlation_id), "gateway");
  options.traced = true;
  options.trace_forced = forced;
  options.parent_span = parent;
  return options;
}

} // namespace

TEST_CASE_METHOD(node_fixture, "a traced call records a span per call it causes", "[unit]") {
  must_spawn(node, echo_service());
  must_spawn(node, relay_service());
  const auto root = node.new_span_id();
  CHECK(root != 0);
  const auto before = microlith::unix_now_us();

  SECTION("linked by parent span, with durations") {
    REQUIRE(node.call<pb::RelayReply>(
      "relay", "Forward", relay_to("echo", "Ping", ping("hi", 0, 20)), traced("trace-ok", root)));
    auto got = node.spans({"trace-ok"});
    REQUIRE(got.spans.size() == 2);
    CHECK(got.forced.empty());
    const auto& relay = span_of(got.spans, "relay", "Forward");
    const auto& echo = span_of(got.spans, "echo", "Ping");
    CHECK(relay.span != 0);
    CHECK(echo.span != 0);
    CHECK(relay.span != echo.span);
    CHECK(relay.parent_span == root);
    CHECK(echo.parent_span == relay.span);
    CHECK(relay.caller == "gateway");
    CHECK(echo.caller == "relay");
    CHECK(relay.node == "unit");
    CHECK(relay.correlation_id == "trace-ok");
    CHECK(relay.outcome == "ok");
    CHECK(echo.outcome == "ok");
    CHECK(echo.duration >= 20ms); // answered through a promise after 20 ms
    CHECK(relay.duration >= echo.duration);
    CHECK(relay.start_unix_us >= before);
    CHECK(echo.start_unix_us >= relay.start_unix_us);
    // The echo answered first: its span is logged first.
    CHECK(got.spans.front().service == "echo");
  }
  SECTION("a failed call records its error kind") {
    REQUIRE_FALSE(node.call<pb::RelayReply>(
      "relay", "Forward", relay_to("echo", "Fail", ping("no", static_cast<int>(errc::not_found))),
      traced("trace-fail", root)));
    auto got = node.spans({"trace-fail"});
    REQUIRE(got.spans.size() == 2);
    CHECK(span_of(got.spans, "echo", "Fail").outcome == "not_found");
    CHECK(span_of(got.spans, "relay", "Forward").outcome == "not_found");
  }
  SECTION("a refused call records a span too") {
    REQUIRE_FALSE(node.call<pb::PingReply>("echo", "Nope", ping("x"), traced("trace-nope")));
    auto got = node.spans({"trace-nope"});
    REQUIRE(got.spans.size() == 1);
    CHECK(got.spans[0].outcome == "no_such_method");
    CHECK(got.spans[0].parent_span == 0);
  }
  SECTION("an untraced call records none") {
    REQUIRE(node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Ping", ping("hi")),
                                      with(5s, "untraced")));
    CHECK(node.spans({"untraced"}).spans.empty());
    CHECK(node.spans({}).spans.empty());
  }
  SECTION("a forced call is named as forced") {
    REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("x"), traced("trace-forced", 0, true)));
    REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("y"), traced("trace-sampled")));
    auto got = node.spans({"trace-forced", "trace-sampled"});
    CHECK(got.spans.size() == 2);
    CHECK(got.forced == std::vector<std::string>{"trace-forced"});
    CHECK(node.spans({}, 1).spans.at(0).correlation_id == "trace-sampled"); // the newest
  }
}

TEST_CASE_METHOD(node_fixture, "the trace log keeps only its newest spans", "[unit]") {
  const auto total = microlith::span_log_capacity + 100;
  for (std::size_t i = 0; i < total; ++i) {
    span_record s;
    s.correlation_id = "r" + std::to_string(i);
    s.span = node.new_span_id();
    s.service = "gateway";
    s.outcome = "ok";
    node.record_span(std::move(s));
  }
  auto all = node.spans({});
  REQUIRE(all.spans.size() == microlith::span_log_capacity);
  CHECK(all.spans.front().correlation_id == "r100");
  CHECK(all.spans.back().correlation_id == "r" + std::to_string(total - 1));
  CHECK(node.spans({"r5"}).spans.empty()); // dropped
  CHECK(node.spans({"r200"}).spans.size() == 1);
  auto newest = node.spans({}, 3);
  REQUIRE(newest.spans.size() == 3);
  CHECK(newest.spans[0].correlation_id == "r" + std::to_string(total - 3));
}

TEST_CASE("span ids are never 0 and do not repeat", "[unit]") {
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 10000; ++i)
    ids.push_back(microlith::new_span_id());
  std::sort(ids.begin(), ids.end());
  CHECK(ids.front() != 0);
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
}

TEST_CASE_METHOD(node_fixture, "an async caller's traced call hangs under the caller's root span",
                 "[unit]") {
  must_spawn(node, echo_service());
  microlith::async_caller caller{node, "gateway"};
  // The gateway's part: a root span of its own, recorded beside the calls' spans.
  microlith::span_record root;
  root.correlation_id = "async-trace";
  root.span = node.new_span_id();
  root.service = "gateway";
  root.outcome = "ok";
  root.forced = true;
  microlith::async_call_options options;
  options.timeout = 5s;
  options.correlation_id = "async-trace";
  options.trace_forced = true; // forced traces too
  options.parent_span = root.span;
  std::promise<bool> answered;
  caller.call("echo", "Ping", std::make_shared<const pb::PingRequest>(ping("x")), options,
              [&answered](caf::expected<microlith::message_ptr> reply) {
                answered.set_value(static_cast<bool>(reply));
              });
  auto done = answered.get_future();
  REQUIRE(done.wait_for(5s) == std::future_status::ready);
  CHECK(done.get());
  node.record_span(root);
  caller.close();
  auto got = node.spans({"async-trace"});
  REQUIRE(got.spans.size() == 2);
  const auto& echo = span_of(got.spans, "echo", "Ping");
  CHECK(echo.parent_span == root.span);
  CHECK(echo.caller == "gateway");
  CHECK(echo.forced);
  CHECK(got.forced == std::vector<std::string>{"async-trace"});
}
