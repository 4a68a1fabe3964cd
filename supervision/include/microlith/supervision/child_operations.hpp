// The run-time operations on a supervisor's children, OTP's supervisor API, for both kinds of
// supervisor. An actor sends the request atoms of atoms.hpp (`request(sup, 5s,
// restart_child_atom::value, id)`); a plain thread (tests, tools, `main`) calls the blocking
// functions below, which send the same requests and wait at most `timeout`.
//
// | operation       | static supervisor (by id)        | dynamic supervisor (by handle) | OTP |
// |-----------------|----------------------------------|--------------------------------|-----------------|
// | start_child     | a new child_spec, added last     | args for the template          |
// start_child     | | terminate_child | stop it, keep its spec           | stop it and forget it |
// terminate_child | | restart_child   | start a stopped child again      | not_applicable |
// restart_child   | | delete_child    | remove a stopped child's spec    | not_applicable |
// delete_child    | | which_children  | one child_info per child         | the same |
// which_children  | | count_children  | child_counts                     | the same |
// count_children  |
//
// Refusals are child_errc values (child_error.hpp): running, restarting, not_found,
// already_present, already_started. A static supervisor serves the operations that change its
// children one at a time, after any restart under way (as OTP's supervisor, whose calls wait
// while it restarts children); which_children and count_children are answered at once.
// Stopping a child (terminate_child) is not a restart and does not count towards the intensity;
// neither does restart_child.
#pragma once

#include "microlith/supervision/atoms.hpp"
#include "microlith/supervision/child_error.hpp"
#include "microlith/supervision/child_spec.hpp"

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace microlith {

/// One child as which_children reports it (OTP's `{Id, Child, Type, Modules}`).
struct child_info {
  /// The child's id; a dynamic child's is "<template id>-<n>".
  std::string id;
  /// The running instance (OTP's pid); null when the child is not running.
  caf::actor actor;
  /// True while the child waits for a restart: a retry of a failed restart, or a backoff
  /// delay (OTP's `restarting`).
  bool restarting = false;
  /// Worker or supervisor (OTP's Type).
  child_kind kind = child_kind::worker;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_info& x) {
  return f(caf::meta::type_name("microlith.child_info"), x.id, x.actor, x.restarting, x.kind);
}

/// A supervisor's children counted as OTP's count_children counts them.
struct child_counts {
  /// Child specs: every child, running or not (a dynamic supervisor has one: its template).
  std::size_t specs = 0;
  /// Children with a running instance.
  std::size_t active = 0;
  /// Children of kind supervisor, running or not (a dynamic supervisor: all of its children
  /// are counted as workers).
  std::size_t supervisors = 0;
  /// Children of kind worker, running or not.
  std::size_t workers = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_counts& x) {
  return f(caf::meta::type_name("microlith.child_counts"), x.specs, x.active, x.supervisors,
           x.workers);
}

/// Adds `spec` as the last child of the static supervisor `sup` and starts it; answers its
/// handle once started (ready, if it awaits ready). Refused with already_started (carrying the
/// running child) or already_present when a child has that id; a start that fails answers the
/// failure and keeps nothing.
caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      child_spec spec,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// Starts a child of the dynamic supervisor `sup` with `args` for its template.
caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      caf::message args,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// Stops child `id` of the static supervisor `sup` (by its shutdown setting) and keeps its spec
/// (a temporary child's spec is removed); answers once it is gone. Not a restart: not counted
/// towards the intensity. A child already stopped needs nothing; not_found for an unknown id.
caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Stops and forgets `child` of the dynamic supervisor `sup`; not_found when `child` is not
/// one of its running children.
caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// Starts the stopped child `id` of the static supervisor `sup` again and answers its handle
/// once started. Refused with running, restarting or not_found; a failed start answers the
/// failure and leaves the child stopped. Not counted towards the intensity.
caf::expected<caf::actor>
restart_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
              std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// Removes the spec of the stopped child `id` from the static supervisor `sup`. Refused with
/// running, restarting or not_found.
caf::error delete_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// One child_info per child of `sup`, in start order (a dynamic supervisor's in start_child
/// order).
caf::expected<std::vector<child_info>>
which_children(caf::actor_system& sys, const caf::actor& sup,
               std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// The children of `sup` counted.
caf::expected<child_counts>
count_children(caf::actor_system& sys, const caf::actor& sup,
               std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace microlith
