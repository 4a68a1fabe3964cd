#include "jobs/jobs_service.hpp"

#include "jobs/job_runtime.hpp"
#include "jobs/new_job_check.hpp"
#include "microlith/actors/detail/outside_calls.hpp"
#include "microlith/actors/service.hpp"
#include "proto/microlith_jobs.pb.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <string>

namespace microlith::detail {

namespace {

namespace pb = microlith::jobs::v1;

// How long an enqueue that came with no deadline waits for its commit before it answers
// timeout (the job may still be committed after: its unique key makes a retry safe).
constexpr auto unbounded_enqueue = std::chrono::seconds(60);

void fill(pb::Job& out, const job_record& job) {
  out.set_id(job.id);
  out.set_queue(job.queue);
  out.set_message_type(job.message_type);
  out.set_state(to_string(job.state));
  out.set_attempt(job.attempt);
  out.set_max_attempts(job.max_attempts);
  out.set_priority(job.priority);
  out.set_run_at_ms(job.run_at);
  out.set_inserted_at_ms(job.inserted_at);
  out.set_attempted_at_ms(job.attempted_at);
  out.set_finished_at_ms(job.finished_at);
  out.set_unique_key(job.unique_key);
  for (const auto& e : job.errors) {
    auto* err = out.add_errors();
    err->set_attempt(e.attempt);
    err->set_at_ms(e.at);
    err->set_message(e.message);
  }
}

class jobs_state {
public:
  explicit jobs_state(std::shared_ptr<job_runtime> runtime) : rt_(std::move(runtime)) {}

  reply<pb::EnqueueReply> enqueue(call_context& ctx, const pb::EnqueueRequest& req) {
    const auto* queue = rt_->queue(req.queue());
    if (queue == nullptr)
      return make_error(errc::not_found,
                        fmt::format("no job queue \"{}\" in the system file (queues: {})",
                                    req.queue(), fmt::join(rt_->queue_names(), ", ")));
    auto now = job_clock_now();
    new_job job;
    job.queue = req.queue();
    job.message_type = req.message_type();
    job.message = req.message();
    job.run_at =
      req.run_at_ms() > 0 ? req.run_at_ms() : now + std::max<std::int64_t>(0, req.delay_ms());
    job.priority = req.priority();
    job.max_attempts = req.max_attempts() > 0 ? req.max_attempts() : queue->max_attempts;
    job.timeout_ms = req.timeout_ms();
    job.unique_key = req.unique_key();
    job.unique_period_ms = req.unique_period_ms();
    if (job.priority < 0 || job.priority > 9)
      return make_error(errc::invalid_argument,
                        fmt::format("job priority {}: expected 0 .. 9", job.priority));
    if (auto err = check_new_job(job))
      return err;
    // Committed by the batcher with the other writes waiting (group commit); the caller is
    // answered once the transaction carrying its job has committed.
    auto* self = endpoint_of(ctx.self());
    if (self == nullptr)
      return make_error(errc::internal, "jobs.Enqueue ran outside a service instance");
    auto promise = ctx.make_promise<pb::EnqueueReply>();
    auto deadline = ctx.meta().deadline;
    if (deadline == clock::time_point{})
      deadline = clock::now() + unbounded_enqueue;
    auto outcome = std::make_shared<enqueued_job>();
    auto id = expect_outside(self, "jobs", "Enqueue " + job.queue, deadline);
    set_continuation(self, id,
                     [promise, outcome](const message_ptr&, const caf::error& err) mutable {
                       if (err) {
                         promise.deliver(err);
                         return;
                       }
                       pb::EnqueueReply out;
                       out.set_id(outcome->id);
                       out.set_duplicate(outcome->duplicate);
                       promise.deliver(std::move(out));
                     });
    const bool due = job.run_at <= now;
    rt_->batcher().submit(
      job_write::enqueue_of(std::move(job)),
      [rt = rt_.get(), outcome, id, actor = ctx.self()->address(), due](job_write& w) {
        if (!w.error) {
          *outcome = w.enqueued;
          if (!w.enqueued.duplicate && due)
            rt->wake(w.job.queue, 1);
        }
        end_outside(actor, id, std::move(w.error));
      });
    return promise;
  }

  reply<pb::JobStats> stats(call_context&, const pb::StatsRequest&) {
    auto counts = rt_->store().stats();
    if (!counts)
      return std::move(counts.error());
    pb::JobStats out;
    for (const auto& name : rt_->queue_names()) // every declared queue, with jobs or not
      counts->try_emplace(name);
    for (const auto& [queue, states] : *counts) {
      auto* q = out.add_queues();
      q->set_queue(queue);
      for (const auto& [state, n] : states)
        (*q->mutable_states())[to_string(state)] = n;
    }
    return out;
  }

  reply<pb::JobList> list(call_context&, const pb::ListRequest& req) {
    job_filter filter;
    filter.queue = req.queue();
    if (!req.state().empty()) {
      filter.state = job_state_named(req.state());
      if (!filter.state)
        return make_error(errc::invalid_argument,
                          fmt::format("job state \"{}\": expected one of available, scheduled, "
                                      "executing, retryable, completed, discarded, cancelled",
                                      req.state()));
    }
    if (req.limit() > 0)
      filter.limit = req.limit();
    auto jobs = rt_->store().list(filter);
    if (!jobs)
      return std::move(jobs.error());
    pb::JobList out;
    for (const auto& job : *jobs)
      fill(*out.add_jobs(), job);
    return out;
  }

  reply<pb::Job> retry(call_context&, const pb::JobRequest& req) {
    if (auto err = rt_->store().retry(req.id(), job_clock_now()))
      return err;
    auto job = found(req.id());
    if (job)
      rt_->wake(job->queue(), 1);
    return answer(std::move(job));
  }

  reply<pb::Job> cancel(call_context&, const pb::JobRequest& req) {
    if (auto err = rt_->store().cancel(req.id(), job_clock_now()))
      return err;
    return answer(found(req.id()));
  }

  reply<pb::WakeReply> wake(call_context&, const pb::WakeRequest& req) {
    if (rt_->queue(req.queue()) == nullptr)
      return make_error(errc::not_found,
                        fmt::format("no job queue \"{}\" in the system file (queues: {})",
                                    req.queue(), fmt::join(rt_->queue_names(), ", ")));
    rt_->wake(req.queue());
    return pb::WakeReply{};
  }

private:
  caf::expected<pb::Job> found(std::int64_t id) {
    auto job = rt_->store().find(id);
    if (!job)
      return std::move(job.error());
    if (!*job)
      return make_error(errc::not_found, fmt::format("no job {}", id));
    pb::Job out;
    fill(out, **job);
    return out;
  }

  static reply<pb::Job> answer(caf::expected<pb::Job> job) {
    if (!job)
      return std::move(job.error());
    return std::move(*job);
  }

  std::shared_ptr<job_runtime> rt_;
};

} // namespace

service_definition jobs_service(std::shared_ptr<job_runtime> runtime) {
  return service<jobs_state>("jobs", "microlith.jobs.v1.Jobs", std::move(runtime))
    .handle("Enqueue", &jobs_state::enqueue)
    .handle("Stats", &jobs_state::stats)
    .handle("List", &jobs_state::list)
    .handle("Retry", &jobs_state::retry)
    .handle("Cancel", &jobs_state::cancel)
    .handle("Wake", &jobs_state::wake);
}

} // namespace microlith::detail
