// Child specifications: how a supervisor starts, restarts and stops one child. The keys are
// OTP's (`id`, `start`, `restart`, `shutdown`, `type`) with OTP's defaults, built fluently:
//
//   child("ledger", start_ledger).restart(restart_type::transient).shutdown(5s)
//
// - id: unique among the supervisor's children; names the child in logs and errors.
// - start: runs inside the supervisor and spawns the child (returning its handle or an error).
//   When `await_ready` is set, the child counts as started only once it sends `ready_atom` to
//   the supervisor; a child that dies first has failed to start. Services started through
//   microlith do this once they are registered.
// - restart: permanent (default: always restarted), transient (restarted only after an abnormal
//   exit: not after a normal exit or a shutdown), temporary (never restarted; removed on exit).
// - shutdown: how long the child gets to stop after the supervisor asks it (exit reason
//   `user_shutdown`) before it is killed. Default 5 s for a worker; `infinity` (the default for a
//   supervisor child) waits as long as it takes; `brutal_kill` kills at once.
// - kind: worker (default) or supervisor.
#pragma once

#include "microlith/supervision/policy.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

namespace caf {
class event_based_actor;
} // namespace caf

namespace microlith {

/// Whether a child is a worker or a supervisor of its own.
enum class child_kind { worker, supervisor };

/// How a child is stopped.
struct shutdown_spec {
  enum class mode {
    timeout,     ///< ask, wait `timeout`, then kill
    brutal_kill, ///< kill at once
    infinity,    ///< ask and wait as long as it takes
  };
  mode how = mode::timeout;
  std::chrono::milliseconds timeout{5000};
};

/// Spawns a child from inside its supervisor.
using start_function = std::function<caf::expected<caf::actor>(caf::event_based_actor* supervisor)>;

/// One child of a supervisor.
class child_spec {
public:
  /// A worker called `id`, started by `start`, permanent, stopped within 5 s.
  child_spec(std::string id, start_function start);

  /// Sets the restart type.
  child_spec& restart(restart_type x);

  /// Gives the child `timeout` to stop before it is killed.
  child_spec& shutdown(std::chrono::milliseconds timeout);

  /// Kills the child at once when stopping it.
  child_spec& brutal_kill();

  /// Waits as long as the child takes to stop (for child supervisors).
  child_spec& shutdown_infinity();

  /// Marks the child as a supervisor (default shutdown becomes infinity).
  child_spec& kind(child_kind x);

  /// The child signals `ready_atom` when started (see the header comment).
  child_spec& await_ready(bool x = true);

  const std::string& id() const noexcept { return id_; }
  const start_function& start() const noexcept { return start_; }
  restart_type restart() const noexcept { return restart_; }
  const shutdown_spec& shutdown() const noexcept { return shutdown_; }
  child_kind kind() const noexcept { return kind_; }
  bool awaits_ready() const noexcept { return awaits_ready_; }

private:
  std::string id_;
  start_function start_;
  restart_type restart_ = restart_type::permanent;
  shutdown_spec shutdown_;
  child_kind kind_ = child_kind::worker;
  bool awaits_ready_ = false;
};

/// Shorthand for child_spec(id, start).
inline child_spec child(std::string id, start_function start) {
  return child_spec{std::move(id), std::move(start)};
}

} // namespace microlith
