// A node's membership in a cluster: the nodes of one system, joined over CAF's own node-to-node
// transport (the middleman and its BASP protocol). Each node publishes one actor, its agent; the
// agents connect to the peers the system file names (retrying with backoff), prove to each other
// that they belong to the same system and know the same cookie, and then replicate their local
// service registrations (with contracts), topic subscriptions and running groups to each other.
// Lookups stay local: the registry holds proxies of the other nodes' instances, so a call to a
// service on another node is a send to a proxy, with no extra hop.
//
// Failure detection is CAF's: both middleman heartbeat keys are set on every node, so a peer
// that dies (socket closed) or freezes (no heartbeats within heartbeat_timeout) is declared down
// by the middleman's own I/O thread, whatever the scheduler is doing. The agent then removes the
// peer's entries, logs which node went down and why, and reconnects with backoff.
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/net/cluster/tls.hpp"

#include <caf/actor.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace microlith::cluster {

namespace detail {
struct membership_state; // what the node agent shares with the handle
} // namespace detail

/// Another node of the system, as the system file names it.
struct peer_address {
  std::string name;
  std::string host;
  std::uint16_t port = 0; ///< 0: it listens where the OS chose; it has to connect to us
};

/// How this node takes part in the cluster.
struct cluster_options {
  /// The system's name: nodes of another system are refused.
  std::string system;
  /// This node's name (unique in the system).
  std::string node;
  /// Where this node's agent listens; port 0 = the OS chooses.
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  /// The other nodes; this node connects to each and keeps reconnecting while it runs.
  std::vector<peer_address> peers;
  /// The shared secret. Never sent: each side proves it knows it (HMAC of a fresh nonce).
  std::string cookie;
  /// How often the middleman sends a heartbeat on an idle connection.
  std::chrono::milliseconds heartbeat_interval{200};
  /// How long a connection may stay silent before its peer is declared down.
  std::chrono::milliseconds heartbeat_timeout{1000};
  /// The first and the longest delay between connection attempts to a peer.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2000};
  /// How long one connection attempt (TCP connect and CAF's handshake) may take.
  std::chrono::milliseconds connect_timeout{3000};
  /// Encrypted, pinned links (tls.hpp); without a certificate the links are plain BASP.
  tls_options tls;
};

/// Sets what the actor system needs before it starts: CAF's middleman, the heartbeat keys (on
/// every node, as CAF requires) and the application id; with cluster.tls enabled, CAF's OpenSSL
/// module with the node's certificate, key and pinned certificates (tls::prepare()). Call before
/// constructing the node. Fails when the TLS settings are unusable (tls::check()).
caf::error configure_transport(node_options& options, const cluster_options& cluster);

/// Another node this node is joined with.
struct member_info {
  std::string name;
  std::string node_id;             ///< CAF's node id (differs for each process)
  std::vector<std::string> groups; ///< the groups it runs
  std::int64_t joined_unix_ms = 0; ///< when this node last joined it
  /// The round trip of the newest ping this node's agent sent it over the link (the agents
  /// ping each other once a second, beside the middleman's heartbeats); 0 until one came back.
  std::chrono::nanoseconds round_trip{0};
};

/// A joined node that this node lost: declared down (its connection closed, or no heartbeat
/// within heartbeat_timeout), left, or replaced by a new process of the same node.
struct lost_member {
  std::string name;
  std::string node_id; ///< the lost process's CAF node id (member_info::node_id)
  bool left = false;   ///< it said goodbye
  std::string why;     ///< as logged
};

/// This node's membership. Destroying it leaves the cluster.
class membership {
public:
  /// Publishes this node's agent on options.host:options.port and starts joining the peers (in
  /// the background: it answers before any peer is reached). Fails when the address cannot be
  /// bound or the node was not configured with configure_transport().
  static caf::expected<std::unique_ptr<membership>> join(node& n, cluster_options options);

  ~membership();

  membership(const membership&) = delete;
  membership& operator=(const membership&) = delete;

  /// The port the agent listens on (the OS's choice when options.port was 0).
  std::uint16_t port() const noexcept;

  /// The nodes currently joined (authenticated and up), not counting this one.
  std::vector<member_info> members() const;

  /// True when some joined node runs `group`.
  bool group_running(const std::string& group) const;

  /// Calls `watcher` for each joined node this node loses, once it is out of members() (on the
  /// node agent's thread: it must not block; send to an actor). One watcher; {} removes it.
  void watch_lost(std::function<void(const lost_member&)> watcher);

  /// Announces the groups this node runs (after each group starts or stops).
  void set_local_groups(std::vector<std::string> groups);

  /// Tells the joined nodes that this node leaves (they drop its entries at once instead of
  /// waiting for the connection to close), stops the agent and unpublishes it. Idempotent.
  void leave();

  /// The options this membership runs with.
  const cluster_options& options() const noexcept;

private:
  membership(node& n, cluster_options options);

  node& node_;
  cluster_options options_;
  std::shared_ptr<detail::membership_state> state_;
  caf::actor agent_;
  std::uint16_t port_ = 0;
};

} // namespace microlith::cluster
