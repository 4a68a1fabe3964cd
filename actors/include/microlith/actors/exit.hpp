// Exit signals that overtake queued work. In CAF 0.17 an exit message is an ordinary mailbox
// message of normal priority: an actor with a long backlog processes all of it before it sees
// even `kill`. OTP's exit signals are not queued behind messages, and a supervisor's shutdown
// timeout means nothing if the stop request waits in line; microlith therefore sends exit
// signals with high priority, into CAF's urgent queue, which an actor drains first.
#pragma once

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

namespace microlith {

/// Sends `dest` an exit signal with `reason`, ahead of the messages already in its mailbox.
/// `from` (when given) is the signal's source, as the receiver's exit handler sees it.
void signal_exit(const caf::actor& dest, caf::error reason, caf::local_actor* from = nullptr);

} // namespace microlith
