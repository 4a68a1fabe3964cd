// Topics: publish/subscribe, node-wide and (in a cluster) cluster-wide: the table holds local
// subscribers and proxies of subscribers on other nodes, replicated by the cluster. A topic is a
// name ("balances"); subscribers are actors; publishing sends each current subscriber an envelope
// of kind `publish` whose `service` field is the topic and whose body is the published message
// (shared, not copied). Delivery is at most once and, per publisher and subscriber, in publish
// order. The table is copy-on-write: publishing reads one immutable snapshot (an atomic load) and
// takes no lock.
#pragma once

#include "microlith/actors/registry.hpp"

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/node_id.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace microlith {

/// The node-wide topic table.
class topic_registry {
public:
  using table = std::unordered_map<std::string, std::vector<caf::actor>>;

  topic_registry();

  /// Adds `subscriber` to `topic`; subscribing twice is a no-op.
  void subscribe(const std::string& topic, caf::actor subscriber);

  /// Removes `subscriber` from `topic`.
  void unsubscribe(const std::string& topic, const caf::actor_addr& subscriber);

  /// Removes `subscriber` from every topic (an actor does this when it exits).
  void unsubscribe_all(const caf::actor_addr& subscriber);

  /// Removes every subscriber that lives on node `node` (it left or went down); the watcher is
  /// not told. Answers how many subscriptions were removed.
  std::size_t remove_node(const caf::node_id& node);

  /// Installs the watcher told of every subscribe and unsubscribe, in order, under the table's
  /// lock (same rules as service_registry::watch).
  void watch(registry_watcher watcher);

  /// The current table (immutable; valid as long as the pointer is held).
  std::shared_ptr<const table> snapshot() const;

  /// How many actors subscribe to `topic` now.
  std::size_t subscriber_count(const std::string& topic) const;

private:
  void publish_table(std::shared_ptr<const table> next); // requires mutex_

  void tell(registry_change::kind what, const std::string& topic,
            const caf::actor& subscriber); // requires mutex_

  std::mutex mutex_;
  std::shared_ptr<const table> current_;
  registry_watcher watcher_; // requires mutex_
};

} // namespace microlith
