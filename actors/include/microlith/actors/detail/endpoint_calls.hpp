// What `call_context` and `pending_call` ask of the actor they run in (the endpoint actor behind
// every service and worker, actors/src/detail/endpoint_actor.hpp): sending calls, casts and
// publications in the name of the request being handled, installing continuations, and
// subscriptions. Implemented in actors/src/endpoint_actor.cpp.
#pragma once

#include "microlith/actors/envelope.hpp"

#include <caf/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace caf {
class event_based_actor;
} // namespace caf

namespace microlith {

class call_context;

namespace detail {

class endpoint_actor;

/// Completion of an outgoing call: a body or an error (exactly one is set).
using reply_handler = std::function<void(const message_ptr& body, const caf::error& err)>;

/// Sends a call; returns the call's id in `self`'s pending table.
std::uint64_t send_call(endpoint_actor* self, const metadata& parent, std::string service,
                        std::string method, message_ptr body, std::chrono::milliseconds timeout);

/// Installs the completion of call `id`.
void set_continuation(endpoint_actor* self, std::uint64_t id, reply_handler handler);

/// Sends a cast.
void send_cast(endpoint_actor* self, const metadata& parent, std::string service,
               std::string method, message_ptr body);

/// Receives a message published to a topic the actor subscribes to.
using topic_handler = std::function<void(call_context& ctx, const message_ptr& body)>;

/// Publishes to `topic`; answers how many subscribers it was sent to.
std::size_t publish(endpoint_actor* self, const metadata& parent, const std::string& topic,
                    message_ptr body);

/// Subscribes `self` to `topic` (replacing its handler if it subscribed before).
void subscribe(endpoint_actor* self, std::string topic, topic_handler handler);

/// Ends `self`'s subscription to `topic`.
void unsubscribe(endpoint_actor* self, const std::string& topic);

/// The CAF actor behind `self`.
caf::event_based_actor* as_caf_actor(endpoint_actor* self);

/// The name of the service or worker `self` runs.
const std::string& name_of(endpoint_actor* self);

/// The node's toggle snapshot now (for a check outside a request).
std::shared_ptr<const toggle_snapshot> current_toggles(endpoint_actor* self);

} // namespace detail

} // namespace microlith
