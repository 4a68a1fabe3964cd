// The host: starts a node's groups from a system file and stops them. Groups start one at a time
// in dependency order (a group's `needs` first), each as a supervisor whose flags come from the
// system file and whose children come from its module; a group counts as started when all its
// children have started. Stopping goes in reverse start order, each group given its shutdown
// time (default: as long as it takes, bounded by the system's shutdown_timeout) and then killed.
//
// Group policy, as OTP applications: when a group's supervisor gives up (its restart intensity
// was exceeded) or exits for any reason other than the host stopping it, a permanent group
// stops the node with a failure (wait() answers a non-zero exit code and the log says why); a
// transient group's abnormal exit and any temporary group's exit are logged and the rest keeps
// running.
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/system_file.hpp"
#include "microlith/supervision/snapshot.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace microlith {

/// Checks what the parser cannot: every group's module is linked in and defines that group, and
/// the file uses nothing this version does not run. Errors name the file, line and key.
std::vector<system_file_error> check_system(const system_config& config,
                                            const module_catalogue& catalogue);

/// Node options for running `config` in this process (threads, name).
node_options node_options_for(const system_config& config);

/// Starts and stops the groups of one system on one node.
class host {
public:
  /// A host for `config` on `n`, using the modules of `catalogue`.
  host(node& n, system_config config,
       const module_catalogue& catalogue = module_catalogue::global());

  /// Stops the groups still running.
  ~host();

  host(const host&) = delete;
  host& operator=(const host&) = delete;

  /// Starts every group, dependencies first. On failure, stops the groups already started (in
  /// reverse order) and answers the error naming the group that failed.
  caf::error start();

  /// Stops the running groups in reverse start order. Idempotent.
  void stop();

  /// Blocks until request_stop() is called or a permanent group fails; then answers the exit
  /// code: 0 for a requested stop, 1 after a permanent group's failure.
  int wait();

  /// Applies a new version of the system file to the running groups that can take it (today:
  /// gateway routes), each group validating its part first; a group that refuses keeps its
  /// settings and the error says why. Other changes (supervision flags, new groups) need a
  /// restart. Safe to call from any thread.
  caf::error reload(const system_config& next);

  /// Reads the system file again (the path it was started from) and reload()s it; a file with
  /// errors is refused with every error.
  caf::error reload_file();

  /// True while every permanent group is running (the gateway's readiness).
  bool ready() const;

  /// Makes wait() return 0 (safe to call from any thread, e.g. a signal-handling thread).
  void request_stop();

  /// The whole node's supervision tree: one child per group (a group that exited is reported
  /// stopped, one that does not answer within `timeout` unresponsive).
  tree_snapshot snapshot(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  /// The names of the groups started, in start order.
  std::vector<std::string> running_groups() const;

  /// The supervisor of a running group (null if not running).
  caf::actor group_supervisor(const std::string& name) const;

  /// The system this host runs.
  const system_config& config() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace microlith
