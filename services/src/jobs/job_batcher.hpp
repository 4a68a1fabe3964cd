// Group commit for the job store (docs/jobs.md, "Group commit"): the writes of a node's `jobs`
// service (enqueues) and of its workers (a completion and the next claim) are handed to one
// thread, which runs every write waiting in one transaction (job_store::write_batch) and then
// tells each its outcome. Under load a commit carries many writes; alone, a write waits for
// nothing but its own commit. Nobody blocks a scheduler thread on the store's lock meanwhile.
#pragma once

#include "microlith/services/job_store.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace microlith::detail {

/// What the batcher has done so far (for tests and benchmarks).
struct job_batcher_stats {
  std::uint64_t writes = 0;  ///< writes committed or failed
  std::uint64_t batches = 0; ///< transactions run
  std::uint64_t largest = 0; ///< the most writes one transaction carried
};

class job_batcher {
public:
  /// Runs the writes with `store`, which must outlive the batcher, at most `max_batch` in one
  /// transaction.
  explicit job_batcher(job_store& store, std::size_t max_batch = 512);

  /// Runs the writes still waiting, then stops the thread.
  ~job_batcher();

  job_batcher(const job_batcher&) = delete;
  job_batcher& operator=(const job_batcher&) = delete;

  /// Called on the batcher's thread with the write and its outcome filled in, once its
  /// transaction has committed or failed. Keep it short; it may use the store (the batch is
  /// over), never submit and wait for another write.
  using done_fn = std::function<void(job_write&)>;

  /// Queues `write`; `done` runs once it has its outcome. From any thread.
  void submit(job_write write, done_fn done);

  /// Waits until every write submitted so far has been run and told its outcome (no batch
  /// under way): then the batcher's thread holds nothing of anybody's.
  void drain();

  /// The counters now.
  job_batcher_stats stats() const;

private:
  struct waiting {
    job_write write;
    done_fn done;
  };

  void run();

  job_store& store_;
  const std::size_t max_batch_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<waiting> queue_; // requires mutex_
  bool stopping_ = false;      // requires mutex_
  bool in_batch_ = false;      // requires mutex_; a batch taken and not yet told its outcomes
  std::condition_variable drained_;
  job_batcher_stats stats_; // requires mutex_
  std::thread thread_;      // last: started once the rest is ready
};

} // namespace microlith::detail
