// The dynamic supervisor: OTP's simple_one_for_one. All children come from one template and are
// added and removed at run time (many thousands of them); they have no order.
//
// - start_child(args): starts a child from the template with `args` (a caf::message handed to
//   the template's start function) and answers its handle once it has started (signalled ready,
//   when the template awaits it), or the start failure. Starts run concurrently.
// - terminate_child(child): stops that child within the template's shutdown time (then kills
//   it) and forgets it; answers once it is gone (child_errc::not_found for a handle that is not
//   a running child).
// - which_children, count_children: as a static supervisor (child_operations.hpp); specs is 1,
//   the template. restart_child and delete_child answer child_errc::not_applicable (OTP:
//   simple_one_for_one).
// - Exits: the template's restart type decides (permanent / transient / temporary, as for a
//   static supervisor); a restarted child gets the same args. Restarts count towards the
//   intensity (default 1 in 5 s); exceeding it stops every child and exits with `shutdown`.
//   Optional backoff as for static supervisors, per child.
// - Stop: every child is asked to stop at once (OTP stops dynamic children asynchronously), given
//   the template's shutdown time, then killed; the supervisor exits when all are gone.
// - Snapshot: answers snapshot_atom like a static supervisor, one entry per child
//   ("<template id>-<n>", n counting up from 1).
#pragma once

#include "microlith/supervision/child_operations.hpp"
#include "microlith/supervision/child_spec.hpp"
#include "microlith/supervision/dynamic_supervisor_spec.hpp"
#include "microlith/supervision/snapshot.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace microlith {

/// Spawns a dynamic supervisor (it starts with no children and signals `ready_to` at once).
caf::actor spawn_dynamic_supervisor(caf::actor_system& sys, dynamic_supervisor_spec spec,
                                    const caf::actor& ready_to = {});

/// A child spec that runs a dynamic supervisor under another supervisor.
child_spec dynamic_supervisor_child(dynamic_supervisor_spec spec);

} // namespace microlith
