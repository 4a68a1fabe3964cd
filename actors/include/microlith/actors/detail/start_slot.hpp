// The pending start of an instance whose state finishes building later. Its definition lives with
// the actor that owns it (actors/src/detail/endpoint_actor.hpp); `start_gate` and
// `call_context::defer_start` reach it through these functions only.
#pragma once

#include <caf/error.hpp>

#include <memory>

namespace microlith::detail {

class endpoint_actor;

/// The pending start of an instance whose state finishes building later.
struct start_slot;

/// Defers `self`'s start; throws std::logic_error unless its state is being built.
std::shared_ptr<start_slot> defer_start(endpoint_actor* self);

/// Opens (empty error) or fails the deferred start behind `slot` (once).
void finish_start(start_slot& slot, caf::error err);

} // namespace microlith::detail
