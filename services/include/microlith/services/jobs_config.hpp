// What the system file says of background jobs (docs/jobs.md): the system-wide [jobs] table
// (where the store is and how it syncs) and the queues a group declares in its
// [groups.NAME.jobs.QUEUE] tables, with the backoff between a queue's attempts.
//
// The backoff before the attempt after attempt n (n >= 1) failed:
//   delay(n) = min(base + unit * 2^n, max) * (1 + j),  j uniform in [-jitter, +jitter]
// With the defaults (base 15 s, unit 1 s, max 24 h, jitter 0.1) this is Oban's 15 s + 2^n s,
// spread by up to 10 % either way so that jobs failing together do not retry together.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace microlith {

/// The backoff of a queue's retries (the formula above).
struct job_backoff {
  std::chrono::milliseconds base{15000};
  std::chrono::milliseconds unit{1000};
  std::chrono::milliseconds max{24 * 60 * 60 * 1000};
  double jitter = 0.1; ///< 0 .. 1
};

/// The delay before the attempt after attempt `attempt` failed; `random` is uniform in [0, 1)
/// and picks j (0.5 = no jitter).
std::chrono::milliseconds backoff_delay(const job_backoff& backoff, int attempt, double random);

/// One [groups.NAME.jobs.QUEUE] table: a queue whose jobs the group's node runs.
struct job_queue_config {
  std::string name;    ///< QUEUE; unique in the system
  std::string service; ///< from `method = "SERVICE.METHOD"`, split at its last dot
  std::string method;
  int concurrency = 10;  ///< jobs of this queue running at once on a node (1 .. 1000)
  int max_attempts = 20; ///< the default of a job enqueued without its own (1 .. 1000)
  std::chrono::milliseconds timeout{30000}; ///< an attempt's deadline when the job sets none
  job_backoff backoff;
  int line = 0; ///< line of the queue's table
};

/// One [jobs.cron.NAME] table: a schedule that enqueues a job on a queue at each of its ticks
/// (docs/jobs.md, "Cron").
struct job_cron_config {
  std::string name;             ///< NAME; the schedule's key in the store
  std::string schedule;         ///< 5 fields or @hourly-style name (checked when read)
  std::string queue;            ///< a declared queue
  std::string message;          ///< the job's message as Protobuf JSON; empty = the empty message
  std::string timezone = "UTC"; ///< an IANA name (checked when read)
  bool catch_up = false;        ///< missed = "catch_up" (true) or "skip" (default)
  int max_catch_up = 100;       ///< with catch_up: at most this many missed ticks, the newest
  int priority = 0;             ///< 0 .. 9
  int max_attempts = 0;         ///< 0 = the queue's
  int line = 0;                 ///< line of the schedule's table
  int message_line = 0;         ///< line of its message (0 = none)
};

/// The optional [jobs] table.
struct jobs_config {
  /// The SQLite file (resolved against the data folder when relative), or a PostgreSQL URL
  /// (postgresql:// or postgres://, kept as written); empty = no job store.
  std::string database;
  bool synchronous_full = true; ///< synchronous = "full" (default) or "normal"; SQLite only
  std::chrono::milliseconds poll_interval{1000}; ///< how often idle workers look for due jobs
  std::vector<job_cron_config> cron;             ///< its [jobs.cron.NAME] tables, in file order
  int line = 0;                                  ///< line of the [jobs] header; 0 = absent
};

} // namespace microlith
