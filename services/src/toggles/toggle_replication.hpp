// Toggles in a cluster (docs/toggles.md, "Cluster-wide"). Every node holds every value, each
// with its version (toggle_board.hpp: the greater version wins):
//  - a change made on one node is saved and in force there, then pushed by its `toggles`
//    service to the replica service "toggles@NODE" of every other node it reaches (contract
//    microlith.toggles.v1.ToggleReplica), which applies it when it is newer and acknowledges
//    once it is saved and in force; the answer of the change names the nodes that applied it and
//    the ones that did not answer within push_timeout (toggles_service.cpp);
//  - a node starting takes what it lacks from the nodes it reaches before its groups start
//    (catch_up_at_start), and whenever another node's replica service appears in the registry
//    (a node joined, came back after a partition or a freeze, or restarted), the two exchange
//    their states so the newer values win on both sides (the watcher thread).
//
// The push is asynchronous in the `toggles` service's actor, and "toggles@NODE" is another
// actor: two nodes changing toggles at the same moment each answer the other's push while their
// own waits for its acknowledgements.
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/actors/service_definition.hpp"

#include <caf/error.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace microlith {

class toggle_board;

namespace detail {

/// How long a change waits for each other node's acknowledgement.
inline constexpr std::chrono::milliseconds toggle_push_timeout{2000};

/// The cluster a node's toggles are part of (the host's placement).
struct toggle_cluster {
  /// Another node of the system, and where its agent listens.
  struct peer {
    std::string name;
    std::string host;
    std::uint16_t port = 0; ///< 0: the OS chose; it cannot be probed
  };
  std::string node;         ///< this node's name
  std::vector<peer> others; ///< every other node of the system, in the file's order
  /// How long a node starting waits for the nodes that listen to be reached.
  std::chrono::milliseconds catch_up_wait{3000};
};

/// The name of node `node`'s toggles replica service: "toggles@NODE".
std::string toggle_replica_name(std::string_view node);

/// One node's side of the toggles of a cluster.
class toggle_replication {
public:
  toggle_replication(node& n, toggle_board& board, toggle_cluster cluster);

  /// Stops watching (stop()).
  ~toggle_replication();

  toggle_replication(const toggle_replication&) = delete;
  toggle_replication& operator=(const toggle_replication&) = delete;

  /// This node's name.
  const std::string& self() const noexcept { return cluster_.node; }

  /// Every other node of the system, in the file's order.
  std::vector<std::string> others() const;

  /// The other nodes whose replica service is in the registry now (joined, toggles running).
  std::vector<std::string> reachable() const;

  /// This node's replica service "toggles@NODE".
  service_definition replica_service();

  /// Before the node's groups start: waits up to toggle_cluster::catch_up_wait for every other
  /// node that accepts connections on its address to be reached, and exchanges states with each
  /// one reached (their newer values are in force here when this returns). Then starts the
  /// watcher. Returns early, exchanging with no more nodes, once `stop_asked` answers true (the
  /// node was asked to stop while it started).
  void catch_up_at_start(const std::function<bool()>& stop_asked);

  /// Exchanges states with `peer`: sends this node's, merges the answer. Answers how many
  /// values and groups were taken.
  caf::expected<int> exchange_with(const std::string& peer);

  /// Stops the watcher (idempotent).
  void stop();

private:
  void watch_loop();
  bool stopping();

  node& node_;
  toggle_board& board_;
  toggle_cluster cluster_;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false; // requires mutex_
  std::thread watcher_;
  std::map<std::string, std::string> synced_; // peer -> its replica instance; watcher only
};

} // namespace detail

} // namespace microlith
