// A node's current toggle snapshot. Publishing swaps the pointer under a mutex and bumps a
// version; reading is lock-free on the common path: each thread keeps the snapshot it last read
// with its version, and takes the mutex only once per thread after each publication. A reader
// holds a shared_ptr, so a snapshot it captured stays alive however many are published after
// it: no reader ever touches freed memory or sees half a change.
//
// It also keeps the last recent_snapshots snapshots published on this node, by digest (a ring:
// the oldest leaves when a new one comes; publishing values already in it moves them to the
// newest place, so there is never the same digest twice). A call from another node names the
// digest of the snapshot its request entered with; find() answers the snapshot of those values
// when this node published it recently. Only publish() adds to the ring: nothing a remote
// envelope carries creates an entry.
#pragma once

#include "microlith/actors/toggles.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>

namespace microlith::detail {

class toggle_holder {
public:
  /// How many published snapshots the ring keeps.
  static constexpr std::size_t recent_snapshots = 64;

  toggle_holder();

  /// Makes `next` the current snapshot (an empty one for null), and the newest of the ring.
  void publish(toggle_snapshot_ptr next);

  /// The current snapshot: an atomic load and a comparison when this thread read it since the
  /// last publication; else one short lock.
  toggle_snapshot_ptr current() const;

  /// The snapshot with `digest` among the current one and the ring; null when none has it (and
  /// for 0). The current one costs what current() does; the ring, one lock and at most
  /// recent_snapshots comparisons.
  toggle_snapshot_ptr find(std::uint64_t digest) const;

  /// The digests in the ring, oldest first (for tests).
  std::deque<std::uint64_t> recent_digests() const;

  /// Counts a call from another node whose snapshot find() did not have.
  void count_miss() noexcept { misses_.fetch_add(1, std::memory_order_relaxed); }

  /// How many calls from other nodes named a snapshot this node did not hold.
  std::uint64_t misses() const noexcept { return misses_.load(std::memory_order_relaxed); }

private:
  mutable std::mutex mutex_;
  toggle_snapshot_ptr current_;            // requires mutex_
  std::deque<toggle_snapshot_ptr> recent_; // requires mutex_; oldest first, distinct digests
  std::atomic<std::uint64_t> version_{};   // unique in the process: see next_version()
  std::atomic<std::uint64_t> misses_{0};
};

} // namespace microlith::detail
