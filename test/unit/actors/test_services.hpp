// The services the kernel's unit tests start (contracts in test/proto/test.proto), and a probe
// through which handlers report what they saw to the test thread.
//
// - echo (microlith.test.Echo): answers at once or after a delay, hangs, drops its promise,
//   fails, throws, answers twice, remembers values sent by cast, counts what it handled.
// - relay (microlith.test.Relay): forwards a request through zero or more relays to an Echo
//   method and answers through a promise once the nested call has answered.
#pragma once

#include "proto/test.pb.h"
#include "support/two_threads.hpp"

#include <microlith/actors/node.hpp>
#include <microlith/actors/service.hpp>

#include <caf/actor.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace unit_actors {

namespace pb = microlith::test;
using steady = std::chrono::steady_clock;
using test_support::two_threads;

/// What handlers report to the test thread: named entries with the instant they were recorded.
class probe {
public:
  struct entry {
    std::string text;
    steady::time_point at;
  };

  /// Records `text` under `key` (a later record under the same key replaces it).
  void record(const std::string& key, std::string text);

  /// Waits until `key` is recorded, at most `limit`.
  std::optional<entry> wait_for(const std::string& key, std::chrono::milliseconds limit);

  /// Appends `event` to the ordered list of events.
  void note(std::string event);

  /// The events noted so far, oldest first.
  std::vector<std::string> notes();

  /// Forgets every entry and event.
  void reset();

private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, entry> entries_;
  std::vector<std::string> notes_;
};

/// The probe the test services report to.
probe& the_probe();

/// The state of an Echo instance. Hang reports "<name>.hang" to the probe once it holds the
/// promise it will never deliver; the state notes "<name> stopped" when it is destroyed (which
/// happens as its actor exits, before anyone monitoring it learns of the exit).
class echo {
public:
  explicit echo(microlith::call_context& ctx);
  ~echo();
  echo(const echo&) = delete;
  echo& operator=(const echo&) = delete;

  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::PingReply> hang(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::PingReply> drop(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::PingReply> fail(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::PingReply> raise(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::PingReply> promise_then_throw(microlith::call_context& ctx,
                                                     const pb::PingRequest& req);
  microlith::reply<pb::PingReply> twice(microlith::call_context& ctx, const pb::PingRequest& req);
  microlith::reply<pb::Empty> remember(microlith::call_context& ctx, const pb::SetRequest& req);
  microlith::reply<pb::PingReply> recall(microlith::call_context& ctx, const pb::GetRequest& req);
  microlith::reply<pb::CountReply> count(microlith::call_context& ctx, const pb::Empty& req);
  microlith::reply<pb::Empty> wake(microlith::call_context& ctx, const pb::WakeRequest& req);

private:
  pb::PingReply answer_to(microlith::call_context& ctx, const pb::PingRequest& req);

  struct delayed {
    microlith::promise<pb::PingReply> promise;
    pb::PingReply reply;
  };

  std::string name_;
  std::uint64_t instance_;
  std::uint64_t handled_ = 0;
  std::uint64_t next_token_ = 1;
  std::vector<microlith::promise<pb::PingReply>> hanging_;
  std::unordered_map<std::uint64_t, delayed> delayed_;
  std::map<std::string, std::int64_t> memory_;
};

/// The state of a Relay instance. Reports the error of a failed nested call to the probe under
/// "<name>.error" (and its success under "<name>.ok").
class relay {
public:
  microlith::reply<pb::RelayReply> forward(microlith::call_context& ctx,
                                           const pb::RelayRequest& req);
};

/// An Echo service called `name`.
microlith::service_definition echo_service(std::string name = "echo");

/// A Relay service called `name`.
microlith::service_definition relay_service(std::string name = "relay");

/// A ping request.
pb::PingRequest ping(std::string text, std::int64_t value = 0, std::int64_t delay_ms = 0);

/// A relay request that ends with `method` of the Echo service `service`.
pb::RelayRequest relay_to(std::string service, std::string method, pb::PingRequest req,
                          std::vector<std::string> via = {},
                          std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

/// Blocking call options with a timeout, a correlation id and a caller.
microlith::blocking_call_options with(std::chrono::milliseconds timeout,
                                      std::string correlation_id = {},
                                      std::string caller = "client");

/// Starts `def` on `n` and answers the instance; throws (failing the test) with the error's
/// description when it does not start.
caf::actor must_spawn(microlith::node& n, const microlith::service_definition& def);

/// Waits until `instance` has exited, at most `limit`; false when it is still running.
bool wait_down(microlith::node& n, const caf::actor& instance, std::chrono::milliseconds limit);

/// Milliseconds from `from` to `to`.
long long millis_between(steady::time_point from, steady::time_point to);

/// A node with two scheduler threads and a clean probe, for one test case.
struct node_fixture {
  node_fixture() { the_probe().reset(); }
  microlith::node node{two_threads()};
};

} // namespace unit_actors
