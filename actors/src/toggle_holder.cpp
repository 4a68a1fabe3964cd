#include "detail/toggle_holder.hpp"

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
  : current_(std::make_shared<const toggle_snapshot>()), version_(next_version()) {}

void toggle_holder::publish(toggle_snapshot_ptr next) {
  if (!next)
    next = std::make_shared<const toggle_snapshot>();
  std::lock_guard<std::mutex> guard{mutex_};
  current_ = std::move(next);
  version_.store(next_version(), std::memory_order_release);
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
