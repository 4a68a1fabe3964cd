// Calls from threads that must never block — an HTTP server's I/O threads, say. An async_caller
// sends each call's envelope from the calling thread straight to the service, and the answer
// comes straight back to it: no actor of the node relays either way. Behind it is a small actor
// that is not scheduled (its "mailbox" is a function run by whichever thread delivers a message:
// the callee's scheduler thread for an answer, the dying callee's thread for its down message).
// It keeps the table of calls in flight, one monitor per distinct callee (a callee's death fails
// its calls with service_down at once) and a single deadline timer re-armed only when an
// earlier deadline appears; the timer's tick is handled by a small scheduled actor, on a
// scheduler thread (never on CAF's clock thread):
//
//   microlith::async_caller caller{node, "gateway"};   // "gateway" is the calls' caller name
//   caller.call("accounts", "Balance", body, {std::chrono::seconds(2), request_id},
//               [](caf::expected<microlith::message_ptr> reply) { /* post to your thread */ });
//
// The completion runs exactly once: with the reply's body; with the callee's error; with
// timeout when the deadline passes first (timeout 0 = the node's default); with service_down
// when the instance called stops or crashes first; with service_unavailable when no instance is
// known, or the caller is (or gets) closed. It runs on the thread that delivers the outcome —
// a scheduler thread (or the thread of the middleman for a callee on another node), or the
// calling thread itself for a call refused at once — with no lock held: keep it short, do not let
// it throw, and hand the result to your own thread. The calls carry the correlation id given and
// the caller name as metadata, hop count 0 (they do not come from a handler).
//
// Timeouts complete in deadline order, calls with the same deadline in the order they were
// made: also when the tick comes late (busy scheduler threads) and finds several calls expired
// at once, it completes them in that order, one after the other, on its thread.
//
// Lifetime: copies share one caller; close() (or destroying the last copy) completes every call
// still in flight with service_unavailable, refuses later ones, and returns only once no
// completion of the caller runs on another thread any more: after it, nothing the completions
// captured is used. Close it before its node shuts down.
#pragma once

#include "microlith/actors/envelope.hpp"
#include "microlith/actors/toggles.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace microlith {

class node;

/// What a call from a plain thread carries besides its body.
struct async_call_options {
  /// How long to wait for the answer; zero means the node's default.
  std::chrono::milliseconds timeout{0};
  /// The correlation id the call (and every call it causes) carries; none when empty.
  std::string correlation_id;
  /// The idempotency key the call (and every call it causes) carries; none when empty.
  std::string idempotency_key;
  /// The background job the call runs and its attempt (call_context::job_id(), attempt()); 0
  /// for a call that runs no job. Set by the job runner.
  std::int64_t job_id = 0;
  std::int32_t job_attempt = 0;
  /// Traces the call and every call it causes (trace.hpp): each records a span where it is
  /// served. `trace_forced` marks it forced into the log by the client (and traces it too).
  bool traced = false;
  bool trace_forced = false;
  /// The span the call's own span hangs under (e.g. the root span the gateway records for the
  /// request, node::record_span); 0 for none.
  std::uint64_t parent_span = 0;
};

/// Receives the answer of an async call: the reply's body or an error.
using async_completion = std::function<void(caf::expected<message_ptr>)>;

namespace detail {
class call_port;
} // namespace detail

/// Makes calls on behalf of plain threads, straight to the services of one node. Cheap to
/// copy; safe to use from any thread.
class async_caller {
public:
  /// A caller that has nothing to call: every call completes with service_unavailable.
  async_caller() = default;

  /// A caller of `host`'s services, named `caller` in the metadata of its calls.
  async_caller(node& host, std::string caller);

  /// Calls `service.method` with `body`; `done` runs once with the answer. The call (and every
  /// call it causes) sees the toggle values of `toggles`; null = the node's snapshot when the
  /// call is made (toggles.hpp).
  void call(std::string service, std::string method, message_ptr body, async_call_options options,
            async_completion done, std::shared_ptr<const toggle_snapshot> toggles = nullptr) const;

  /// The same call carrying per-call toggle overrides (toggles.hpp) for the call and every call
  /// it causes, on every node: `caller.call("transfers", "Transfer", body, options,
  /// {{"bank.transfer_fee", true}}, done)`. Honoured only when the node's policy says so
  /// (toggle_override_policy::honoured); else dropped and counted. A name that is not declared,
  /// one given twice or more than max_toggle_overrides complete the call at once with
  /// invalid_argument naming the problem.
  void call(std::string service, std::string method, message_ptr body, async_call_options options,
            toggle_overrides overrides, async_completion done,
            std::shared_ptr<const toggle_snapshot> toggles = nullptr) const;

  /// Completes every call in flight with service_unavailable, now, and refuses later calls
  /// (for every copy); returns once no completion runs on another thread. Idempotent;
  /// destroying the last copy does it too.
  void close() const;

  /// How many calls are in flight.
  std::size_t in_flight() const;

  /// The name the calls carry as their caller.
  const std::string& name() const noexcept;

  /// False for a default-constructed caller.
  explicit operator bool() const noexcept { return static_cast<bool>(port_); }

private:
  std::shared_ptr<detail::call_port> port_;
};

} // namespace microlith
