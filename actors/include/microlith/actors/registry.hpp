// The service registry of one node: service name -> the actors serving it. Writers (services
// starting, restarting and stopping) publish a new immutable snapshot under a mutex; readers on
// the hot path keep the snapshot they last used and re-read it only when the registry's version
// changed, which costs one atomic load — a lookup never takes a lock.
#pragma once

#include <caf/actor.hpp>

#include <atomic>
#include <cstdint>
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

  registry_snapshot(std::uint64_t version, table entries);

  /// The instances serving `service` (empty when none).
  const std::vector<caf::actor>& instances(const std::string& service) const;

  /// The version this snapshot was published as.
  std::uint64_t version() const noexcept { return version_; }

  /// Every entry.
  const table& entries() const noexcept { return entries_; }

private:
  std::uint64_t version_;
  table entries_;
};

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

  /// Removes every entry (used when a node shuts down).
  void clear();

  /// The current snapshot (takes the writers' mutex; hot paths use a cached_view instead).
  std::shared_ptr<const registry_snapshot> snapshot() const;

  /// The version of the current snapshot; changes on every add or remove.
  std::uint64_t version() const noexcept { return version_.load(std::memory_order_acquire); }

  /// One instance of `service`, spreading successive calls over the instances; null if none.
  caf::actor resolve(const std::string& service) const;

private:
  void publish(registry_snapshot::table entries); // requires mutex_

  mutable std::mutex mutex_;
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
    const auto& xs = snapshot_->instances(service);
    switch (xs.size()) {
      case 0: return {};
      case 1: return xs.front();
      default: return xs[next_++ % xs.size()];
    }
  }

private:
  void refresh();

  const service_registry* registry_;
  std::shared_ptr<const registry_snapshot> snapshot_;
  std::uint64_t seen_version_ = ~std::uint64_t{0};
  std::uint32_t next_ = 0;
};

} // namespace microlith
