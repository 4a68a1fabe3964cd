#include "jobs/job_batcher.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/thread_name.hpp"

#include <exception>

#include <algorithm>
#include <iterator>
#include <utility>

namespace microlith::detail {

job_batcher::job_batcher(job_store& store, std::size_t max_batch)
  : store_(store), max_batch_(std::max<std::size_t>(1, max_batch)), thread_([this] {
      name_this_thread("ml.job_batcher");
      run();
    }) {}

job_batcher::~job_batcher() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void job_batcher::submit(job_write write, done_fn done) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    queue_.push_back(waiting{std::move(write), std::move(done)});
  }
  wake_.notify_one();
}

void job_batcher::drain() {
  std::unique_lock<std::mutex> lock{mutex_};
  drained_.wait(lock, [this] { return queue_.empty() && !in_batch_; });
}

job_batcher_stats job_batcher::stats() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return stats_;
}

void job_batcher::run() {
  std::vector<waiting> batch;
  std::vector<job_write> writes;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock{mutex_};
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return; // stopping, and every write has been run
      // The oldest first, at most max_batch_; the rest go in the next transaction.
      const auto n = std::min(queue_.size(), max_batch_);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
      in_batch_ = true;
    }
    writes.clear();
    for (auto& w : batch)
      writes.push_back(std::move(w.write));
    if (auto err = store_.write_batch(writes, job_clock_now()))
      log::error("jobs", "a batch of {} job writes was not committed: {}", writes.size(),
                 describe(err));
    {
      std::lock_guard<std::mutex> guard{mutex_};
      stats_.writes += writes.size();
      stats_.batches += 1;
      stats_.largest = std::max<std::uint64_t>(stats_.largest, writes.size());
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!batch[i].done)
        continue;
      try {
        batch[i].done(writes[i]);
      } catch (const std::exception& e) {
        log::error("jobs", "the outcome of a job write was not delivered: {}", e.what());
      }
    }
    batch.clear(); // what the outcomes' functions held goes here, on this thread
    {
      std::lock_guard<std::mutex> guard{mutex_};
      in_batch_ = false;
    }
    drained_.notify_all();
  }
}

} // namespace microlith::detail
