// Topics: publish/subscribe inside a node. A topic is a name ("balances"); subscribers are
// actors; publishing sends each current subscriber an envelope of kind `publish` whose
// `service` field is the topic and whose body is the published message (shared, not copied).
// Delivery is at most once and, per publisher and subscriber, in publish order. The table is
// copy-on-write: publishing reads one immutable snapshot (an atomic load) and takes no lock.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

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

  /// The current table (immutable; valid as long as the pointer is held).
  std::shared_ptr<const table> snapshot() const;

  /// How many actors subscribe to `topic` now.
  std::size_t subscriber_count(const std::string& topic) const;

private:
  void publish_table(std::shared_ptr<const table> next); // requires mutex_

  std::mutex mutex_;
  std::shared_ptr<const table> current_;
};

} // namespace microlith
