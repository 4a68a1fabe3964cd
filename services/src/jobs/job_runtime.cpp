#include "jobs/job_runtime.hpp"

#include "jobs/job_worker.hpp"

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

#include <algorithm>

namespace microlith::detail {

job_runtime::job_runtime(node& n, std::unique_ptr<job_store> store,
                         std::vector<job_queue_config> queues, std::chrono::milliseconds poll)
  : node_(n), store_(std::move(store)), queues_(std::move(queues)), poll_(poll),
    batcher_(std::make_unique<job_batcher>(*store_)) {}

const job_queue_config* job_runtime::queue(const std::string& name) const {
  for (const auto& q : queues_)
    if (q.name == name)
      return &q;
  return nullptr;
}

std::vector<std::string> job_runtime::queue_names() const {
  std::vector<std::string> out;
  for (const auto& q : queues_)
    out.push_back(q.name);
  return out;
}

void job_runtime::add_worker(const std::string& queue, const caf::actor_addr& worker) {
  std::lock_guard<std::mutex> guard{mutex_};
  workers_[queue].push_back(worker);
}

void job_runtime::remove_worker(const std::string& queue, const caf::actor_addr& worker) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (auto i = workers_.find(queue); i != workers_.end()) {
    auto& list = i->second;
    list.erase(std::remove(list.begin(), list.end(), worker), list.end());
  }
  if (auto i = idle_.find(queue); i != idle_.end()) {
    auto& waiting = i->second.waiting;
    waiting.erase(std::remove(waiting.begin(), waiting.end(), worker), waiting.end());
  }
}

void job_runtime::wake(const std::string& queue, std::size_t jobs) {
  std::vector<caf::actor> targets;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    auto& idle = idle_[queue];
    ++idle.wakes;
    while (jobs > 0 && !idle.waiting.empty()) {
      auto addr = std::move(idle.waiting.front());
      idle.waiting.pop_front();
      if (auto a = caf::actor_cast<caf::actor>(addr)) {
        targets.push_back(std::move(a));
        --jobs;
      }
    }
  }
  for (const auto& a : targets)
    caf::anon_send(a, job_wake_atom::value);
}

std::uint64_t job_runtime::wakes(const std::string& queue) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = idle_.find(queue);
  return i == idle_.end() ? 0 : i->second.wakes;
}

bool job_runtime::worker_idle(const std::string& queue, const caf::actor_addr& worker,
                              std::optional<std::uint64_t> unless_woken_since) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& idle = idle_[queue];
  if (unless_woken_since && *unless_woken_since != idle.wakes)
    return false;
  if (std::find(idle.waiting.begin(), idle.waiting.end(), worker) == idle.waiting.end())
    idle.waiting.push_back(worker);
  return true;
}

void job_runtime::worker_busy(const std::string& queue, const caf::actor_addr& worker) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = idle_.find(queue);
  if (i == idle_.end())
    return;
  auto& waiting = i->second.waiting;
  waiting.erase(std::remove(waiting.begin(), waiting.end(), worker), waiting.end());
}

void job_runtime::set_rescuer(const caf::actor_addr& rescuer) {
  std::lock_guard<std::mutex> guard{mutex_};
  rescuer_ = rescuer;
}

void job_runtime::clear_rescuer(const caf::actor_addr& rescuer) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (rescuer_ == rescuer)
    rescuer_ = caf::actor_addr{};
}

void job_runtime::holder_lost(const job_holder& holder, std::int64_t seen_at,
                              const std::string& why) const {
  caf::actor target;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    target = caf::actor_cast<caf::actor>(rescuer_);
  }
  if (target)
    caf::anon_send(target, job_lost_atom::value, holder.node, holder.instance, seen_at, why);
}

} // namespace microlith::detail
