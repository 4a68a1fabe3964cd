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
// 3. Stop: on an exit signal from its parent (or its owner), the supervisor stops its children in
//    reverse start order — each asked to stop (`user_shutdown`), given its shutdown time, then
//    killed — and exits with the reason it was given. A supervisor that dies any other way
//    (killed) kills the children it still has on its way out. (Children are monitored, not
//    linked: in CAF an exit reason `kill` crosses a link and cannot be trapped, so a killed child
//    would take its supervisor with it.)
//
// A supervisor is itself a child of another: see supervisor_child(). Every supervisor answers
// `snapshot_atom` with a tree_snapshot of its subtree (see snapshot_of()).
#pragma once

#include "microlith/supervision/child_spec.hpp"
#include "microlith/supervision/snapshot.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace microlith {

/// Exponential backoff between restarts, as Akka's backoff supervisor: the n-th consecutive
/// restart of a child waits min * 2^(n-1), at most max, plus up to `jitter` of that at random.
/// A child that ran for `reset_after` before it exited starts again from min. While it waits the
/// child is reported as backing_off and its services are not registered (callers get
/// service_unavailable at once).
struct backoff_spec {
  std::chrono::milliseconds min{10};
  std::chrono::milliseconds max{1000};
  double jitter = 0.2;
  std::chrono::milliseconds reset_after{30000};
};

/// The supervisor's flags.
struct supervisor_flags {
  strategy how = strategy::one_for_one;
  /// The most restarts tolerated within `period`.
  int intensity = 1;
  std::chrono::milliseconds period{5000};
  /// Delays between restarts; none by default (restart at once, as OTP).
  std::optional<backoff_spec> backoff;
};

/// A supervisor's definition: its name, flags and children in start order.
class supervisor_spec {
public:
  /// A supervisor called `name` with OTP's default flags and no children yet.
  explicit supervisor_spec(std::string name);

  /// Sets the strategy.
  supervisor_spec& strategy(microlith::strategy x);

  /// Sets the restart intensity: at most `max_restarts` within `period`.
  supervisor_spec& intensity(int max_restarts, std::chrono::milliseconds period);

  /// Delays restarts with exponential backoff.
  supervisor_spec& backoff(backoff_spec x);

  /// Appends a child (children start in the order they are added).
  supervisor_spec& child(child_spec spec);

  const std::string& name() const noexcept { return name_; }
  const supervisor_flags& flags() const noexcept { return flags_; }
  const std::vector<child_spec>& children() const noexcept { return children_; }

  /// An error naming the problem when the spec cannot run (duplicate ids, bad intensity).
  caf::error validate() const;

private:
  std::string name_;
  supervisor_flags flags_;
  std::vector<child_spec> children_;
};

/// Spawns a supervisor with `spec`, not linked to anyone; once it has started all its
/// children it sends `ready_atom` to `ready_to` (when set), or exits with the start failure.
caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_spec spec,
                            const caf::actor& ready_to = {});

/// Starts a supervisor and waits until all its children have started (or it failed to start).
caf::expected<caf::actor> start_supervisor(caf::actor_system& sys, supervisor_spec spec);

/// A child spec that runs `spec` as a nested supervisor (kind supervisor, shutdown infinity).
child_spec supervisor_child(supervisor_spec spec);

/// Asks `supervisor` for a snapshot of its subtree from a plain thread (tests, tools, the
/// command); nested supervisors are asked in turn. Answers within `timeout` or fails.
caf::expected<tree_snapshot> snapshot_of(caf::actor_system& sys, const caf::actor& supervisor,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace microlith
