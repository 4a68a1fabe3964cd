// The envelope: the only message that crosses a group boundary. It names the target service and
// method, carries a Protobuf body by reference-counted pointer (shared, never copied or
// serialized inside one process) and the call's metadata. Replies travel in envelopes too, so
// every cross-group interaction is one registered CAF message type ("microlith.envelope") that
// crosses nodes as (type name, bytes) — see envelope_wire.
#pragma once

#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace google::protobuf {
class Message;
} // namespace google::protobuf

namespace microlith {

class toggle_snapshot;
struct toggle_override;

/// A Protobuf message shared between actors. Immutable once sent.
using message_ptr = std::shared_ptr<const google::protobuf::Message>;

/// The clock of deadlines.
using clock = std::chrono::steady_clock;

/// Calls deeper than this are refused with bad_request: a chain that long is a call loop.
inline constexpr std::uint32_t max_hops = 64;

/// What travels with every call and is inherited by the calls its handler makes.
struct metadata {
  /// Identifies one logical request end to end (e.g. from the gateway's X-Request-Id). Empty when
  /// the call did not start from one; nested calls inherit it.
  std::string correlation_id;
  /// Who called: the calling service's name, or the name of the actor or helper that called.
  std::string caller;
  /// The instant after which nobody waits for the answer.
  clock::time_point deadline{};
  /// How many calls deep this one is (0 for a call that did not come from a handler).
  std::uint32_t hops = 0;
  /// The client's key for the logical operation this call belongs to (e.g. from the gateway's
  /// Idempotency-Key header): a retry of the same operation carries the same key, so a service
  /// that records it with its effect can answer a repeat with the first outcome instead of
  /// applying it twice. Empty when the client gave none; nested calls inherit it.
  std::string idempotency_key;
  /// The toggle values in force when the request entered this node (toggles.hpp): captured once
  /// (node::call, an async caller's call, or the first service it reaches) and inherited by
  /// every call it causes, so its nested calls all see one snapshot. Its digest is sent to
  /// other nodes (toggles_digest), not its values.
  std::shared_ptr<const toggle_snapshot> toggles;
  /// Per-call toggle overrides (toggles.hpp): values that beat every gate for this call and
  /// every call it causes, on every node. Null when the call has none. Validated where the call
  /// enters a node (declared names only, the node's policy); sent to other nodes, which
  /// validate them again against their own declarations and policy.
  std::shared_ptr<const std::vector<toggle_override>> toggle_overrides;
  /// On a call, cast or publication that arrived from another node: the digest of the snapshot
  /// its request entered the system with (toggle_snapshot::digest); 0 when it named none.
  /// Where it enters this node, the snapshot of that digest among the ones this node published
  /// recently becomes `toggles`; when this node has none (a miss, counted), its current one.
  /// Inherited by the nested calls, and sent on to other nodes instead of the digest of the
  /// snapshot used here: a miss on this node does not rewrite what the request entered with.
  std::uint64_t toggles_digest = 0;
  /// The background job this call runs (call_context::job_id()), 0 when it runs none: set by
  /// the job runner on its call of a queue's method, inherited by every call that handler
  /// causes and sent to other nodes, so a service the job's work reaches on any node sees which
  /// job and attempt it serves (for its own idempotency).
  std::int64_t job_id = 0;
  /// The attempt of `job_id` this call is (1 for the first; call_context::attempt()).
  std::int32_t job_attempt = 0;
  /// The request is traced (trace.hpp): every call it causes records a span on the node that
  /// serves it. Set where the request starts (the gateway, a caller's options); inherited by
  /// every call it causes and sent to other nodes.
  bool traced = false;
  /// The traced request was forced into the trace log by its client (the gateway's
  /// X-Microlith-Trace header) rather than sampled; inherited and sent with `traced`.
  bool trace_forced = false;
  /// In a traced call: the span of the call that made it (0 for a request's first call, or the
  /// gateway's root span). Set from the caller's `span` on every nested call; sent to other nodes.
  std::uint64_t parent_span = 0;
  /// While a traced call is served: its own span id, fresh where it is served (the parent of
  /// the calls its handler makes); 0 otherwise. Not sent: each node gives its own.
  std::uint64_t span = 0;
};

/// What an envelope is.
enum class envelope_kind : std::uint8_t {
  call = 0,    ///< a request expecting one reply
  cast = 1,    ///< fire-and-forget, at most once
  reply = 2,   ///< the answer to a call: a body, or an error
  publish = 3, ///< a message published to a topic (`service` holds the topic), at most once
};

/// The unit of cross-group communication.
struct envelope {
  envelope_kind kind = envelope_kind::call;
  /// Chosen by the caller to match the reply to its call; 0 for casts.
  std::uint64_t call_id = 0;
  /// The target service (for a reply: the service that answered; for a publish: the topic).
  std::string service;
  /// The target method (for a reply: the method that answered).
  std::string method;
  /// The request or response body; empty in an error reply.
  message_ptr body;
  /// The failure, in an error reply.
  caf::error error;
  metadata meta;
  /// Set when the envelope came from another node with a body this node cannot rebuild (a type
  /// it does not know, or bytes that do not parse): why. The body is then empty; a call is
  /// answered bad_request with this text.
  std::string undecodable;
};

/// A call: `body` for `service`.`method`, with `call_id` to match its reply and `meta`.
inline envelope make_call(std::uint64_t call_id, std::string service, std::string method,
                          message_ptr body, metadata meta) {
  envelope env;
  env.kind = envelope_kind::call;
  env.call_id = call_id;
  env.service = std::move(service);
  env.method = std::move(method);
  env.body = std::move(body);
  env.meta = std::move(meta);
  return env;
}

/// An envelope as it crosses a node boundary: the body as (type name, bytes), the deadline as
/// the time left (steady clocks of two processes cannot be compared).
struct envelope_wire {
  std::uint8_t kind = 0;
  std::uint64_t call_id = 0;
  std::string service;
  std::string method;
  std::string body_type;  ///< the body's full Protobuf name; empty for no body
  std::string body_bytes; ///< the body, serialized
  caf::error error;
  std::string correlation_id;
  std::string caller;
  std::int64_t deadline_ms_left = -1; ///< -1 = no deadline; 0 = already passed
  std::uint32_t hops = 0;
  std::string idempotency_key;
  /// The call's toggle overrides: names and values (byte 1 on, 0 off) in the same order. The
  /// receiving node keeps at most max_toggle_overrides of them and validates them at entry.
  /// The values are a string, not a vector of bytes: CAF 0.17 sizes a byte vector to the length
  /// the sender wrote before it checks that the bytes are there (a forged length of 3 GB
  /// allocated 3 GB), while a string's length is checked first. Both are written alike on the
  /// wire (the length, then the bytes), so nodes of either kind read each other.
  std::vector<std::string> toggle_override_names;
  std::string toggle_override_values;
  /// The digest of the snapshot the request entered with (metadata::toggles); 0 for none.
  std::uint64_t toggles_digest = 0;
  /// The job and attempt the call serves (metadata::job_id, job_attempt); 0 for none. The
  /// receiving node keeps them only when both are in range (job_id > 0, 1 <= attempt <=
  /// max_wire_job_attempt), else neither.
  std::int64_t job_id = 0;
  std::int32_t job_attempt = 0;
  /// The call's tracing (metadata::traced, trace_forced): bit 0 traced, bit 1 forced; other
  /// bits are ignored, and forced counts only together with traced.
  std::uint8_t trace_flags = 0;
  /// The span of the call that made this one (metadata::parent_span); kept only when traced.
  std::uint64_t parent_span = 0;
};

/// envelope_wire::trace_flags: the call is traced.
inline constexpr std::uint8_t wire_traced = 1;
/// envelope_wire::trace_flags: the traced call was forced into the log by its client.
inline constexpr std::uint8_t wire_trace_forced = 2;

/// The largest attempt a received envelope may carry (a job's max_attempts is at most 1000 and
/// a retry by hand adds one each time).
inline constexpr std::int32_t max_wire_job_attempt = 1'000'000;

/// The wire form of `env` (serializes the body).
envelope_wire to_wire(const envelope& env);

/// Rebuilds an envelope: the body from the generated descriptor pool by type name. A type this
/// node does not know (or bytes that do not parse) leaves the body empty and says why in
/// `undecodable`; nothing is registered or cached for it.
envelope from_wire(envelope_wire wire);

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, envelope_wire& x) {
  return f(caf::meta::type_name("microlith.envelope"), x.kind, x.call_id, x.service, x.method,
           x.body_type, x.body_bytes, x.error, x.correlation_id, x.caller, x.deadline_ms_left,
           x.hops, x.idempotency_key, x.toggle_override_names, x.toggle_override_values,
           x.toggles_digest, x.job_id, x.job_attempt, x.trace_flags, x.parent_span);
}

/// CAF serializes an envelope only when it leaves the node (a local send moves it, body
/// pointer and all): saving writes its wire form, loading rebuilds it from one.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, envelope& x) {
  if constexpr (Inspector::reads_state) {
    auto wire = to_wire(x);
    return inspect(f, wire);
  } else {
    envelope_wire wire;
    auto result = inspect(f, wire);
    x = from_wire(std::move(wire));
    return result;
  }
}

} // namespace microlith
