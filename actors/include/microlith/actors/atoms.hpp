// The CAF atoms microlith's own protocols use between its actors (inside a node).
#pragma once

#include <caf/atom.hpp>

namespace microlith {

/// Sent by a starting service or worker to whoever started it, once it is registered and ready.
using ready_atom = caf::atom_constant<caf::atom("ml_ready")>;

/// Asks a microlith service or worker for (mailbox size, services it registered).
using info_atom = caf::atom_constant<caf::atom("ml_info")>;

/// An actor's own deadline timer firing.
using tick_atom = caf::atom_constant<caf::atom("ml_tick")>;

// State handover between two versions of a service (handover.hpp).

/// Asks an instance leaving the registry to send later requests to its successor and to answer
/// its state once it has no call or promise outstanding.
using retire_atom = caf::atom_constant<caf::atom("ml_retire")>;

/// Asks an instance to answer once it has no call (its own or passed on) and no promise
/// outstanding.
using drain_atom = caf::atom_constant<caf::atom("ml_drain")>;

/// Tells a retiring instance that the replace was rolled back: it serves again.
using resume_atom = caf::atom_constant<caf::atom("ml_resume")>;

/// Gives a new instance waiting for a state the state its predecessor handed over.
using import_atom = caf::atom_constant<caf::atom("ml_import")>;

/// Tells a new instance that the replace is complete: it serves the requests it held.
using commit_atom = caf::atom_constant<caf::atom("ml_commit")>;

/// Tells a new instance that the replace was rolled back: its predecessor serves what it held.
using abandon_atom = caf::atom_constant<caf::atom("ml_abandon")>;

} // namespace microlith
