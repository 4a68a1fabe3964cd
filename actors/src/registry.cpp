#include "microlith/actors/registry.hpp"

#include <algorithm>

namespace microlith {

namespace {

bool is_local(const caf::actor& instance, const caf::node_id& local) {
  return !local || instance.node() == local;
}

} // namespace

registry_snapshot::registry_snapshot(std::uint64_t version, table entries,
                                     const caf::node_id& local)
  : version_(version), entries_(std::move(entries)) {
  for (auto& [service, xs] : entries_) {
    // Stable: local instances keep their order, remote ones theirs.
    auto remote = std::stable_partition(xs.begin(), xs.end(),
                                        [&](const caf::actor& x) { return is_local(x, local); });
    auto locals = static_cast<std::size_t>(remote - xs.begin());
    if (locals > 0)
      local_counts_.emplace(service, locals);
  }
}

const std::vector<caf::actor>& registry_snapshot::instances(const std::string& service) const {
  static const std::vector<caf::actor> none;
  auto i = entries_.find(service);
  return i == entries_.end() ? none : i->second;
}

std::size_t registry_snapshot::local_count(const std::string& service) const {
  auto i = local_counts_.find(service);
  return i == local_counts_.end() ? 0 : i->second;
}

caf::actor registry_snapshot::pick(const std::string& service, std::uint32_t n) const {
  auto i = entries_.find(service);
  if (i == entries_.end())
    return {};
  const auto& xs = i->second;
  if (xs.size() == 1)
    return xs.front();
  auto locals = local_count(service);
  if (locals == 1)
    return xs.front();
  if (locals > 1)
    return xs[n % locals];
  return xs[n % xs.size()];
}

service_registry::service_registry()
  : current_(std::make_shared<registry_snapshot>(0, registry_snapshot::table{})) {}

void service_registry::add(const std::string& service, caf::actor instance) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto entries = current_->entries();
  auto& xs = entries[service];
  if (std::find(xs.begin(), xs.end(), instance) != xs.end())
    return;
  xs.push_back(instance);
  publish(std::move(entries));
  if (watcher_)
    watcher_(registry_change{registry_change::kind::added, service, std::move(instance)});
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
  auto removed = std::move(*j);
  xs.erase(j);
  if (xs.empty())
    entries.erase(i);
  publish(std::move(entries));
  if (watcher_)
    watcher_(registry_change{registry_change::kind::removed, service, std::move(removed)});
}

std::size_t service_registry::remove_node(const caf::node_id& node) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto entries = current_->entries();
  std::size_t removed = 0;
  for (auto i = entries.begin(); i != entries.end();) {
    auto& xs = i->second;
    auto before = xs.size();
    xs.erase(
      std::remove_if(xs.begin(), xs.end(), [&](const caf::actor& x) { return x.node() == node; }),
      xs.end());
    removed += before - xs.size();
    i = xs.empty() ? entries.erase(i) : std::next(i);
  }
  if (removed > 0)
    publish(std::move(entries));
  return removed;
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

void service_registry::set_local_node(caf::node_id local) {
  std::lock_guard<std::mutex> guard{mutex_};
  local_ = std::move(local);
  publish(current_->entries());
}

void service_registry::watch(registry_watcher watcher) {
  std::lock_guard<std::mutex> guard{mutex_};
  watcher_ = std::move(watcher);
}

std::shared_ptr<const registry_snapshot> service_registry::snapshot() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return current_;
}

caf::actor service_registry::resolve(const std::string& service) const {
  return snapshot()->pick(service, next_.fetch_add(1, std::memory_order_relaxed));
}

void service_registry::publish(registry_snapshot::table entries) {
  auto version = current_->version() + 1;
  current_ = std::make_shared<registry_snapshot>(version, std::move(entries), local_);
  version_.store(version, std::memory_order_release);
}

void registry_view::refresh() {
  // Read the version first: if a writer publishes in between, the next lookup refreshes again.
  seen_version_ = registry_->version();
  snapshot_ = registry_->snapshot();
}

} // namespace microlith
