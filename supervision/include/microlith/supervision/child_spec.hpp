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
// - restart, shutdown, await_ready: see child_policy.hpp. The default shutdown is 5 s for a
//   worker and `infinity` for a supervisor child.
// - kind: worker (default) or supervisor.
#pragma once

#include "microlith/supervision/child_policy.hpp"
#include "microlith/supervision/policy.hpp"

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/expected.hpp>

#include <functional>
#include <string>

namespace caf {
class event_based_actor;
} // namespace caf

namespace microlith {

/// Whether a child is a worker or a supervisor of its own.
enum class child_kind { worker, supervisor };

/// Spawns a child from inside its supervisor.
using start_function = std::function<caf::expected<caf::actor>(caf::event_based_actor* supervisor)>;

/// One child of a supervisor.
class child_spec : public child_policy<child_spec> {
public:
  /// A worker called `id`, started by `start`, permanent, stopped within 5 s.
  child_spec(std::string id, start_function start);

  /// Marks the child as a supervisor (default shutdown becomes infinity).
  child_spec& kind(child_kind x);

  const std::string& id() const noexcept { return id_; }
  const start_function& start() const noexcept { return start_; }
  child_kind kind() const noexcept { return kind_; }

private:
  std::string id_;
  start_function start_;
  child_kind kind_ = child_kind::worker;
};

/// Shorthand for child_spec(id, start).
inline child_spec child(std::string id, start_function start) {
  return child_spec{std::move(id), std::move(start)};
}

} // namespace microlith

// A child spec travels in start_child requests inside a node only (its start function cannot
// be serialized).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(microlith::child_spec)
