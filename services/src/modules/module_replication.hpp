// Installed modules in a cluster (docs/modules.md, "Modules in a cluster"). Every node of the
// system keeps every installed version in its own store, and each active version is run by one
// node, which the registry row names (installed_module::node):
//  - the node that runs it loads its library and runs its groups under its `modules`
//    supervisor, as a node alone does;
//  - every other node checks and loads only its contracts (once: contract_check.hpp) and serves
//    its routes, under its prefix, on its own gateways: a request arriving there is a call by
//    service name, which the registry sends to the node that runs it.
//
// The node that receives an operation (install, activate, remove) applies it to itself and to
// every other node it reaches, through each node's replica service "modules@NODE" (contract
// microlith.modules.v1.ModuleReplica), which hands it to that node's code server. Activating a
// version that another node runs asks that node first: when it cannot run it, nothing is
// activated anywhere. A node that was down meanwhile catches up when it starts (before it
// reports ready, when it reaches another node within module_cluster::catch_up_wait), or when it
// first reaches another node after starting alone: it fetches the versions it lacks from that
// node and takes that node's active versions and where they run.
//
// Calls to other nodes block: the flows run on the code server's own thread.
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/actors/service_definition.hpp"
#include "microlith/net/gateway/route_table.hpp"
#include "microlith/services/code_server.hpp"
#include "microlith/services/module_manifest.hpp"
#include "microlith/services/module_store.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace microlith::detail {

/// What this node needs to serve a version that another node runs.
struct remote_version {
  module_manifest manifest;
  std::vector<gateway::route_spec> routes; ///< under its prefix
};

/// Prepares serving `m` (stored in `folder`), which node m.node runs: reads its manifest,
/// compares its ABI with this process's, loads its contracts (or reuses the loaded ones), puts
/// its routes under its prefix, and checks that `registry` knows the contract of every service
/// they target (the node that runs it replicates its services with their contracts); when one
/// is unknown yet, the error names it and the node.
caf::expected<remote_version> prepare_remote_version(const std::filesystem::path& folder,
                                                     const installed_module& m,
                                                     const service_registry& registry);

/// The name of node `node`'s replica service: "modules@NODE".
std::string replica_service_name(std::string_view node);

/// The code server's side of a cluster.
class module_replication {
public:
  module_replication(node& n, module_cluster cluster);

  /// Stops watching (stop_watching()).
  ~module_replication();

  module_replication(const module_replication&) = delete;
  module_replication& operator=(const module_replication&) = delete;

  /// This node's name.
  const std::string& self() const noexcept { return cluster_.node; }

  /// The node `requested` names ("" = this node); errc::invalid_argument listing the system's
  /// nodes when it is none of them.
  caf::expected<std::string> node_named(const std::string& requested) const;

  /// The other nodes whose code server this node reaches now (their replica service is in the
  /// registry: joined, and loaded), in the file's order.
  std::vector<std::string> reachable() const;

  /// This node's replica service, serving `here`.
  service_definition replica_service(code_server& here);

  // -- Operations on the whole cluster (from code_server's install, activate and remove) -----

  /// Installs on this node, then stores a copy on every node reached; with options.activate,
  /// activate()s it.
  caf::expected<module_status> install(code_server& here, std::string_view archive,
                                       const install_options& options);

  /// Activates `version` of `name`, run by `requested` ("" = the node running the active version,
  /// else this one): on that node first (when it is another, it must run it, or nothing is
  /// activated), then here, then on every other node reached.
  caf::expected<module_status> activate(code_server& here, const std::string& name,
                                        const std::string& version, const std::string& requested);

  /// Removes the module here, then on every node reached.
  caf::error remove(code_server& here, const std::string& name);

  /// Takes from another node what this one lacks (versions, the active ones and where they run).
  /// With `wait`, waits up to module_cluster::catch_up_wait for another node to be reached when
  /// none is yet. A node that reaches none starts with what it has and catches up once it does
  /// (watch()).
  void catch_up(code_server& here, bool wait);

  /// Starts a thread that posts to `here`: a catch-up once another node is reached, when
  /// catch_up() reached none; a new attempt to serve the versions that run on other nodes and
  /// are not served yet, whenever the registry changes (their services became known).
  void watch(code_server& here);

  /// Stops that thread (idempotent).
  void stop_watching();

private:
  // Calls `method` of `peer`'s replica service and waits for the answer.
  template <class Resp, class Req>
  caf::expected<Resp> call(const std::string& peer, const char* method, const Req& request,
                           std::chrono::milliseconds timeout) const;

  // Activates on `peer`, sending it the archive first when it does not have the version.
  caf::expected<module_status> activate_on(code_server& here, const std::string& peer,
                                           const installed_module& m, const std::string& node);

  void watch_loop(code_server* here);

  // True once stop_watching() was called.
  bool stopping();

  node& node_;
  module_cluster cluster_;
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> catch_up_posted_{false};
  std::atomic<bool> retry_posted_{false};

  std::mutex watch_mutex_;
  std::condition_variable watch_changed_;
  bool watch_stopping_ = false; // requires watch_mutex_
  std::thread watcher_;
};

} // namespace microlith::detail
