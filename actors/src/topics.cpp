#include "microlith/actors/topics.hpp"

#include <algorithm>
#include <atomic>
#include <iterator>

namespace microlith {

topic_registry::topic_registry() : current_(std::make_shared<const table>()) {
}

void topic_registry::subscribe(const std::string& topic, caf::actor subscriber) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto existing = current_->find(topic);
  if (existing != current_->end()
      && std::find(existing->second.begin(), existing->second.end(), subscriber)
           != existing->second.end())
    return;
  auto next = std::make_shared<table>(*current_);
  (*next)[topic].push_back(std::move(subscriber));
  publish_table(std::move(next));
}

void topic_registry::unsubscribe(const std::string& topic, const caf::actor_addr& subscriber) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = current_->find(topic);
  if (i == current_->end())
    return;
  auto is_it = [&](const caf::actor& x) { return x.address() == subscriber; };
  if (std::none_of(i->second.begin(), i->second.end(), is_it))
    return;
  auto next = std::make_shared<table>(*current_);
  auto& xs = (*next)[topic];
  xs.erase(std::remove_if(xs.begin(), xs.end(), is_it), xs.end());
  if (xs.empty())
    next->erase(topic);
  publish_table(std::move(next));
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
  for (const auto& [topic, xs] : *current_) {
    std::vector<caf::actor> kept;
    std::copy_if(xs.begin(), xs.end(), std::back_inserter(kept),
                 [&](const caf::actor& x) { return !is_it(x); });
    if (!kept.empty())
      next->emplace(topic, std::move(kept));
  }
  publish_table(std::move(next));
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
