// Operations outside the actor system that answer an actor later, as a call to a service does:
// net/'s HTTP client, whose requests run on its own I/O thread. Such an operation takes an entry
// in the calling actor's pending-call table (no callee to monitor; the table's deadline timer
// ends it with `timeout` if nothing comes), and its outcome comes back through the actor's
// mailbox as a reply envelope with the entry's id, from any thread, so its continuation runs in
// the actor like a call's. Implemented in actors/src/endpoint_actor.cpp.
#pragma once

#include "microlith/actors/detail/endpoint_calls.hpp"
#include "microlith/actors/envelope.hpp"

#include <caf/actor_addr.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <string>

namespace caf {
class event_based_actor;
} // namespace caf

namespace microlith::detail {

/// The endpoint actor (service or worker) behind `actor`, or null when `actor` is none.
endpoint_actor* endpoint_of(caf::event_based_actor* actor) noexcept;

/// Records an outside operation in `self`'s pending table, ended with `timeout` at `deadline`
/// unless answered first; `what` and `target` name it in that error ("what.target did not
/// answer within ..."). Answers the entry's id; install its continuation with set_continuation.
std::uint64_t expect_outside(endpoint_actor* self, std::string what, std::string target,
                             clock::time_point deadline);

/// Sends the outcome of outside operation `id` to `actor` (from any thread): its continuation
/// runs in the actor with a null body and `err` (empty for success; the operation's own result
/// travels beside, in what the continuation captured). Nothing happens if the actor is gone.
void end_outside(const caf::actor_addr& actor, std::uint64_t id, caf::error err);

} // namespace microlith::detail
