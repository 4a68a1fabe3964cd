// The built-in `toggles` service (contract microlith.toggles.v1.Toggles,
// services/proto/microlith_toggles.proto): read and change a node's toggles by name, from any
// code. A change is recorded as made by "admin" when it comes through the admin endpoint
// (toggles_admin_caller), else by "code". A change writes the toggle database in the handler
// (one SQLite commit, synchronous=FULL): changes are rare operations, not a hot path.
#pragma once

#include "microlith/actors/service_definition.hpp"

namespace microlith {

class toggle_board;

namespace detail {

/// The `toggles` service of `board` (which must outlive every instance).
service_definition toggles_service(toggle_board& board);

} // namespace detail

} // namespace microlith
