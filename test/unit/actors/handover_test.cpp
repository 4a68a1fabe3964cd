// The handover protocol between two versions of a service (handover.hpp), on one node with real
// instances: a new instance started while a handover is expected holds its requests until it is
// committed, and then serves them on the restored state; a retired instance passes the requests
// that still reach it to its successor; a state saved as another message is refused naming both;
// an abandoned new instance gives what it held back to the old one, which serves again.
#include "microlith/actors/error.hpp"
#include "microlith/actors/handover.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/actors/service.hpp"

#include "proto/test.pb.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <string>

using Catch::Matchers::Contains;
using namespace std::chrono_literals;

namespace {

using microlith::test::CountReply;
using microlith::test::PingReply;
using microlith::test::PingRequest;

// A running total: Ping adds its value and answers the total with the instance's label.
class keeper {
public:
  explicit keeper(std::string label) : label_(std::move(label)) {}

  microlith::reply<PingReply> ping(microlith::call_context&, const PingRequest& req) {
    total_ += req.value();
    PingReply out;
    out.set_text(label_);
    out.set_value(total_);
    return out;
  }

  PingReply save() const {
    PingReply s;
    s.set_value(total_);
    return s;
  }

  void restore(microlith::call_context&, const PingReply& s) { total_ = s.value(); }

  // The state as another message type (CountReply), for the refusal.
  CountReply save_as_count() const {
    CountReply s;
    s.set_handled(static_cast<std::uint64_t>(total_));
    return s;
  }

  void restore_count(microlith::call_context&, const CountReply& s) {
    total_ = static_cast<std::int64_t>(s.handled());
  }

private:
  std::string label_;
  std::int64_t total_ = 0;
};

microlith::service_definition keeper_service(const std::string& label) {
  return microlith::service<keeper>("keeper", "microlith.test.Echo", label)
    .handle("Ping", &keeper::ping)
    .hand_over(&keeper::save, &keeper::restore);
}

// A blocking Ping by name from another thread.
std::future<caf::expected<PingReply>> ping_later(microlith::node& n, std::int64_t value) {
  return std::async(std::launch::async, [&n, value] {
    PingRequest req;
    req.set_value(value);
    return n.call<PingReply>("keeper", "Ping", req);
  });
}

PingReply ping(microlith::node& n, std::int64_t value) {
  PingRequest req;
  req.set_value(value);
  auto answer = n.call<PingReply>("keeper", "Ping", req);
  if (!answer)
    FAIL("keeper.Ping failed: " << microlith::describe(answer.error()));
  return *answer;
}

// The old instance (5 counted) and a new one started while a handover of "keeper" is expected;
// the old one is out of the registry, so calls by name reach the new one.
struct two_versions {
  two_versions() {
    auto started = n.spawn(keeper_service("old"));
    REQUIRE(started);
    old = *started;
    REQUIRE(ping(n, 5).value() == 5);
    {
      microlith::expected_handover expecting{n, {"keeper"}};
      auto fresh = n.spawn(keeper_service("new"));
      REQUIRE(fresh);
      next = *fresh;
    }
    n.registry().remove("keeper", old.address());
  }

  microlith::node n;
  caf::actor old;
  caf::actor next;
};

} // namespace

TEST_CASE("a new instance holds its requests until committed and serves them on the restored "
          "state",
          "[handover]") {
  two_versions v;
  auto held = ping_later(v.n, 1); // reaches the new instance, which holds it
  auto state = microlith::retire_instance(v.n, v.old, v.next, 10s);
  REQUIRE(state);
  CHECK(state->type == "microlith.test.PingReply");
  auto taken = microlith::import_state(v.n, v.next, *state, 10s);
  REQUIRE(taken);
  CHECK(*taken);
  microlith::commit_handover(v.next);
  REQUIRE(held.wait_for(10s) == std::future_status::ready);
  auto answer = held.get();
  REQUIRE(answer);
  // Served by the new instance after the old total (5) was restored: not 1.
  CHECK(answer->text() == "new");
  CHECK(answer->value() == 6);
}

TEST_CASE("a retired instance passes the requests that still reach it to its successor",
          "[handover]") {
  two_versions v;
  auto state = microlith::retire_instance(v.n, v.old, v.next, 10s);
  REQUIRE(state);
  REQUIRE(microlith::import_state(v.n, v.next, *state, 10s));
  microlith::commit_handover(v.next);
  // A caller that still resolves the old instance (it is the only one registered now).
  v.n.registry().remove("keeper", v.next.address());
  v.n.registry().add("keeper", v.old);
  auto answer = ping(v.n, 2);
  CHECK(answer.text() == "new");
  CHECK(answer.value() == 7);
}

TEST_CASE("a state saved as a message of another name is refused naming both types", "[handover]") {
  microlith::node n;
  auto old = n.spawn(microlith::service<keeper>("keeper", "microlith.test.Echo", "old")
                       .handle("Ping", &keeper::ping)
                       .hand_over(&keeper::save_as_count, &keeper::restore_count));
  REQUIRE(old);
  caf::actor next;
  {
    microlith::expected_handover expecting{n, {"keeper"}};
    auto fresh = n.spawn(keeper_service("new"));
    REQUIRE(fresh);
    next = *fresh;
  }
  auto state = microlith::retire_instance(n, *old, next, 10s);
  REQUIRE(state);
  auto taken = microlith::import_state(n, next, *state, 10s);
  REQUIRE_FALSE(taken);
  auto text = microlith::message_of(taken.error());
  CHECK_THAT(text, Contains("microlith.test.CountReply"));
  CHECK_THAT(text, Contains("microlith.test.PingReply"));
  CHECK(microlith::is(taken.error(), microlith::errc::failed_precondition));
}

TEST_CASE("an abandoned new instance gives its held requests back to the old one which serves "
          "again",
          "[handover]") {
  two_versions v;
  auto held = ping_later(v.n, 1);
  auto state = microlith::retire_instance(v.n, v.old, v.next, 10s);
  REQUIRE(state);
  microlith::abandon_handover(v.next, v.old);
  REQUIRE(held.wait_for(10s) == std::future_status::ready);
  auto answer = held.get();
  REQUIRE(answer);
  CHECK(answer->text() == "old");
  CHECK(answer->value() == 6);
  // The old instance registered again.
  auto instances = v.n.registry().snapshot()->instances("keeper");
  CHECK(std::find(instances.begin(), instances.end(), v.old) != instances.end());
}
