// Children for the supervisor's unit tests: small CAF actors that record their life in an event
// log shared with the test thread, which waits on it (with a time limit) instead of sleeping.
//
// Events, in the order they happen:
// - "start <id>"        the supervisor's start function spawned the child (it runs inside the
//                       supervisor, so the order of starts is the order the supervisor chose;
//                       the child's handle is in the log before the event)
// - "start-failed <id>" the start function refused to start the child
// - "exit-signal <id>"  a child that traps exits was asked to stop and ignored it
// - "stop <id>"         the child is exiting; recorded before anyone monitoring it (the supervisor
//                       included) can learn of the exit, so stops appear in the order the
//                       supervisor caused them
// Apart from the events, the log counts for each id how many of its incarnations are "gone":
// terminated, and with the supervisor's down message already in its mailbox.
#pragma once

#include <microlith/actors/node.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace unit_supervision {

using steady = std::chrono::steady_clock;

/// Makes a child exit with `sec::runtime_error` (abnormally).
using crash_atom = caf::atom_constant<caf::atom("t_crash")>;
/// Makes a child exit normally.
using finish_atom = caf::atom_constant<caf::atom("t_finish")>;
/// Makes a child waiting for it send `ready_atom` to its supervisor.
using go_atom = caf::atom_constant<caf::atom("t_go")>;

/// What children report; safe to use from any thread.
class event_log {
public:
  /// Appends `event`.
  void add(std::string event);

  /// Every event so far, oldest first.
  std::vector<std::string> events() const;

  /// The events from position `first` on.
  std::vector<std::string> events_since(std::size_t first) const;

  /// Every event so far on one line, for failure messages.
  std::string dump() const;

  /// How many events there are.
  std::size_t size() const;

  /// How often `event` happened.
  std::size_t count(const std::string& event) const;

  /// When the `nth` (1-based) occurrence of `event` happened.
  std::optional<steady::time_point> time_of(const std::string& event, std::size_t nth = 1) const;

  /// Waits until `event` happened at least `n` times, at most `limit`.
  bool wait_for(const std::string& event, std::size_t n = 1,
                std::chrono::milliseconds limit = std::chrono::milliseconds{3000}) const;

  /// Records that an incarnation of `id` has terminated.
  void gone(const std::string& id);

  /// Waits until `n` incarnations of `id` have terminated, at most `limit`.
  bool wait_gone(const std::string& id, std::size_t n,
                 std::chrono::milliseconds limit = std::chrono::milliseconds{3000}) const;

  /// Remembers the running incarnation of `id`.
  void set_handle(const std::string& id, caf::actor handle);

  /// The latest incarnation of `id` (null if none started).
  caf::actor handle(const std::string& id) const;

  /// Records why `id` exited last.
  void set_reason(const std::string& id, std::string reason);

  /// Why `id` exited last ("normal", "kill", "user_shutdown", "runtime_error", ...).
  std::string reason(const std::string& id) const;

  /// Drops every handle (before the actor system goes away).
  void drop_handles();

private:
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<std::pair<std::string, steady::time_point>> events_;
  std::map<std::string, std::size_t> gone_;
  std::map<std::string, caf::actor> handles_;
  std::map<std::string, std::string> reasons_;
};

/// Whether and when a child tells its supervisor it is ready.
enum class ready_mode {
  none,       ///< never (for children started without await_ready)
  at_once,    ///< as soon as it runs
  on_command, ///< when the test sends it go_atom
};

/// How one incarnation of a test child behaves.
struct child_mode {
  /// Ignores exit signals other than kill (records "exit-signal <id>" for each).
  bool trap_exits = false;
  ready_mode ready = ready_mode::none;
  /// Exits with sec::runtime_error as soon as it runs (before it could be ready).
  bool die_at_start = false;
};

/// A child that traps exits and ignores the supervisor's request to stop (only a kill ends it).
inline const child_mode ignores_stop{true, ready_mode::none, false};

/// The mode of each incarnation (1 for the first start, 2 for the first restart...).
using mode_plan = std::function<child_mode(int incarnation)>;

/// A start function for a test child called `id` that behaves as `mode` every time.
microlith::start_function start_child(std::shared_ptr<event_log> log, std::string id,
                                      child_mode mode = {});

/// A start function for a test child called `id` whose incarnations follow `plan`.
microlith::start_function start_child(std::shared_ptr<event_log> log, std::string id,
                                      mode_plan plan);

/// A start function that refuses with `err` (recording "start-failed <id>").
microlith::start_function failing_start(std::shared_ptr<event_log> log, std::string id,
                                        caf::error err);

/// A start function that throws std::runtime_error(`what`).
microlith::start_function throwing_start(std::shared_ptr<event_log> log, std::string id,
                                         std::string what);

/// `sub` as a nested supervisor child whose every start is recorded as "start <name>" (and its
/// handle kept under its name).
microlith::child_spec recorded_supervisor_child(std::shared_ptr<event_log> log,
                                                microlith::supervisor_spec sub);

/// Waits until `actor` has exited, at most `limit`; answers its exit reason, or nothing.
std::optional<caf::error> wait_exit(caf::actor_system& sys, const caf::actor& actor,
                                    std::chrono::milliseconds limit);

/// "normal", "kill", "user_shutdown", "runtime_error", or CAF's rendering of other reasons.
std::string reason_name(const caf::error& reason);

/// Milliseconds from `from` to `to`.
long long millis_between(steady::time_point from, steady::time_point to);

/// A node with two scheduler threads, and supervisors that are stopped when the test ends.
struct supervision_fixture {
  supervision_fixture();
  ~supervision_fixture();
  supervision_fixture(const supervision_fixture&) = delete;
  supervision_fixture& operator=(const supervision_fixture&) = delete;

  /// Starts `spec` with start_supervisor(); throws (failing the test) when it does not start.
  caf::actor start(microlith::supervisor_spec spec);

  /// Kills `sup` when the test ends, if still running.
  void track(caf::actor sup);

  microlith::node node;
  std::shared_ptr<event_log> log;
  std::vector<caf::actor> supervisors;
};

} // namespace unit_supervision
