// The envelope: the only message that crosses a group boundary. It names the target service and
// method, carries a Protobuf body by reference-counted pointer (shared, never copied or
// serialized inside one process) and the call's metadata. Replies travel in envelopes too, so
// every cross-group interaction is one registered CAF message type that can later be routed
// between nodes as (type name, bytes).
#pragma once

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace google::protobuf {
class Message;
} // namespace google::protobuf

namespace microlith {

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
};

/// What an envelope is.
enum class envelope_kind : std::uint8_t {
  call = 0,  ///< a request expecting one reply
  cast = 1,  ///< fire-and-forget, at most once
  reply = 2, ///< the answer to a call: a body, or an error
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
};

} // namespace microlith

// In one process an envelope is moved between actors with its body pointer; it is never
// serialized. Crossing a node boundary converts it to its wire form first.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(microlith::envelope)
