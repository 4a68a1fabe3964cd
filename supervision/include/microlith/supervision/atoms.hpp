// The CAF atoms of microlith's supervisors, all in one place: the requests a supervisor answers
// (the run-time API of child_operations.hpp and snapshots) and the messages a supervisor sends
// itself (timers and retries). Atoms are at most 10 characters; every value here starts with
// "ml_" and is used by no other library of microlith.
#pragma once

#include <caf/atom.hpp>

namespace microlith {

// -- requests a supervisor answers (static and dynamic alike, where both apply) -----------------

/// Starts a child: a child_spec for a static supervisor, a caf::message of args for a dynamic
/// one (OTP's start_child).
using start_child_atom = caf::atom_constant<caf::atom("ml_start")>;
/// Stops a child: by id for a static supervisor, by handle for a dynamic one (OTP's
/// terminate_child).
using terminate_child_atom = caf::atom_constant<caf::atom("ml_term")>;
/// Starts a stopped child of a static supervisor again, by id (OTP's restart_child).
using restart_child_atom = caf::atom_constant<caf::atom("ml_restart")>;
/// Removes a stopped child's spec from a static supervisor, by id (OTP's delete_child).
using delete_child_atom = caf::atom_constant<caf::atom("ml_delete")>;
/// Asks for one child_info per child (OTP's which_children).
using which_children_atom = caf::atom_constant<caf::atom("ml_which")>;
/// Asks for the child_counts (OTP's count_children).
using count_children_atom = caf::atom_constant<caf::atom("ml_count")>;
/// Asks a supervisor for a snapshot of its subtree (answered with a tree_snapshot).
using snapshot_atom = caf::atom_constant<caf::atom("ml_snap")>;

namespace detail {

// -- messages a supervisor sends itself ---------------------------------------------------------

/// Starts a child again whose restart failed (OTP's try_again_restart).
using retry_restart_atom = caf::atom_constant<caf::atom("ml_sretry")>;
/// A child's shutdown time is up: kill it if it is still there.
using kill_timer_atom = caf::atom_constant<caf::atom("ml_killtm")>;
/// A backoff delay is over: start the children waiting for it.
using backoff_atom = caf::atom_constant<caf::atom("ml_backoff")>;
/// A dynamic supervisor's shutdown time is up: kill the children still there.
using shutdown_kill_atom = caf::atom_constant<caf::atom("ml_stopkl")>;

} // namespace detail

} // namespace microlith
