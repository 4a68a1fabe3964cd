// The dynamic supervisor: OTP's simple_one_for_one. All children come from one template and are
// added and removed at run time (many thousands of them); they have no order.
//
// - start_child(args): starts a child from the template with `args` (a caf::message handed to
//   the template's start function) and answers its handle once it has started (signalled ready,
//   when the template awaits it), or the start failure. Starts run concurrently.
// - terminate_child(child): stops that child within the template's shutdown time (then kills
//   it) and forgets it; answers once it is gone.
// - count_children: answers (running, total) — total includes children waiting to restart.
// - Exits: the template's restart type decides (permanent / transient / temporary, as for a
//   static supervisor); a restarted child gets the same args. Restarts count towards the
//   intensity (default 1 in 5 s); exceeding it stops every child and exits with `shutdown`.
//   Optional backoff as for static supervisors, per child.
// - Stop: every child is asked to stop at once (OTP stops dynamic children asynchronously), given
//   the template's shutdown time, then killed; the supervisor exits when all are gone.
// - Snapshot: answers snapshot_atom like a static supervisor, one entry per child
//   ("<template id>-<n>", n counting up from 1).
#pragma once

#include "microlith/supervision/child_spec.hpp"
#include "microlith/supervision/snapshot.hpp"
#include "microlith/supervision/supervisor.hpp"

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace microlith {

/// Asks a dynamic supervisor to start a child with a caf::message of arguments.
using start_child_atom = caf::atom_constant<caf::atom("ml_start")>;
/// Asks a dynamic supervisor to stop and forget one child (by handle).
using terminate_child_atom = caf::atom_constant<caf::atom("ml_term")>;
/// Asks a dynamic supervisor for (running, total).
using count_children_atom = caf::atom_constant<caf::atom("ml_count")>;

/// Starts one dynamic child from inside its supervisor, with the args of start_child.
using dynamic_start_function =
  std::function<caf::expected<caf::actor>(caf::event_based_actor* supervisor,
                                          const caf::message& args)>;

/// A dynamic supervisor's definition: its name, flags and the one child template.
class dynamic_supervisor_spec {
public:
  /// A dynamic supervisor called `name` whose children are started by `start`.
  dynamic_supervisor_spec(std::string name, dynamic_start_function start);

  /// Sets the restart intensity: at most `max_restarts` within `period`.
  dynamic_supervisor_spec& intensity(int max_restarts, std::chrono::milliseconds period);

  /// Delays restarts with exponential backoff (per child).
  dynamic_supervisor_spec& backoff(backoff_spec x);

  /// Sets the children's restart type (default permanent).
  dynamic_supervisor_spec& restart(restart_type x);

  /// Gives each child `timeout` to stop before it is killed (default 5 s).
  dynamic_supervisor_spec& shutdown(std::chrono::milliseconds timeout);

  /// Kills children at once when stopping them.
  dynamic_supervisor_spec& brutal_kill();

  /// Children signal ready_atom when started (see child_spec::await_ready).
  dynamic_supervisor_spec& await_ready(bool x = true);

  /// Names children "<id>-<n>" in snapshots and logs (default: "child").
  dynamic_supervisor_spec& child_id(std::string id);

  const std::string& name() const noexcept { return name_; }
  const supervisor_flags& flags() const noexcept { return flags_; }
  const dynamic_start_function& start() const noexcept { return start_; }
  restart_type restart() const noexcept { return restart_; }
  const shutdown_spec& shutdown() const noexcept { return shutdown_; }
  bool awaits_ready() const noexcept { return awaits_ready_; }
  const std::string& child_id() const noexcept { return child_id_; }

  /// An error naming the problem when the spec cannot run.
  caf::error validate() const;

private:
  std::string name_;
  dynamic_start_function start_;
  supervisor_flags flags_;
  restart_type restart_ = restart_type::permanent;
  shutdown_spec shutdown_;
  bool awaits_ready_ = false;
  std::string child_id_ = "child";
};

/// Spawns a dynamic supervisor (it starts with no children and signals `ready_to` at once).
caf::actor spawn_dynamic_supervisor(caf::actor_system& sys, dynamic_supervisor_spec spec,
                                    const caf::actor& ready_to = {});

/// A child spec that runs a dynamic supervisor under another supervisor.
child_spec dynamic_supervisor_child(dynamic_supervisor_spec spec);

/// Starts a child of `sup` from a plain thread (tests, tools); actors send start_child_atom.
caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      caf::message args,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// Stops and forgets a child of `sup` from a plain thread.
caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// (running, total) children of `sup`, from a plain thread.
caf::expected<std::pair<std::size_t, std::size_t>>
count_children(caf::actor_system& sys, const caf::actor& sup,
               std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace microlith
