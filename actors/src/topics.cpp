#include "microlith/actors/topics.hpp"

#include <algorithm>
#include <atomic>

namespace microlith {

topic_registry::topic_registry() : current_(std::make_shared<const table>()) {}

void topic_registry::subscribe(const std::string& topic, caf::actor subscriber) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto existing = current_->find(topic);
  if (existing != current_->end()
      && std::find(existing->second.begin(), existing->second.end(), subscriber)
           != existing->second.end())
    return;
  auto next = std::make_shared<table>(*current_);
  (*next)[topic].push_back(subscriber);
  publish_table(std::move(next));
  tell(registry_change::kind::added, topic, subscriber);
}

void topic_registry::unsubscribe(const std::string& topic, const caf::actor_addr& subscriber) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = current_->find(topic);
  if (i == current_->end())
    return;
  auto is_it = [&](const caf::actor& x) { return x.address() == subscriber; };
  if (std::none_of(i->second.begin(), i->second.end(), is_it))
    return;
  auto gone = *std::find_if(i->second.begin(), i->second.end(), is_it);
  auto next = std::make_shared<table>(*current_);
  auto& xs = (*next)[topic];
  xs.erase(std::remove_if(xs.begin(), xs.end(), is_it), xs.end());
  if (xs.empty())
    next->erase(topic);
  publish_table(std::move(next));
  tell(registry_change::kind::removed, topic, gone);
}

void topic_registry::unsubscribe_all(const caf::actor_addr& subscriber) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto is_it = [&](const caf::actor& x) { return x.address() == subscriber; };
  bool found = false;
  for (const auto& [topic, xs] : *current_)
    found = found || std::any_of(xs.begin(), xs.end(), is_it);
  if (!found)
    return;
  auto next = std::make_shared<table>();
  std::vector<std::pair<std::string, caf::actor>> gone;
  for (const auto& [topic, xs] : *current_) {
    std::vector<caf::actor> kept;
    for (const auto& x : xs) {
      if (is_it(x))
        gone.emplace_back(topic, x);
      else
        kept.push_back(x);
    }
    if (!kept.empty())
      next->emplace(topic, std::move(kept));
  }
  publish_table(std::move(next));
  for (const auto& [topic, x] : gone)
    tell(registry_change::kind::removed, topic, x);
}

std::size_t topic_registry::remove_node(const caf::node_id& node) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto next = std::make_shared<table>();
  std::size_t removed = 0;
  for (const auto& [topic, xs] : *current_) {
    std::vector<caf::actor> kept;
    for (const auto& x : xs)
      if (x.node() == node)
        ++removed;
      else
        kept.push_back(x);
    if (!kept.empty())
      next->emplace(topic, std::move(kept));
  }
  if (removed > 0)
    publish_table(std::move(next));
  return removed;
}

void topic_registry::watch(registry_watcher watcher) {
  std::lock_guard<std::mutex> guard{mutex_};
  watcher_ = std::move(watcher);
}

void topic_registry::tell(registry_change::kind what, const std::string& topic,
                          const caf::actor& subscriber) {
  if (watcher_)
    watcher_(registry_change{what, topic, subscriber});
}

std::shared_ptr<const topic_registry::table> topic_registry::snapshot() const {
  return std::atomic_load(&current_);
}

std::size_t topic_registry::subscriber_count(const std::string& topic) const {
  auto snap = snapshot();
  auto i = snap->find(topic);
  return i == snap->end() ? 0 : i->second.size();
}

void topic_registry::publish_table(std::shared_ptr<const table> next) {
  std::atomic_store(&current_, std::move(next));
}

} // namespace microlith
