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

} // namespace microlith
