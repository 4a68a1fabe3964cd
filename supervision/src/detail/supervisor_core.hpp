// What both kinds of supervisor do the same way, whatever the way they keep their children — as
// OTP's supervisor.erl serves static and simple_one_for_one supervisors with shared functions:
// refusing a spec that cannot run, running a start function, asking a child to stop by its
// shutdown setting (and killing it when its time is up), counting restarts against the
// intensity, backoff delays, the reason a stop request carries, the states children are in, and
// the pieces of snapshot, which_children and count_children answers.
#pragma once

#include "detail/restart_rules.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/supervision/child_operations.hpp"
#include "microlith/supervision/child_policy.hpp"
#include "microlith/supervision/snapshot.hpp"
#include "microlith/supervision/supervisor_flags.hpp"

#include <caf/event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace microlith::detail {

/// Where a child is in its life, as snapshots report it.
enum class child_status { stopped, starting, running, stopping, restarting, backing_off };

/// "stopped", "starting", "running", "stopping", "restarting" or "backing_off".
const char* to_text(child_status x) noexcept;

/// True while a child waits for a restart (OTP's `restarting`).
inline bool waits_for_restart(child_status x) noexcept {
  return x == child_status::restarting || x == child_status::backing_off;
}

/// A child's last abnormal exit (tree_snapshot::last_exit_reason), kept across its restarts.
struct last_exit {
  std::string reason;
  std::int64_t unix_ms = 0;

  /// Records `exit` now when it is abnormal (a crash, a kill); a normal exit changes nothing.
  /// Supervisors call it for the exits they did not ask for.
  void note(const caf::error& exit);
};

/// The base of both supervisor actors.
class supervisor_core : public caf::event_based_actor {
public:
  supervisor_core(caf::actor_config& cfg, std::string name, supervisor_flags flags);

  const char* name() const override;

protected:
  /// Logs why the spec cannot run and quits with `err`.
  void refuse_to_run(const caf::error& err);

  /// Runs `start` (a start function bound to its arguments): the child, or why it did not start
  /// (an error it answered, an exception it threw, or no actor at all).
  template <class Start>
  caf::expected<caf::actor> run_start(Start&& start) {
    caf::expected<caf::actor> started = caf::error{};
    try {
      started = std::forward<Start>(start)();
    } catch (const std::exception& e) {
      return make_error(errc::remote_error, e.what());
    }
    if (!started)
      return started.error();
    if (!*started)
      return make_error(errc::remote_error, "the start function returned no actor");
    return started;
  }

  /// Asks `child` to stop as `how` says: kill at once, or exit signal `user_shutdown` and, for a
  /// timeout with `kill_timer` set, (kill_timer_atom, key, generation) to this supervisor when
  /// the time is up.
  void ask_to_stop(const caf::actor& child, const shutdown_spec& how, std::uint64_t key,
                   std::uint64_t generation, bool kill_timer = true);

  /// Kills `child`, which did not stop within `timeout`.
  void kill_late(const std::string& id, const caf::actor& child, std::chrono::milliseconds timeout);

  /// Counts a restart of `id`, which exited with `reason`; false (logged) when the restart is one
  /// more than the intensity allows within the period: the supervisor must give up.
  bool count_restart(const std::string& id, const caf::error& reason);

  /// The wait before a child's restart (zero without backoff), counting one more failure.
  std::chrono::milliseconds backoff_delay_for(backoff_account& account);

  /// The reason a supervisor stops with when asked by `msg` (a normal reason becomes
  /// `user_shutdown`).
  static caf::error stop_reason(const caf::exit_msg& msg);

  /// The answer to requests that arrive while the supervisor stops.
  caf::error shutting_down() const;

  /// The root of this supervisor's snapshot, in state `state`.
  tree_snapshot snapshot_root(const char* state);

  /// One child's snapshot entry.
  static tree_snapshot child_entry(std::string id, child_kind kind, child_status st,
                                   std::uint32_t restarts, const caf::actor& handle,
                                   const last_exit& exit);

  /// Completes `tree` with what its running children report — a nested supervisor its subtree,
  /// a microlith worker its mailbox and services — and answers it; `asked` are the positions in
  /// tree.children with their handle and kind.
  caf::result<tree_snapshot>
  answer_snapshot(tree_snapshot tree,
                  const std::vector<std::tuple<std::size_t, caf::actor, child_kind>>& asked);

  /// One child's which_children entry.
  static child_info info_of(std::string id, child_kind kind, child_status st,
                            const caf::actor& handle);

  /// Adds one child to `counts`.
  static void count(child_counts& counts, child_kind kind, const caf::actor& handle) noexcept;

  std::string name_;
  supervisor_flags flags_;
  restart_window window_;
  std::minstd_rand rng_{std::random_device{}()};
  /// Increases with every start: tells a child's instances (and their stale timers) apart.
  std::uint64_t generation_ = 0;
};

} // namespace microlith::detail
