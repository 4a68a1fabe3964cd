// The code server: the modules installed into a running node (`microlith modules install`) and
// the version of each that runs. As Erlang's code server, it can hold two versions of a module
// at once while one replaces the other; unlike Erlang, a version's library stays mapped until
// the process exits (docs/modules.md, "What stays mapped").
//
// Installing checks an archive (module_manifest.hpp: open_package) and stores it (module_store);
// activating a version loads it and runs its groups:
//  1. Before any of its code runs: its ABI note equals this process's ABI (running_abi()), each
//     contract it defines is either absent from the process (its contracts library is then
//     loaded once, RTLD_GLOBAL) or byte-for-byte the one already loaded (reused, never loaded
//     twice: Protobuf aborts on a second registration), no symbol it defines is defined by
//     another file already, and each contract it uses is in the process.
//  2. Its library is loaded (RTLD_NOW | RTLD_LOCAL: two versions' symbols never mix) and its
//     entry symbol (module_entry_symbol) called; the definition must name the module and its
//     groups as the manifest does.
//  3. Its groups start under the node's `modules` supervisor, each a supervisor with the
//     manifest's flags; a service name already served by anything other than the version being
//     replaced is refused.
//  4. Its routes, under its route prefix, join every gateway group of the node in one table swap
//     per gateway (a table that does not build refuses the activation).
//  5. When it replaces a version: the old version's instances leave the service registry (the
//     new ones already serve), calls already in their mailboxes are served, then the old groups
//     stop gracefully. Any failure before this step stops the new groups and leaves the old
//     version serving, untouched.
//
// In a cluster (join_cluster()), every node keeps every installed version, and each active
// version runs on one node (installed_module::node, default: the node that received the
// install): that node runs its groups as above; every other node loads only its contracts and
// serves its routes on its gateways, calling the node that runs it by service name. Install,
// activate and remove apply to every node reached; a node that was down catches up when it
// starts or first reaches another node (services/src/modules/module_replication.hpp).
//
// Operations are serialized and block (they wait for groups to start and stop): call them from
// a thread that is not one of the actor system's (code_server::post runs them on the server's
// own thread).
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/net/gateway/route_table.hpp"
#include "microlith/services/module_archive.hpp"
#include "microlith/services/module_store.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace microlith {

/// How an archive is installed.
struct install_options {
  /// "/clients/acme": the module's routes are served under it; empty: where its active version
  /// is served (none active: at the root)
  std::string route_prefix;
  bool activate = false; ///< activate the installed version at once
  std::string node;      ///< in a cluster: the node that runs its groups; empty = this node
};

/// What the code server knows of one installed version.
struct module_status {
  installed_module installed;
  bool loaded = false; ///< this node does its part now: runs its groups or, when another node of
                       ///< its cluster runs them (installed.node), serves its routes
  std::string problem; ///< why an active version is not loaded (its last load error)
};

/// The cluster a node's code server is part of (the host's placement: a node of the system
/// file's [nodes]).
struct module_cluster {
  std::string node;               ///< this node's name
  std::vector<std::string> nodes; ///< every node of the system, this one included
  /// How long load_active() waits for another node to catch up from when none is reached yet.
  std::chrono::milliseconds catch_up_wait{3000};
};

/// Builds and installs a gateway group's table with `loaded` (the loaded modules' routes, prefix
/// applied) beside its own routes; answers the error when the table does not build (the gateway
/// then keeps its table).
using loaded_routes_installer =
  std::function<caf::error(const std::vector<gateway::route_spec>& loaded)>;

/// The installed modules of one node and the versions running.
class code_server {
public:
  /// A code server for node `n` keeping its modules in `store`; uploads over `limits` are
  /// refused. Starts nothing until load_active().
  code_server(node& n, std::unique_ptr<module_store> store, archive_limits limits = {});

  /// Stops the loaded groups (stop()).
  ~code_server();

  code_server(const code_server&) = delete;
  code_server& operator=(const code_server&) = delete;

  /// Makes this the code server of node `cluster.node` of a cluster: operations apply to every
  /// node reached, versions that another node runs are served here by their routes only, and
  /// load_active() catches up with another node first. Call once, before load_active().
  void join_cluster(module_cluster cluster);

  /// Starts the node's `modules` supervisor and loads the active version of every installed
  /// module (in a cluster: after catching up with another node). A module that fails to load is
  /// reported (name, then why) and the others load.
  std::vector<std::pair<std::string, caf::error>> load_active();

  /// Checks and stores an archive; with options.activate, activates it (a replace when another
  /// version is active). Refused with the reason: nothing stored when the archive, its ABI or
  /// its contracts are wrong; stored but not active when its activation fails.
  caf::expected<module_status> install(std::string_view archive, const install_options& options);

  /// Activates an installed version: loads it, or replaces the active one (rollback = activating
  /// an older installed version). In a cluster, `node` runs it (empty: the node running the
  /// active version, else this one); outside one, `node` must be empty.
  caf::expected<module_status> activate(const std::string& name, const std::string& version,
                                        const std::string& node = {});

  /// Stops the module's running version (routes first, then its groups) and removes every
  /// installed version of it.
  caf::error remove(const std::string& name);

  /// Every installed version, with what runs.
  std::vector<module_status> list() const;

  /// The routes of the loaded versions, each under its prefix, in activation order.
  std::vector<gateway::route_spec> routes() const;

  /// Registers (or with an empty function removes) the installer of gateway group `group`:
  /// every change of the loaded routes goes through it.
  void on_routes(const std::string& group, loaded_routes_installer install);

  /// True while load_active() has not finished (the node is not ready).
  bool loading() const;

  /// What an uploaded archive may be ([modules] max_archive_bytes): a gateway serving the
  /// install refuses a larger body before reading it.
  const archive_limits& limits() const noexcept;

  /// Stops every loaded version's groups (newest first) and the `modules` supervisor.
  /// Idempotent. Loaded libraries stay mapped.
  void stop();

  /// Runs `operation` on the code server's own thread, after the operations posted before it
  /// (for callers on the actor system's threads, e.g. the gateway's admin endpoint).
  void post(std::function<void()> operation);

  // -- This node's part of an operation on the whole cluster (what the other nodes' code
  // -- servers ask of this one, module_replication.hpp); nothing is sent to other nodes.

  /// Checks and stores the archive as installed version `row` (its route prefix and node; its
  /// sha256 when not empty, else the archive's), not active.
  caf::expected<module_status> store_here(std::string_view archive, const installed_module& row);

  /// Makes an installed version the active one, run by `node`. When this node runs it, it is
  /// recorded only once its groups run; when another node does, it is recorded first, then its
  /// routes are served here (a failure is kept as its problem and tried again: retry_unloaded).
  caf::expected<module_status> activate_here(const std::string& name, const std::string& version,
                                             const std::string& node);

  /// Stops the module here and removes every installed version of it.
  caf::error remove_here(const std::string& name);

  /// The archive of an installed version, made again from its files (as `microlith package`
  /// writes it: manifest, ABI note, then the manifest's files).
  caf::expected<std::string> archive_of(const std::string& name, const std::string& version) const;

  /// Tries again to serve the active versions that another node runs and that this node does not
  /// serve yet (their services were not known).
  void retry_unloaded();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The route key `key` ("GET /statements/{id}") served under `prefix` ("/clients/acme"):
/// "GET /clients/acme/statements/{id}". An empty prefix leaves it unchanged.
std::string prefixed_route_key(std::string_view key, std::string_view prefix);

/// Checks a route prefix: empty, or "/" followed by segments of letters, digits, '.', '_', '-'
/// and '~' separated by single '/', without a trailing '/'. The error says what was expected.
caf::error check_route_prefix(std::string_view prefix);

} // namespace microlith
