// The built-in `toggles` service (contract microlith.toggles.v1.Toggles,
// services/proto/microlith_toggles.proto): read and change a node's toggles by name, from any
// code. A change is recorded as made by "admin" when it comes through the admin endpoint
// (toggles_admin_caller), else by "code". A change writes the toggle database in the handler
// (one SQLite commit, synchronous=FULL): changes are rare operations, not a hot path.
// In a cluster, a change is then pushed to every other node (toggle_replication.hpp), and its
// answer says where it is in force (Toggle.propagation, GroupSet.propagation).
#pragma once

#include "microlith/actors/service_definition.hpp"

namespace microlith {

class toggle_board;

namespace detail {

class toggle_replication;

/// The `toggles` service of `board` (which must outlive every instance); in a cluster,
/// `cluster` pushes its changes to the other nodes (it too must outlive every instance).
service_definition toggles_service(toggle_board& board, toggle_replication* cluster = nullptr);

} // namespace detail

} // namespace microlith
