// The envelope's wire form (actors/src/envelope.cpp): what CAF writes when an envelope leaves
// the node — the body as (type name, bytes), the deadline as the time left — and what a node
// does with a body it cannot rebuild: a bad_request answer naming the type, nothing kept.
#include "test_services.hpp"

#include <microlith/actors/envelope.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>

#include <caf/all.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;
using Catch::Matchers::Contains;
using microlith::envelope;
using microlith::envelope_kind;
using microlith::errc;

namespace {

// Serializes `env` as CAF does for a remote send, and reads it back.
envelope through_the_wire(caf::actor_system& sys, const envelope& env) {
  std::vector<char> buffer;
  caf::binary_serializer sink{sys, buffer};
  auto copy = env;
  REQUIRE_FALSE(sink(copy));
  envelope out;
  caf::binary_deserializer source{sys, buffer};
  REQUIRE_FALSE(source(out));
  return out;
}

} // namespace

TEST_CASE_METHOD(node_fixture, "an envelope crosses the wire whole", "[unit]") {
  envelope env;
  env.kind = envelope_kind::call;
  env.call_id = 42;
  env.service = "echo";
  env.method = "Ping";
  env.body = std::make_shared<const pb::PingRequest>(ping("hello", 7));
  env.meta.correlation_id = "corr-9";
  env.meta.caller = "accounts";
  env.meta.hops = 3;
  env.meta.idempotency_key = "deposit-7f3a";

  SECTION("body, names and metadata") {
    env.meta.deadline = microlith::clock::now() + 2s;
    auto out = through_the_wire(node.system(), env);
    CHECK(out.kind == envelope_kind::call);
    CHECK(out.call_id == 42);
    CHECK(out.service == "echo");
    CHECK(out.method == "Ping");
    CHECK(out.meta.correlation_id == "corr-9");
    CHECK(out.meta.caller == "accounts");
    CHECK(out.meta.hops == 3);
    CHECK(out.meta.idempotency_key == "deposit-7f3a");
    CHECK(out.undecodable.empty());
    const auto* body = dynamic_cast<const pb::PingRequest*>(out.body.get());
    REQUIRE(body != nullptr);
    CHECK(body->text() == "hello");
    CHECK(body->value() == 7);
    CHECK(out.body != env.body); // rebuilt, not shared
    auto left = out.meta.deadline - microlith::clock::now();
    CHECK(left > 1500ms);
    CHECK(left <= 2s);
  }
  SECTION("no deadline stays none; a passed one arrives passed") {
    CHECK(through_the_wire(node.system(), env).meta.deadline == microlith::clock::time_point{});
    env.meta.deadline = microlith::clock::now() - 1s;
    auto out = through_the_wire(node.system(), env);
    CHECK(out.meta.deadline != microlith::clock::time_point{});
    CHECK(out.meta.deadline <= microlith::clock::now());
  }
  SECTION("an error reply keeps its code and message") {
    envelope reply;
    reply.kind = envelope_kind::reply;
    reply.call_id = 5;
    reply.error = microlith::make_error(errc::service_down, "the ledger went down");
    auto out = through_the_wire(node.system(), reply);
    CHECK(out.kind == envelope_kind::reply);
    CHECK(microlith::is(out.error, errc::service_down));
    CHECK(microlith::message_of(out.error) == "the ledger went down");
    CHECK_FALSE(out.body);
  }
  SECTION("every error kind crosses unchanged") {
    for (int value = 1; value <= static_cast<int>(microlith::errc_last); ++value) {
      auto code = static_cast<errc>(value);
      envelope reply;
      reply.kind = envelope_kind::reply;
      reply.call_id = 6;
      reply.error = microlith::fail(code, "no account ada");
      auto out = through_the_wire(node.system(), reply);
      INFO(microlith::to_string(code));
      CHECK(microlith::code_of(out.error) == code);
      CHECK(microlith::message_of(out.error) == "no account ada");
    }
  }
}

TEST_CASE_METHOD(node_fixture, "a job id and attempt cross the wire and only in range", "[unit]") {
  envelope env;
  env.kind = envelope_kind::call;
  env.service = "echo";
  env.method = "Ping";
  env.meta.job_id = 42;
  env.meta.job_attempt = 3;
  auto out = through_the_wire(node.system(), env);
  CHECK(out.meta.job_id == 42);
  CHECK(out.meta.job_attempt == 3);

  microlith::envelope_wire wire;
  wire.kind = static_cast<std::uint8_t>(envelope_kind::call);
  wire.service = "echo";
  wire.method = "Ping";
  SECTION("none sent: none received") {
    CHECK(microlith::from_wire(wire).meta.job_id == 0);
    CHECK(microlith::from_wire(wire).meta.job_attempt == 0);
  }
  SECTION("an attempt out of range drops both") {
    wire.job_id = 7;
    wire.job_attempt = microlith::max_wire_job_attempt + 1;
    auto bad = microlith::from_wire(wire);
    CHECK(bad.meta.job_id == 0);
    CHECK(bad.meta.job_attempt == 0);
    wire.job_attempt = -1;
    CHECK(microlith::from_wire(wire).meta.job_id == 0);
  }
  SECTION("a negative job id drops both") {
    wire.job_id = -7;
    wire.job_attempt = 1;
    auto bad = microlith::from_wire(wire);
    CHECK(bad.meta.job_id == 0);
    CHECK(bad.meta.job_attempt == 0);
  }
}

TEST_CASE_METHOD(node_fixture, "a trace crosses the wire with its parent span", "[unit]") {
  envelope env;
  env.kind = envelope_kind::call;
  env.service = "echo";
  env.method = "Ping";
  env.meta.parent_span = 0x1234'5678'9abc'def0ULL;
  env.meta.span = 77; // the sender's own span: not sent

  SECTION("traced and forced") {
    env.meta.traced = true;
    env.meta.trace_forced = true;
    auto out = through_the_wire(node.system(), env);
    CHECK(out.meta.traced);
    CHECK(out.meta.trace_forced);
    CHECK(out.meta.parent_span == 0x1234'5678'9abc'def0ULL);
    CHECK(out.meta.span == 0);
  }
  SECTION("traced, not forced") {
    env.meta.traced = true;
    auto out = through_the_wire(node.system(), env);
    CHECK(out.meta.traced);
    CHECK_FALSE(out.meta.trace_forced);
    CHECK(out.meta.parent_span == 0x1234'5678'9abc'def0ULL);
  }
  SECTION("untraced: no flags, no parent") {
    env.meta.trace_forced = true; // without traced it means nothing
    auto out = through_the_wire(node.system(), env);
    CHECK_FALSE(out.meta.traced);
    CHECK_FALSE(out.meta.trace_forced);
    CHECK(out.meta.parent_span == 0);
  }
  SECTION("forced without traced from another process counts for nothing") {
    microlith::envelope_wire wire;
    wire.kind = static_cast<std::uint8_t>(envelope_kind::call);
    wire.trace_flags = microlith::wire_trace_forced;
    wire.parent_span = 5;
    auto out = microlith::from_wire(wire);
    CHECK_FALSE(out.meta.traced);
    CHECK_FALSE(out.meta.trace_forced);
    CHECK(out.meta.parent_span == 0);
  }
  SECTION("the fields before the trace keep their places") {
    // A reader that knows only the fields up to job_attempt reads a traced envelope's prefix
    // unchanged: the trace fields come last.
    env.meta.traced = true;
    env.meta.job_id = 9;
    env.meta.job_attempt = 2;
    auto wire = microlith::to_wire(env);
    std::vector<char> with_trace;
    caf::binary_serializer sink{node.system(), with_trace};
    REQUIRE_FALSE(sink(wire));
    wire.trace_flags = 0;
    wire.parent_span = 0;
    std::vector<char> without_trace;
    caf::binary_serializer sink2{node.system(), without_trace};
    REQUIRE_FALSE(sink2(wire));
    // Fixed-width integers: the flags (1 byte) and the parent span (8) are the last 9 bytes.
    REQUIRE(with_trace.size() == without_trace.size());
    CHECK(std::equal(without_trace.begin(), without_trace.end() - 9, with_trace.begin()));
    CHECK_FALSE(std::equal(without_trace.end() - 9, without_trace.end(), with_trace.end() - 9));
  }
}

TEST_CASE("a body this node cannot rebuild is not rebuilt", "[unit]") {
  microlith::envelope_wire wire;
  wire.kind = static_cast<std::uint8_t>(envelope_kind::call);
  wire.service = "echo";
  wire.method = "Ping";

  SECTION("an unknown type") {
    wire.body_type = "elsewhere.Unknown";
    wire.body_bytes = "\x08\x01";
    auto out = microlith::from_wire(wire);
    CHECK_FALSE(out.body);
    CHECK_THAT(out.undecodable, Contains("does not know the message type \"elsewhere.Unknown\""));
  }
  SECTION("a very long unknown type name is cut in the message") {
    wire.body_type = std::string(10000, 'x');
    auto out = microlith::from_wire(wire);
    CHECK_FALSE(out.body);
    CHECK(out.undecodable.size() < 400);
  }
  SECTION("bytes that do not parse") {
    wire.body_type = "microlith.test.PingRequest";
    wire.body_bytes = "\xff\xff\xff";
    auto out = microlith::from_wire(wire);
    CHECK_FALSE(out.body);
    CHECK_THAT(out.undecodable, Contains("do not parse as microlith.test.PingRequest"));
  }
  SECTION("an unknown kind") {
    wire.kind = 99;
    CHECK_THAT(microlith::from_wire(wire).undecodable, Contains("unknown envelope kind 99"));
  }
}

TEST_CASE_METHOD(node_fixture, "a call whose body cannot be read is answered bad_request",
                 "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));
  microlith::envelope_wire wire;
  wire.kind = static_cast<std::uint8_t>(envelope_kind::call);
  wire.call_id = 1;
  wire.service = "echo";
  wire.method = "Ping";
  wire.body_type = "elsewhere.Unknown";
  caf::scoped_actor self{node.system()};
  self->send(echo, microlith::from_wire(wire));
  bool answered = false;
  self->receive(
    [&](envelope& reply) {
      answered = true;
      CHECK(reply.kind == envelope_kind::reply);
      CHECK(reply.call_id == 1);
      CHECK(microlith::is(reply.error, errc::bad_request));
      CHECK_THAT(microlith::message_of(reply.error),
                 Contains("echo.Ping: the request cannot be read: this node does not know the "
                          "message type \"elsewhere.Unknown\""));
    },
    caf::after(5s) >> [] {});
  CHECK(answered);
  // The echo instance is unharmed and serves the next call.
  auto r = node.call<pb::PingReply>("echo", "Ping", ping("after", 1));
  REQUIRE(r);
  CHECK(r->text() == "after");
}

namespace {

// A node whose actor system loads CAF's middleman (BASP over TCP), as the cluster's nodes do.
microlith::node_options with_middleman() {
  auto opts = two_threads();
  opts.configure_system = [](caf::actor_system_config& cfg) { cfg.load<caf::io::middleman>(); };
  return opts;
}

} // namespace

TEST_CASE("an envelope sent to another node arrives rebuilt (CAF's BASP over TCP)", "[unit]") {
  microlith::node a{with_middleman()};
  microlith::node b{with_middleman()};
  auto echo = must_spawn(a, echo_service("echo"));
  auto port = a.system().middleman().publish(echo, 0, "127.0.0.1", true);
  REQUIRE(port);
  auto remote = b.system().middleman().remote_actor("127.0.0.1", *port);
  REQUIRE(remote);
  caf::scoped_actor self{b.system()};
  self->send(*remote,
             microlith::make_call(
               9, "echo", "Ping", std::make_shared<const pb::PingRequest>(ping("over tcp", 11)),
               {"corr-remote", "node-b", microlith::clock::now() + 5s, 2, {}, {}, {}}));
  bool answered = false;
  self->receive(
    [&](envelope& reply) {
      answered = true;
      CHECK(reply.kind == envelope_kind::reply);
      CHECK(reply.call_id == 9);
      CHECK_FALSE(reply.error);
      CHECK(reply.undecodable.empty());
      // What the echo service saw on node a: the body and the metadata, rebuilt.
      const auto* body = dynamic_cast<const pb::PingReply*>(reply.body.get());
      REQUIRE(body != nullptr);
      CHECK(body->text() == "over tcp");
      CHECK(body->value() == 11);
      CHECK(body->correlation_id() == "corr-remote");
      CHECK(body->caller() == "node-b");
      CHECK(body->hops() == 2);
      CHECK(body->remaining_ms() > 0);
      CHECK(body->remaining_ms() <= 5000);
    },
    caf::after(10s) >> [] {});
  CHECK(answered);
}

TEST_CASE("a received deadline far away is kept as a year at most without overflowing the clock",
          "[unit]") {
  microlith::envelope_wire wire;
  wire.kind = static_cast<std::uint8_t>(envelope_kind::call);
  wire.service = "echo";
  wire.method = "Ping";
  using namespace std::chrono;
  for (std::int64_t left : {std::numeric_limits<std::int64_t>::max(), std::int64_t{1} << 50,
                            std::int64_t{400} * 24 * 3600 * 1000}) {
    INFO(left);
    wire.deadline_ms_left = left;
    auto before = microlith::clock::now();
    auto in = microlith::from_wire(wire).meta.deadline;
    CHECK(in - before >= hours(24 * 364));
    CHECK(in - before <= hours(24 * 366));
  }
  wire.deadline_ms_left = 5000; // a deadline within the year stays as sent
  auto before = microlith::clock::now();
  auto in = microlith::from_wire(wire).meta.deadline;
  CHECK(in - before >= milliseconds(5000));
  CHECK(in - before <= milliseconds(5000) + minutes(1));
}
