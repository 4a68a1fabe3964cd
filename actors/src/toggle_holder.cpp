#include "detail/toggle_holder.hpp"

#include <algorithm>
#include <utility>

namespace microlith::detail {

namespace {

// Versions unique across every holder of the process, so a thread's cached (holder, version)
// pair can never match a different holder made at the same address later.
std::uint64_t next_version() {
  static std::atomic<std::uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) + 1;
}

struct thread_cache {
  const toggle_holder* owner = nullptr;
  std::uint64_t version = 0;
  toggle_snapshot_ptr snapshot;
};

} // namespace

toggle_holder::toggle_holder()
  : current_(std::make_shared<const toggle_snapshot>()), recent_{current_},
    version_(next_version()) {}

void toggle_holder::publish(toggle_snapshot_ptr next) {
  if (!next)
    next = std::make_shared<const toggle_snapshot>();
  std::lock_guard<std::mutex> guard{mutex_};
  const auto digest = next->digest();
  recent_.erase(std::remove_if(recent_.begin(), recent_.end(),
                               [digest](const auto& s) { return s->digest() == digest; }),
                recent_.end());
  recent_.push_back(next);
  while (recent_.size() > recent_snapshots)
    recent_.pop_front();
  current_ = std::move(next);
  version_.store(next_version(), std::memory_order_release);
}

toggle_snapshot_ptr toggle_holder::find(std::uint64_t digest) const {
  if (digest == 0)
    return nullptr;
  if (auto now = current(); now->digest() == digest)
    return now;
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto i = recent_.rbegin(); i != recent_.rend(); ++i)
    if ((*i)->digest() == digest)
      return *i;
  return nullptr;
}

std::deque<std::uint64_t> toggle_holder::recent_digests() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::deque<std::uint64_t> out;
  for (const auto& s : recent_)
    out.push_back(s->digest());
  return out;
}

toggle_snapshot_ptr toggle_holder::current() const {
  thread_local thread_cache cache;
  const auto version = version_.load(std::memory_order_acquire);
  if (cache.owner == this && cache.version == version)
    return cache.snapshot;
  std::lock_guard<std::mutex> guard{mutex_};
  cache.owner = this;
  cache.version = version_.load(std::memory_order_relaxed);
  cache.snapshot = current_;
  return cache.snapshot;
}

} // namespace microlith::detail
