// A node's current toggle snapshot. Publishing swaps the pointer under a mutex and bumps a
// version; reading is lock-free on the common path: each thread keeps the snapshot it last read
// with its version, and takes the mutex only once per thread after each publication. A reader
// holds a shared_ptr, so a snapshot it captured stays alive however many are published after
// it: no reader ever touches freed memory or sees half a change.
#pragma once

#include "microlith/actors/toggles.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>

namespace microlith::detail {

class toggle_holder {
public:
  toggle_holder();

  /// Makes `next` the current snapshot (an empty one for null).
  void publish(toggle_snapshot_ptr next);

  /// The current snapshot: an atomic load and a comparison when this thread read it since the
  /// last publication; else one short lock.
  toggle_snapshot_ptr current() const;

private:
  mutable std::mutex mutex_;
  toggle_snapshot_ptr current_;          // requires mutex_
  std::atomic<std::uint64_t> version_{}; // unique in the process: see next_version()
};

} // namespace microlith::detail
