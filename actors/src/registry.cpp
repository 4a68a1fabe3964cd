#include "microlith/actors/registry.hpp"

#include <algorithm>

namespace microlith {

registry_snapshot::registry_snapshot(std::uint64_t version, table entries)
  : version_(version), entries_(std::move(entries)) {
}

const std::vector<caf::actor>& registry_snapshot::instances(const std::string& service) const {
  static const std::vector<caf::actor> none;
  auto i = entries_.find(service);
  return i == entries_.end() ? none : i->second;
}

service_registry::service_registry()
  : current_(std::make_shared<registry_snapshot>(0, registry_snapshot::table{})) {
}

void service_registry::add(const std::string& service, caf::actor instance) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto entries = current_->entries();
  auto& xs = entries[service];
  if (std::find(xs.begin(), xs.end(), instance) != xs.end())
    return;
  xs.emplace_back(std::move(instance));
  publish(std::move(entries));
}

void service_registry::remove(const std::string& service, const caf::actor_addr& instance) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto entries = current_->entries();
  auto i = entries.find(service);
  if (i == entries.end())
    return;
  auto& xs = i->second;
  auto j = std::find_if(xs.begin(), xs.end(),
                        [&](const caf::actor& x) { return x.address() == instance; });
  if (j == xs.end())
    return;
  xs.erase(j);
  if (xs.empty())
    entries.erase(i);
  publish(std::move(entries));
}

void service_registry::record_contract(const std::string& service, const std::string& contract) {
  std::lock_guard<std::mutex> guard{mutex_};
  contracts_[service] = contract;
}

std::string service_registry::contract_of(const std::string& service) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = contracts_.find(service);
  return i == contracts_.end() ? std::string{} : i->second;
}

void service_registry::clear() {
  std::lock_guard<std::mutex> guard{mutex_};
  publish({});
}

std::shared_ptr<const registry_snapshot> service_registry::snapshot() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return current_;
}

caf::actor service_registry::resolve(const std::string& service) const {
  auto snap = snapshot();
  const auto& xs = snap->instances(service);
  if (xs.empty())
    return {};
  return xs[next_.fetch_add(1, std::memory_order_relaxed) % xs.size()];
}

void service_registry::publish(registry_snapshot::table entries) {
  auto version = current_->version() + 1;
  current_ = std::make_shared<registry_snapshot>(version, std::move(entries));
  version_.store(version, std::memory_order_release);
}

void registry_view::refresh() {
  // Read the version first: if a writer publishes in between, the next lookup refreshes again.
  seen_version_ = registry_->version();
  snapshot_ = registry_->snapshot();
}

} // namespace microlith
