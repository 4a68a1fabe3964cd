// Where a promise answers: the slot of one call that its handler answers later. Its definition
// lives with the actor that owns it (actors/src/detail/endpoint_actor.hpp); `promise<Resp>` and
// `call_context::make_promise` reach it through these functions only.
#pragma once

#include "microlith/actors/envelope.hpp"

#include <caf/error.hpp>

#include <memory>

namespace microlith::detail {

class endpoint_actor;

/// Where and how to answer one call; shared by the copies of a promise.
struct reply_slot;

/// Answers the call behind `slot` (once; later answers are ignored).
void deliver(reply_slot& slot, message_ptr value, caf::error err);

/// A slot for the request `self` is handling right now; throws std::logic_error outside a handler.
std::shared_ptr<reply_slot> make_slot(endpoint_actor* self);

} // namespace microlith::detail
