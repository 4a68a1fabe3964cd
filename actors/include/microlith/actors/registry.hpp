// The service registry of one node: service name -> the actors serving it, local instances and
// (in a cluster) proxies of instances on other nodes. Writers (services starting, restarting and
// stopping; the cluster replicating other nodes' changes) publish a new immutable snapshot under
// a mutex; readers on the hot path keep the snapshot they last used and re-read it only when the
// registry's version changed, which costs one atomic load — a lookup never takes a lock.
//
// Resolution prefers instances on this node: remote instances of a service are used only when it
// has no local one, round-robin among them.
#pragma once

#include <caf/actor.hpp>
#include <caf/node_id.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace microlith {

/// One immutable version of the registry's contents.
class registry_snapshot {
public:
  using table = std::unordered_map<std::string, std::vector<caf::actor>>;

  /// A snapshot of `entries`, each instance list ordered local instances (on `local`) first; an
  /// invalid `local` counts every instance as local.
  registry_snapshot(std::uint64_t version, table entries, const caf::node_id& local = {});

  /// The instances serving `service` (empty when none), local ones first.
  const std::vector<caf::actor>& instances(const std::string& service) const;

  /// How many of instances(service) are on this node (they come first).
  std::size_t local_count(const std::string& service) const;

  /// One instance of `service` for the `n`th call: round-robin over the local instances, or over
  /// the remote ones when there is no local one; null when none.
  caf::actor pick(const std::string& service, std::uint32_t n) const;

  /// The version this snapshot was published as.
  std::uint64_t version() const noexcept { return version_; }

  /// Every entry.
  const table& entries() const noexcept { return entries_; }

private:
  std::uint64_t version_;
  table entries_;
  std::unordered_map<std::string, std::size_t> local_counts_; // services with a local instance
};

/// One change of a service_registry or topic_registry, as its watcher sees it.
struct registry_change {
  enum class kind : std::uint8_t { added, removed };
  kind what = kind::added;
  /// The service (or topic).
  std::string name;
  /// The instance (or subscriber) added or removed.
  caf::actor instance;
};

/// Told of every change, in order, while the registry's lock is held: it must be quick and must
/// not call back into the registry (the cluster forwards changes to its agent actor).
using registry_watcher = std::function<void(const registry_change&)>;

/// The node-wide name table.
class service_registry {
public:
  service_registry();

  /// Adds `instance` as a server of `service`; adding the same instance twice is a no-op.
  void add(const std::string& service, caf::actor instance);

  /// Removes `instance` from `service` (only that instance: a restarted replacement stays).
  void remove(const std::string& service, const caf::actor_addr& instance);

  /// Records that `service` implements the Protobuf service `contract` ("bank.Accounts"). Kept
  /// after its instances are gone: the gateway checks routes against it.
  void record_contract(const std::string& service, const std::string& contract);

  /// The contract `service` implements, or empty when no instance of it ever registered.
  std::string contract_of(const std::string& service) const;

  /// Removes every instance that lives on node `node` (that node left or went down); answers
  /// how many entries were removed. The watcher is not told: these were never local.
  std::size_t remove_node(const caf::node_id& node);

  /// Removes every entry (used when a node shuts down).
  void clear();

  /// Which instances count as local (the node's own id); set once by the node.
  void set_local_node(caf::node_id local);

  /// Installs the watcher told of every add and remove (replacing any earlier one; an empty
  /// function removes it).
  void watch(registry_watcher watcher);

  /// The current snapshot (takes the writers' mutex; hot paths use a registry_view instead).
  std::shared_ptr<const registry_snapshot> snapshot() const;

  /// The version of the current snapshot; changes on every add or remove.
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

  /// One instance of `service`, spreading successive calls over the instances; null if none.
  caf::actor resolve(const std::string& service) const;

private:
  void publish(registry_snapshot::table entries); // requires mutex_

  mutable std::mutex mutex_;
  caf::node_id local_;       // requires mutex_
  registry_watcher watcher_; // requires mutex_
  std::shared_ptr<const registry_snapshot> current_;
  std::unordered_map<std::string, std::string> contracts_; // requires mutex_
  std::atomic<std::uint64_t> version_{0};
  mutable std::atomic<std::uint32_t> next_{0};
};

/// A reader's cached view: one atomic load per lookup while nothing changed.
class registry_view {
public:
  explicit registry_view(const service_registry& registry) : registry_(&registry) {}

  /// One instance of `service` or null; round-robin over several instances.
  caf::actor resolve(const std::string& service) {
    if (registry_->version() != seen_version_)
      refresh();
    return snapshot_->pick(service, next_++);
  }

private:
  void refresh();

  const service_registry* registry_;
  std::shared_ptr<const registry_snapshot> snapshot_;
  std::uint64_t seen_version_ = ~std::uint64_t{0};
  std::uint32_t next_ = 0;
};

} // namespace microlith
