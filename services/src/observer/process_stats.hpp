// What a node reports of its own process (observer's NodeReport): resident memory, CPU time,
// start time, and how busy the CAF scheduler's worker threads are. Read from Linux's /proc;
// every reader answers 0 where /proc cannot be read rather than failing, since a report with
// one unknown figure is still worth sending.
//
// CAF 0.17.6 names its scheduler workers "caf.multiplexer" (caf/scheduler/worker.hpp calls
// set_thread_name("caf.multiplexer")) — the same name its middleman gives its I/O thread, the
// one thread of that name that is not a worker. The workers are therefore the threads of
// /proc/self/task named so, less the middleman's, whose thread id the middleman itself is asked
// for (scheduler_sampler does so once). With one actor system in the process (a node) these
// are exactly its scheduler's workers; with several, every system's workers are counted. A
// worker names itself as it starts: right after an actor system is made, some may not be
// counted yet.
#pragma once

#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>

namespace microlith::observer {

/// The resident set of this process in bytes (/proc/self/statm's resident pages × the page
/// size); 0 when unreadable.
std::int64_t resident_bytes();

/// The CPU time this process has used, user + system, all threads, in seconds (/proc/self/stat);
/// 0 when unreadable.
double process_cpu_seconds();

/// When this process started, in seconds since the Unix epoch: /proc/self/stat's starttime
/// (clock ticks after boot) plus the boot time (/proc/stat's btime), so the answer is the same
/// whenever it is asked; 0 when unreadable. Precise to a clock tick (10 ms) and, as btime is in
/// whole seconds, to a second.
double process_start_unix_seconds();

/// The scheduler's worker threads at one moment and the CPU time they have used.
struct worker_threads {
  std::uint32_t threads = 0;
  double cpu_seconds = 0; ///< user + system, summed over the threads
};

/// The threads of this process named as CAF 0.17.6 names its scheduler workers, but for
/// `excluded_tid` (the middleman's I/O thread, see middleman_thread_id; 0 = none).
worker_threads scheduler_worker_threads(long excluded_tid = 0);

/// The kernel thread id of `sys`'s middleman I/O thread, asked of the middleman (which runs the
/// question on that thread); 0 when `sys` has no middleman or it does not answer within
/// `timeout`.
long middleman_thread_id(caf::actor_system& sys,
                         std::chrono::milliseconds timeout = std::chrono::seconds(1));

/// Samples the scheduler's workers and answers how busy they were between its last two
/// samples. Not thread-safe: one owner (the observer) calls it.
class scheduler_sampler {
public:
  /// Samples the workers of `sys` (which must outlive the sampler); takes a first sample now.
  explicit scheduler_sampler(caf::actor_system& sys);

  /// Takes a sample now: the workers' CPU time and the steady clock.
  void sample();

  /// The workers' utilisation between the last two samples: their CPU time over (threads ×
  /// wall time), clamped to 0..1; 0 until there are two samples with time between them.
  double utilisation() const noexcept;

  /// The number of worker threads at the last sample.
  std::uint32_t threads() const noexcept;

  /// The workers' CPU time at the last sample, in seconds.
  double cpu_seconds() const noexcept;

private:
  struct reading {
    std::chrono::steady_clock::time_point at;
    worker_threads workers;
  };

  long middleman_tid_ = 0;
  reading previous_{};
  reading last_{};
  int samples_ = 0;
};

} // namespace microlith::observer
