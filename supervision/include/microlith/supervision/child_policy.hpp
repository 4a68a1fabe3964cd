// What a child spec says about a child's life besides how to start it — OTP's `restart` and
// `shutdown` keys, and microlith's ready signal — with their setters, shared by child_spec (one
// child) and dynamic_supervisor_spec (the template of all its children), so both read alike:
//
//   child("ledger", start_ledger).restart(restart_type::transient).shutdown(5s)
//   dynamic_supervisor_spec("sessions",
//   start_session).restart(restart_type::transient).shutdown(1s)
//
// - restart: permanent (default: always restarted), transient (restarted only after an abnormal
//   exit: not after a normal exit or a shutdown), temporary (never restarted; removed on exit).
// - shutdown: how long the child gets to stop after the supervisor asks it (exit reason
//   `user_shutdown`) before it is killed. Default 5 s; `infinity` waits as long as it takes;
//   `brutal_kill` kills at once.
// - await_ready: the child counts as started only once it sends `ready_atom` to its supervisor.
#pragma once

#include "microlith/supervision/policy.hpp"

#include <chrono>

namespace microlith {

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

/// The restart, shutdown and readiness settings of a spec of type `Spec`, with setters that
/// return the spec itself so that calls chain.
template <class Spec>
class child_policy {
public:
  /// Sets the restart type.
  Spec& restart(restart_type x) {
    restart_ = x;
    return self();
  }

  /// Gives the child `timeout` to stop before it is killed.
  Spec& shutdown(std::chrono::milliseconds timeout) {
    shutdown_ = shutdown_spec{shutdown_spec::mode::timeout, timeout};
    return self();
  }

  /// Kills the child at once when stopping it.
  Spec& brutal_kill() {
    shutdown_ = shutdown_spec{shutdown_spec::mode::brutal_kill, std::chrono::milliseconds{0}};
    return self();
  }

  /// Waits as long as the child takes to stop (for child supervisors).
  Spec& shutdown_infinity() {
    shutdown_ = shutdown_spec{shutdown_spec::mode::infinity, std::chrono::milliseconds{0}};
    return self();
  }

  /// The child signals `ready_atom` when started (see the header comment).
  Spec& await_ready(bool x = true) {
    awaits_ready_ = x;
    return self();
  }

  restart_type restart() const noexcept { return restart_; }
  const shutdown_spec& shutdown() const noexcept { return shutdown_; }
  bool awaits_ready() const noexcept { return awaits_ready_; }

private:
  Spec& self() noexcept { return static_cast<Spec&>(*this); }

  restart_type restart_ = restart_type::permanent;
  shutdown_spec shutdown_;
  bool awaits_ready_ = false;
};

} // namespace microlith
