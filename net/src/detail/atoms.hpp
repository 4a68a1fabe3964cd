// The atoms of microlith's net library, in one place: the messages the node agents exchange with
// each other (the handshake, replication, leaving) and with the membership handle of their own
// node. Values start with "ml_" so they cannot be mistaken for an application's atoms; no two
// atoms of microlith share a value.
#pragma once

#include <caf/atom.hpp>

namespace microlith::cluster {

// The handshake (node_agent.hpp shows the exchange).
using join_atom = caf::atom_constant<caf::atom("ml_join")>;
using challenge_atom = caf::atom_constant<caf::atom("ml_chal")>;
using prove_atom = caf::atom_constant<caf::atom("ml_prove")>;
using refuse_atom = caf::atom_constant<caf::atom("ml_refuse")>;

// Replication between joined nodes.
using state_atom = caf::atom_constant<caf::atom("ml_state")>;
using service_added_atom = caf::atom_constant<caf::atom("ml_svc_add")>;
using service_removed_atom = caf::atom_constant<caf::atom("ml_svc_del")>;
using subscribed_atom = caf::atom_constant<caf::atom("ml_sub")>;
using unsubscribed_atom = caf::atom_constant<caf::atom("ml_unsub")>;
using groups_atom = caf::atom_constant<caf::atom("ml_groups")>;
using leave_atom = caf::atom_constant<caf::atom("ml_leave")>;
// The agents' ping over a joined link, which measures its round trip (member_info::round_trip).
using ping_atom = caf::atom_constant<caf::atom("ml_ping")>;
using pong_atom = caf::atom_constant<caf::atom("ml_pong")>;

// An agent's own timers and its node's membership handle.
using retry_atom = caf::atom_constant<caf::atom("ml_retry")>;
using local_change_atom = caf::atom_constant<caf::atom("ml_local")>;
using local_groups_atom = caf::atom_constant<caf::atom("ml_mygroup")>;
using ping_tick_atom = caf::atom_constant<caf::atom("ml_pingtk")>;

} // namespace microlith::cluster
