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
//
// Placement: a host made for one node of the file's [nodes] (`placement`) joins the cluster
// before it starts anything and runs only the groups placed on that node. A group that needs
// groups placed elsewhere starts once some joined node runs them (it waits as long as it takes,
// logging what it waits for, and gives up only when the host is asked to stop). "Needs" here
// and in the start order includes a gateway group's route_needs: the groups whose modules
// declare the routes it serves (group_config::all_needs).
//
// Readiness: the system is ready while every permanent group runs on a reachable node — this
// one, or a node joined with it that announces the group (unready_groups() says which are not).
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/net/cluster/cluster.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/system_file.hpp"
#include "microlith/supervision/snapshot.hpp"

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace microlith {

/// Checks what the parser cannot: every group's module is linked in and defines that group, the
/// routes those modules declare in code are well-formed, the file uses nothing this version
/// does not run, MICROLITH_ADMIN_TOKEN (when set) is a usable token, and a group that serves
/// admin operations (module_definition::admin_use) has an admin token (admin_token_for) now.
/// Errors name the file, line and key.
std::vector<system_file_error> check_system(const system_config& config,
                                            const module_catalogue& catalogue);

/// The admin token in force for `config`: the environment variable MICROLITH_ADMIN_TOKEN when
/// it is set and not empty, else the file's [admin] token; empty when neither is set. Every admin
/// operation (the gateway's POST /_microlith/reload, ...) requires it.
std::string admin_token_for(const system_config& config);

/// The environment variable that holds the admin token and wins over [admin] token.
constexpr const char* admin_token_variable = "MICROLITH_ADMIN_TOKEN";

/// Node options for running `config` in this process (threads, name). With `placement`, the
/// name of one of the file's [nodes], the options also load the cluster transport for it.
node_options node_options_for(const system_config& config, const std::string& placement = {});

/// The cluster settings of node `placement` of `config`: its listen address, the other nodes
/// as peers, the cookie (the environment variable MICROLITH_COOKIE, when set, overrides
/// [cluster] cookie) and the heartbeats. Throws system_file_errors naming the node when the
/// file has no such node.
cluster::cluster_options cluster_options_for(const system_config& config,
                                             const std::string& placement);

/// The groups of `config` placed on node `placement` (every group when `placement` is empty),
/// in start order.
std::vector<const group_config*> groups_on(const system_config& config,
                                           const std::string& placement);

/// Starts and stops the groups of one system on one node.
class host {
public:
  /// A host for `config` on `n`, using the modules of `catalogue`. With `placement` (a node of
  /// the file's [nodes]; `n` made with node_options_for(config, placement)), it runs only that
  /// node's groups and joins the others; without, every group in this process.
  host(node& n, system_config config,
       const module_catalogue& catalogue = module_catalogue::global(), std::string placement = {});

  /// Stops the groups still running.
  ~host();

  host(const host&) = delete;
  host& operator=(const host&) = delete;

  /// Joins the cluster (with a placement), then starts every group of this node, dependencies
  /// first. On failure, stops the groups already started (in reverse order) and answers the
  /// error naming the group that failed. request_stop() from another thread ends a wait for
  /// groups on other nodes with an error.
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

  /// The permanent groups of the system that run on no reachable node, in start order, each
  /// with the reason (the gateway's `/readyz` answers 503 naming them). Without a placement, a
  /// group is up while its supervisor runs in this process. With one, a group is up while it
  /// runs on this node (placed here, its supervisor running) or while some node the file places
  /// it on is joined with this one (handshake done, not declared down, not left) and announces
  /// that it runs the group; a group placed on several nodes is up while any of them runs it.
  /// Transient and temporary groups are not counted. Asks no other node: it reads the groups
  /// each joined node announced (membership::members()).
  std::vector<unready_group> unready_groups() const;

  /// True while unready_groups() is empty (the gateway's readiness).
  bool ready() const;

  /// Makes wait() return 0 (safe to call from any thread, e.g. a signal-handling thread).
  void request_stop();

  /// The whole node's supervision tree: a root of kind "system" named after the system, one
  /// child per group in start order, the built-in groups running here included (`observer`,
  /// `toggles`, `jobs` before the file's groups; `jobs.workers`, `jobs.cron` after them). A
  /// group that exited is reported stopped, one that does not answer within `timeout`
  /// unresponsive. With a placement, every entry's `node` is the placement.
  tree_snapshot snapshot(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  /// The names of the groups started, in start order.
  std::vector<std::string> running_groups() const;

  /// The port a running group's HTTP gateway is listening on: the one the OS chose when the
  /// file says port 0. 0 while the group has no listening gateway on this node.
  std::uint16_t http_port(const std::string& group) const;

  /// The supervisor of a running group (null if not running).
  caf::actor group_supervisor(const std::string& name) const;

  /// The system this host runs.
  const system_config& config() const noexcept;

  /// The node of the file this host runs (empty: the whole system in one process).
  const std::string& placement() const noexcept;

  /// The cluster membership (null without a placement, or before start()).
  cluster::membership* membership() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace microlith
