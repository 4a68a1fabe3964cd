// The supervisor: an actor that starts children, watches them, restarts them by its strategy,
// and stops them in order. Its semantics are those of Erlang/OTP's `supervisor`:
//
// Flags (and OTP's defaults):
// - strategy: one_for_one (default) — only the child that exited is restarted;
//   one_for_all — all children are stopped (in reverse start order) and restarted (in start
//   order); rest_for_one — the children started after the exited one are stopped (in reverse)
//   and restarted with it (in order).
// - intensity (default 1) and period (default 5 s): more than `intensity` restarts within
//   `period` make the supervisor stop all its children in reverse start order and exit with
//   reason `shutdown` (CAF's exit_reason::user_shutdown), escalating to its parent.
//
// Lifecycle:
// 1. Start: children start one at a time in the order given; each must have started (see
//    child_spec::awaits_ready) before the next starts. If one fails to start, the ones already
//    started are stopped in reverse order and the supervisor exits with an error naming that
//    child: a supervisor whose start fails does not run.
// 2. Run: a child that exits is handled by its restart type (child_spec.hpp), then the strategy.
//    A restart that fails to start counts as a restart and is retried through the supervisor's
//    mailbox (never a loop inside a handler), until the intensity is exceeded.
// 3. Stop: on an exit signal from its parent (or its owner), once any restart under way is
//    done, the supervisor stops its children in reverse start order — each asked to stop
//    (`user_shutdown`), given its shutdown time, then killed — and exits with the reason it was
//    given. A supervisor that dies any other way (killed) kills the children it still has on its
//    way out. (Children are monitored, not linked: in CAF an exit reason `kill` crosses a link and
//    cannot be trapped, so a killed child would take its supervisor with it.)
//
// Run time (child_operations.hpp, OTP's API): start_child adds a child spec, terminate_child
// stops a child (not a restart, not counted), restart_child starts a stopped child again,
// delete_child removes a stopped child's spec, which_children and count_children report. A
// request that changes children waits until a restart under way is done, as do exits and a stop
// request: a stop that arrives during a restart lets the restart finish, then stops the
// children in reverse start order (as OTP's supervisor, which handles the exit signal after the
// restart it is performing).
//
// A supervisor is itself a child of another: see supervisor_child(). Every supervisor answers
// `snapshot_atom` with a tree_snapshot of its subtree (see snapshot_of()).
#pragma once

#include "microlith/actors/atoms.hpp" // ready_atom, which children send when started
#include "microlith/supervision/child_operations.hpp"
#include "microlith/supervision/child_spec.hpp"
#include "microlith/supervision/snapshot.hpp"
#include "microlith/supervision/supervisor_flags.hpp"
#include "microlith/supervision/supervisor_spec.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

namespace microlith {

/// Spawns a supervisor with `spec`, not linked to anyone; once it has started all its
/// children it sends `ready_atom` to `ready_to` (when set), or exits with the start failure.
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_spec spec,
                            const caf::actor& ready_to = {});

/// Starts a supervisor and waits until all its children have started (or it failed to start).
caf::expected<caf::actor> start_supervisor(caf::actor_system& sys, supervisor_spec spec);

/// A child spec that runs `spec` as a nested supervisor (kind supervisor, shutdown infinity).
child_spec supervisor_child(supervisor_spec spec);

} // namespace microlith
