// Snapshots of a supervision tree: what a supervisor answers when asked about its subtree — each
// child's id, kind, state, restart count, actor id, mailbox size, registered services and last
// abnormal exit, with child supervisors' subtrees nested. Serializable (CAF inspect), so that an
// observer can collect trees from other nodes; each entry can say which node it runs on.
#pragma once

#include "microlith/supervision/atoms.hpp"

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace microlith {

/// One node of a supervision tree.
struct tree_snapshot {
  /// The child's id (for the root: the supervisor's name).
  std::string id;
  /// "worker" or "supervisor" ("system" for host::snapshot's root).
  std::string kind;
  /// "starting", "running", "restarting", "backing_off", "stopping" or "stopped".
  std::string state;
  /// How often this child has been restarted by its supervisor.
  std::uint32_t restarts = 0;
  /// The CAF actor id of the current instance, unique within its node; 0 when not running.
  caf::actor_id actor = 0;
  /// The node the instance runs on, by its name in the system file; empty in a one-process
  /// system and in trees taken outside a host.
  std::string node;
  /// Messages waiting in its mailbox; -1 when the child does not report it.
  std::int64_t mailbox = -1;
  /// Services the instance registered.
  std::vector<std::string> services;
  /// Why the child last exited abnormally — it crashed, or was killed by anyone but its
  /// supervisor — as exit_text() words it; kept across its restarts. Empty while it never did
  /// (normal exits and the stops its supervisor asked for leave it as it was).
  std::string last_exit_reason;
  /// When that exit happened, in ms since the Unix epoch (system clock); 0 with no reason.
  std::int64_t last_exit_unix_ms = 0;
  /// A supervisor's children, in start order.
  std::vector<tree_snapshot> children;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tree_snapshot& x) {
  return f(caf::meta::type_name("microlith.tree_snapshot"), x.id, x.kind, x.state, x.restarts,
           x.actor, x.node, x.mailbox, x.services, x.last_exit_reason, x.last_exit_unix_ms,
           x.children);
}

/// Renders a tree as indented text, one line per entry: id, kind, state, then the fields that
/// apply as key=value (the root's restarts are its parent's to count, so the root has none):
///   accounts supervisor running actor=11 mailbox=0
///     accounts worker running restarts=2 actor=12 mailbox=0 services=accounts
/// An actor on a named node shows as `actor=12@<node>`; a root with a node adds `node=<node>`.
/// A last abnormal exit ends the line as `last_exit="accounts crashed: boom"` (a `"`, `\` or
/// newline in the reason escaped with a backslash: `\"`, `\\`, `\n`).
std::string to_text(const tree_snapshot& tree);

/// An exit reason as tree_snapshot::last_exit_reason words it: a crash's message as the actor
/// gave it ("accounts crashed: boom" for an error `sec::runtime_error` carrying that text),
/// "killed" for `exit_reason::kill`, other exit reasons by their name ("unhandled_exception"),
/// any other error as describe() renders it.
std::string exit_text(const caf::error& reason);

/// Asks `supervisor` for a snapshot of its subtree from a plain thread (tests, tools, the
/// command); nested supervisors are asked in turn. Answers within `timeout` or fails.
caf::expected<tree_snapshot>
snapshot_of(caf::actor_system& sys, const caf::actor& supervisor,
            std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace microlith
