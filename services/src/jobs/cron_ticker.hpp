// The cron ticker (docs/jobs.md, "Cron"): a supervised actor that enqueues a job at each tick
// of the system file's [jobs.cron.NAME] schedules. Each tick is a row of the store's cron_ticks
// written in the job's transaction (job_store::enqueue_cron_tick), so a tick is enqueued once
// whichever ticker gets there first: several nodes, or a process restarted, never enqueue a tick
// twice, and none is lost while one ticker runs.
//
// At start, per schedule: the store answers the instant its missed ticks count from (its last
// recorded tick, or when it was first seen with this expression and zone); the ticks after it up
// to now are skipped (missed = "skip") or enqueued (missed = "catch_up", the newest
// max_catch_up of them, the older ones dropped with a warning). Then it sleeps (a delayed
// message, at most 5 minutes, so a wall clock set forward or back is seen) until the next tick
// of any schedule, and enqueues every tick that is due. A tick found more than
// cron_late_bound_ms late when the ticker wakes (the process was stopped or starved, the machine
// suspended, the clock set forward) is a missed tick too, skipped or caught up as at start.
#pragma once

#include "jobs/cron_schedule.hpp"
#include "jobs/time_zone.hpp"

#include "microlith/services/job_store.hpp"
#include "microlith/services/jobs_config.hpp"
#include "microlith/supervision/child_spec.hpp"

#include <caf/expected.hpp>

#include <google/protobuf/descriptor.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace microlith::detail {

class job_runtime;

/// A schedule ready to tick: its settings, expression, zone and the job of each tick.
struct cron_plan {
  job_cron_config config;
  cron_schedule schedule;
  time_zone zone;
  new_job job; ///< queue, message type and bytes, priority, max_attempts
};

/// The plan of schedule `cron` on `queue`, whose method takes `request_type`: an error naming
/// the schedule when its message is not that type's Protobuf JSON (or its expression or zone
/// does not read).
caf::expected<cron_plan> make_cron_plan(const job_cron_config& cron, const job_queue_config& queue,
                                        const google::protobuf::Descriptor* request_type);

/// What the start of a schedule did with its missed ticks.
struct cron_start {
  std::int64_t cursor = 0;  ///< the ticks after this instant (ms) are still to enqueue
  std::size_t enqueued = 0; ///< missed ticks enqueued (catch_up)
  std::size_t skipped = 0;  ///< missed ticks not enqueued (skip)
  std::size_t dropped = 0;  ///< missed ticks beyond max_catch_up, the oldest (catch_up)
};

/// Starts schedule `plan` at `now` (ms): records it as seen and skips or catches up its missed
/// ticks (above).
caf::expected<cron_start> start_cron_schedule(job_store& store, const cron_plan& plan,
                                              std::int64_t now);

/// How late a tick may be found by the running ticker and still count as on time (ms): the
/// ticker's longest sleep, so that only a stall or a clock jump makes missed ticks.
inline constexpr std::int64_t cron_late_bound_ms = 5 * 60'000;

/// The running ticker's step for `plan`, whose ticks up to `cursor` are done, at `now` (ms): the
/// ticks in (cursor, now - cron_late_bound_ms] are missed (skipped, or the newest max_catch_up
/// enqueued), the later ones up to now enqueued. The counts and the new cursor are answered.
caf::expected<cron_start> continue_cron_schedule(job_store& store, const cron_plan& plan,
                                                 std::int64_t cursor, std::int64_t now);

/// Enqueues the ticks of `plan` after `cursor` up to `now` (ms); answers the new cursor (the
/// last tick enqueued, or `cursor`) and adds the ticks that made a job to `enqueued`. A tick
/// recorded already (by another node) is passed over. On an error, the ticks before it are
/// enqueued and the error answered.
caf::expected<std::int64_t> enqueue_due_ticks(job_store& store, const cron_plan& plan,
                                              std::int64_t cursor, std::int64_t now,
                                              std::size_t& enqueued);

/// The child spec of the ticker of `plans`.
child_spec cron_ticker_child(std::shared_ptr<job_runtime> runtime, std::vector<cron_plan> plans);

} // namespace microlith::detail
