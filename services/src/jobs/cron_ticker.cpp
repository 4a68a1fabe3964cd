#include "jobs/cron_ticker.hpp"

#include "jobs/job_runtime.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/supervision/worker_info.hpp"

#include <caf/all.hpp>

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <deque>
#include <set>

namespace microlith::detail {

namespace {

using cron_tick_atom = caf::atom_constant<caf::atom("crontick")>;

// The longest sleep: a wall clock set forward or back is seen within it.
constexpr std::int64_t max_sleep_ms = 5 * 60 * 1000;
// The wait before trying again after the store refused a tick.
constexpr std::int64_t retry_ms = 1000;

// A time in milliseconds since the epoch as "2026-12-07 13:05:00" (UTC).
std::string utc_text(std::int64_t ms) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S}", fmt::gmtime(static_cast<std::time_t>(ms / 1000)));
}

class cron_ticker final : public caf::event_based_actor {
public:
  cron_ticker(caf::actor_config& cfg, std::shared_ptr<job_runtime> runtime,
              std::vector<cron_plan> plans)
    : caf::event_based_actor(cfg), runtime_(std::move(runtime)), plans_(std::move(plans)) {}

  const char* name() const override { return "cron-ticker"; }

  caf::behavior make_behavior() override {
    const auto now = job_clock_now();
    for (const auto& plan : plans_) {
      auto started = start_cron_schedule(runtime_->store(), plan, now);
      if (!started) {
        // Crash: the supervisor starts the ticker again, which starts the schedules again.
        log::error("jobs", "cron {}: did not start: {}", plan.config.name,
                   describe(started.error()));
        quit(started.error());
        return {};
      }
      cursors_.push_back(started->cursor);
      if (started->dropped > 0)
        log::warn("jobs",
                  "cron {}: {} missed tick(s) dropped, the oldest: catch-up is bounded by "
                  "max_catch_up = {}",
                  plan.config.name, started->dropped, plan.config.max_catch_up);
      if (started->enqueued > 0) {
        log::info("jobs", "cron {}: {} missed tick(s) enqueued", plan.config.name,
                  started->enqueued);
        runtime_->wake(plan.job.queue);
      }
      if (started->skipped > 0)
        log::info("jobs", "cron {}: {} missed tick(s) skipped (missed = \"skip\")",
                  plan.config.name, started->skipped);
      if (auto next = plan.schedule.next_after(started->cursor, plan.zone))
        log::info(
          "jobs", "cron {}: running, next tick at {} UTC{}", plan.config.name, utc_text(*next),
          plan.config.timezone == "UTC" ? std::string{} : ", schedule in " + plan.config.timezone);
      else
        log::warn("jobs", "cron {}: running, but its schedule has no tick in the future",
                  plan.config.name);
    }
    arm(false);
    return {
      [this](info_atom) { return worker_info(*this); },
      [this](cron_tick_atom, std::uint64_t generation) {
        if (generation == generation_)
          tick();
      },
    };
  }

private:
  // Enqueues every tick that is due (those found too late are missed ticks), then sleeps until
  // the next one.
  void tick() {
    const auto now = job_clock_now();
    bool failed = false;
    for (std::size_t i = 0; i < plans_.size(); ++i) {
      const auto& name = plans_[i].config.name;
      auto step = continue_cron_schedule(runtime_->store(), plans_[i], cursors_[i], now);
      if (!step) {
        log::warn("jobs", "cron {}: a tick was not enqueued, trying again: {}", name,
                  describe(step.error()));
        failed = true;
        continue;
      }
      cursors_[i] = step->cursor;
      if (step->skipped > 0)
        log::warn("jobs",
                  "cron {}: {} tick(s) found more than {} s late skipped (missed = \"skip\"): the "
                  "process was stopped or starved, or the clock was set forward",
                  name, step->skipped, cron_late_bound_ms / 1000);
      if (step->dropped > 0)
        log::warn("jobs",
                  "cron {}: {} missed tick(s) dropped, the oldest: catch-up is bounded by "
                  "max_catch_up = {}",
                  name, step->dropped, plans_[i].config.max_catch_up);
      if (step->enqueued > 0)
        runtime_->wake(plans_[i].job.queue);
    }
    arm(failed);
  }

  // Sleeps until the next tick of any schedule (at most max_sleep_ms; retry_ms after a failure).
  void arm(bool failed) {
    const auto now = job_clock_now();
    std::int64_t wait = failed ? retry_ms : max_sleep_ms;
    for (std::size_t i = 0; i < plans_.size(); ++i)
      if (auto next = plans_[i].schedule.next_after(cursors_[i], plans_[i].zone))
        wait = std::min(wait, std::max<std::int64_t>(0, *next - now));
    delayed_send(this, std::chrono::milliseconds{wait}, cron_tick_atom::value, ++generation_);
  }

  std::shared_ptr<job_runtime> runtime_;
  std::vector<cron_plan> plans_;
  std::vector<std::int64_t> cursors_; // by plan
  std::uint64_t generation_ = 0;
};

} // namespace

caf::expected<cron_plan> make_cron_plan(const job_cron_config& cron, const job_queue_config& queue,
                                        const google::protobuf::Descriptor* request_type) {
  auto refuse = [&cron](const std::string& why) {
    return make_error(errc::invalid_argument, fmt::format("jobs.cron.{}: {}", cron.name, why));
  };
  auto schedule = cron_schedule::parse(cron.schedule);
  if (!schedule)
    return refuse(message_of(schedule.error()));
  auto zone = time_zone::load(cron.timezone);
  if (!zone)
    return refuse(message_of(zone.error()));
  if (request_type == nullptr)
    return refuse(fmt::format("the request type of queue {:?}'s method {}.{} is not known to this "
                              "program",
                              queue.name, queue.service, queue.method));
  const auto* prototype =
    google::protobuf::MessageFactory::generated_factory()->GetPrototype(request_type);
  std::unique_ptr<google::protobuf::Message> message{prototype->New()};
  if (!cron.message.empty()) {
    auto status = google::protobuf::util::JsonStringToMessage(cron.message, message.get());
    if (!status.ok())
      return refuse(fmt::format("message {:?} is not a {} in Protobuf JSON: {}", cron.message,
                                request_type->full_name(), std::string{status.message()}));
  }
  cron_plan plan{cron, std::move(*schedule), std::move(*zone), new_job{}};
  plan.job.queue = queue.name;
  plan.job.message_type = request_type->full_name();
  plan.job.message = message->SerializeAsString();
  plan.job.priority = cron.priority;
  plan.job.max_attempts = cron.max_attempts > 0 ? cron.max_attempts : queue.max_attempts;
  return plan;
}

namespace {

// The ticks of `plan` in (from, missed_until] are missed: skipped, or the newest max_catch_up
// of them enqueued (the older ones dropped); then every tick up to `now` is enqueued.
caf::expected<cron_start> settle_ticks(job_store& store, const cron_plan& plan, std::int64_t from,
                                       std::int64_t missed_until, std::int64_t now) {
  cron_start out;
  std::deque<std::int64_t> missed; // the newest max_catch_up
  std::size_t count = 0;
  for (auto t = plan.schedule.next_after(from, plan.zone); t && *t <= missed_until;
       t = plan.schedule.next_after(*t, plan.zone)) {
    ++count;
    missed.push_back(*t);
    if (missed.size() > static_cast<std::size_t>(plan.config.max_catch_up))
      missed.pop_front();
  }
  std::int64_t cursor = from;
  if (count > 0 && !plan.config.catch_up) {
    out.skipped = count;
    cursor = missed_until;
  } else if (count > 0) {
    out.dropped = count - missed.size();
    cursor = missed.front() - 1;
  }
  std::size_t enqueued = 0;
  auto last = enqueue_due_ticks(store, plan, cursor, now, enqueued);
  if (!last)
    return std::move(last.error());
  out.cursor = std::max(*last, std::max(cursor, missed_until));
  out.enqueued = enqueued;
  return out;
}

} // namespace

caf::expected<cron_start> start_cron_schedule(job_store& store, const cron_plan& plan,
                                              std::int64_t now) {
  auto from = store.cron_seen(plan.config.name, plan.config.schedule, plan.config.timezone, now);
  if (!from)
    return std::move(from.error());
  // Every tick after `from` up to now is missed.
  return settle_ticks(store, plan, *from, now, now);
}

caf::expected<cron_start> continue_cron_schedule(job_store& store, const cron_plan& plan,
                                                 std::int64_t cursor, std::int64_t now) {
  return settle_ticks(store, plan, cursor, std::max(cursor, now - cron_late_bound_ms), now);
}

caf::expected<std::int64_t> enqueue_due_ticks(job_store& store, const cron_plan& plan,
                                              std::int64_t cursor, std::int64_t now,
                                              std::size_t& enqueued) {
  for (auto t = plan.schedule.next_after(cursor, plan.zone); t && *t <= now;
       t = plan.schedule.next_after(*t, plan.zone)) {
    auto done = store.enqueue_cron_tick(plan.config.name, *t, plan.job, now);
    if (!done)
      return std::move(done.error());
    if (!done->duplicate)
      ++enqueued;
    cursor = *t;
  }
  return cursor;
}

child_spec cron_ticker_child(std::shared_ptr<job_runtime> runtime, std::vector<cron_plan> plans) {
  return child("jobs/cron",
               [runtime = std::move(runtime), plans = std::move(plans)](caf::event_based_actor* sup)
                 -> caf::expected<caf::actor> { return sup->spawn<cron_ticker>(runtime, plans); });
}

} // namespace microlith::detail
