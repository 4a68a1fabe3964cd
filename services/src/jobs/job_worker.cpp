#include "jobs/job_worker.hpp"

#include "jobs/job_batcher.hpp"
#include "jobs/job_runtime.hpp"

#include "microlith/actors/async_caller.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/supervision/worker_info.hpp"

#include <caf/all.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <fmt/format.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <random>

namespace microlith::detail {

namespace {

using job_poll_atom = caf::atom_constant<caf::atom("jobpoll")>;
using job_done_atom = caf::atom_constant<caf::atom("jobdone")>;
using job_claimed_atom = caf::atom_constant<caf::atom("jobclaimed")>;

/// The job a worker has in hand, shared with its exit hook.
struct job_in_hand {
  std::optional<claimed_job> job;
};

/// Where the batcher leaves the jobs it claimed for a worker (their claim committed), until the
/// worker takes them. Once the worker has exited (`closed`) nobody will run them: whoever finds
/// them then, the exit hook or the batcher, gives them back at once (release_unstarted).
struct claimed_for_worker {
  std::mutex mutex;
  bool closed = false;           // requires mutex
  std::vector<claimed_job> jobs; // requires mutex
};

/// Gives back `jobs`, claimed for a worker that exited before it ran them: due again at once,
/// their attempt not spent, and an idle worker of the queue woken for each.
void release_unstarted(job_runtime& runtime, const std::vector<claimed_job>& jobs,
                       const std::string& worker) {
  std::size_t released = 0;
  for (const auto& job : jobs) {
    if (auto err = runtime.store().release(job.id, job.epoch, job_clock_now()))
      log::warn("jobs", "job {}: not given back after worker {} exited before running it: {}",
                job.id, worker, describe(err));
    else
      ++released;
  }
  if (released > 0)
    runtime.wake(jobs.front().queue, released);
}

// The job's message, rebuilt from the generated descriptor pool by its type name.
caf::expected<message_ptr> rebuild(const claimed_job& job) {
  const auto* desc =
    google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(job.message_type);
  if (desc == nullptr)
    return make_error(errc::bad_request,
                      fmt::format("job {}: message type {} is not known to this program", job.id,
                                  job.message_type));
  const auto* prototype = google::protobuf::MessageFactory::generated_factory()->GetPrototype(desc);
  std::unique_ptr<google::protobuf::Message> msg{prototype->New()};
  if (!msg->ParseFromString(job.message))
    return make_error(errc::bad_request, fmt::format("job {}: the stored bytes are not a {}",
                                                     job.id, job.message_type));
  return message_ptr{std::move(msg)};
}

// Whether a call failed because its handler crashed: the instance died with the call in flight
// (service_down), or its handler threw, which the kernel answers with remote_error
// "SERVICE.METHOD threw: ..." just before the instance dies (actors/src/endpoint_actor.cpp).
bool handler_crashed(const caf::error& err) {
  return is(err, errc::service_down)
         || (is(err, errc::remote_error) && message_of(err).find(" threw: ") != std::string::npos);
}

bool stopped_by_supervisor(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal || reason == caf::exit_reason::user_shutdown
         || reason == caf::exit_reason::kill;
}

class job_worker final : public caf::event_based_actor {
public:
  job_worker(caf::actor_config& cfg, std::shared_ptr<job_runtime> runtime,
             const job_queue_config* queue, std::string name)
    : caf::event_based_actor(cfg), runtime_(std::move(runtime)), queue_(queue),
      name_(std::move(name)), caller_(runtime_->host_node(), name_),
      random_(std::random_device{}()) {}

  const char* name() const override { return "job-worker"; }

  caf::behavior make_behavior() override {
    runtime_->add_worker(queue_->name, address());
    // Runs when the actor ends, whatever ended it: a crash rescues the job in hand at once.
    attach_functor([runtime = runtime_, queue = queue_->name, addr = address(), hand = hand_,
                    claimed = claimed_, name = name_](const caf::error& reason) {
      runtime->remove_worker(queue, addr);
      std::vector<claimed_job> unstarted;
      {
        std::lock_guard<std::mutex> guard{claimed->mutex};
        claimed->closed = true;
        unstarted.swap(claimed->jobs);
      }
      release_unstarted(*runtime, unstarted, name);
      if (!hand->job || stopped_by_supervisor(reason))
        return;
      const auto& job = *hand->job;
      auto why = fmt::format("worker {} crashed: {}", name, to_string(reason));
      auto done = runtime->store().rescue(job.id, job.epoch, why, job_clock_now());
      if (!done)
        log::warn("jobs", "job {} attempt {}: not rescued after its worker crashed: {}", job.id,
                  job.attempt, describe(done.error()));
    });
    send(this, job_wake_atom::value);
    return {
      [this](info_atom) { return worker_info(*this); },
      [this](job_wake_atom) {
        if (!hand_->job)
          claim();
      },
      [this](job_poll_atom, std::uint64_t generation) {
        if (!hand_->job && generation == generation_) {
          runtime_->worker_busy(queue_->name, address());
          claim();
        }
      },
      [this](job_claimed_atom) { claimed(); },
      [this](job_done_atom, std::int64_t id, std::int64_t epoch, caf::error& err) {
        if (!err && hand_->job && hand_->job->id == id && hand_->job->epoch == epoch) {
          complete_and_claim();
          return;
        }
        if (finish(id, epoch, err)) {
          // The crashed instance answers before it dies and leaves the registry: claiming at
          // once could hand the rescued job to it and spend an attempt on service_down.
          crashed_at_ = job_clock_now();
          idle(crashed_at_);
        } else {
          claim();
        }
      },
    };
  }

  void on_exit() override { caller_.close(); }

private:
  // Claims the next due job and runs it, or waits. While the queue's service has no instance
  // (not started yet, or restarting after a crash) it waits without claiming: a claim then
  // would spend an attempt on a call refused at once.
  void claim() {
    if (writing_) {
      claim_again_ = true; // after the write on its way
      return;
    }
    auto now = job_clock_now();
    if (!runtime_->host_node().registry().resolve(queue_->service)) {
      idle(now);
      return;
    }
    if (crashed_at_ != 0) {
      if (all_still_registered() && now - crashed_at_ < crash_wait_ms) {
        idle(now);
        return;
      }
      crashed_at_ = 0;
    }
    submit(0, 0, 0);
  }

  // Has the batcher complete attempt `epoch` of job `id` (unless id is 0) and claim the next
  // due job; claimed() runs when the transaction has committed.
  void submit(std::int64_t id, std::int64_t epoch, int attempt) {
    writing_ = true;
    claim_again_ = false;
    wakes_before_claim_ = runtime_->wakes(queue_->name);
    runtime_->batcher().submit(
      job_write::complete_and_claim_of(id, epoch, queue_->name, 1),
      [rt = runtime_.get(), claimed = claimed_, me = address(), name = name_,
       attempt](job_write& w) {
        if (w.refused)
          log::warn("jobs", "job {} attempt {}: completion refused: {}", w.id, attempt,
                    describe(w.refused));
        if (w.error) {
          if (w.id == 0) {
            log::error("jobs", "{}: claim failed: {}", name, describe(w.error));
          } else {
            log::error("jobs", "{}: job {} attempt {} not completed, nor the next job claimed: {}",
                       name, w.id, attempt, describe(w.error));
            // Nothing was written: the job is still executing under this attempt's epoch. Try
            // the completion alone, so that the answer is not lost with the claim.
            if (auto again = rt->store().complete(w.id, w.epoch, job_clock_now()))
              log::warn("jobs", "job {} attempt {}: completion refused: {}", w.id, attempt,
                        describe(again));
          }
        }
        {
          std::lock_guard<std::mutex> guard{claimed->mutex};
          if (!claimed->closed) {
            for (auto& job : w.claimed)
              claimed->jobs.push_back(std::move(job));
            w.claimed.clear();
          }
        }
        if (!w.claimed.empty()) { // the worker has exited
          release_unstarted(*rt, w.claimed, name);
          return;
        }
        if (auto worker = caf::actor_cast<caf::actor>(me))
          caf::anon_send(worker, job_claimed_atom::value);
      });
  }

  // The batcher has answered the last write: runs the job it claimed, or waits.
  void claimed() {
    writing_ = false;
    std::vector<claimed_job> jobs;
    {
      std::lock_guard<std::mutex> guard{claimed_->mutex};
      jobs.swap(claimed_->jobs);
    }
    if (jobs.empty()) {
      // Woken while the claim was on its way, or a wake came for a job committed after the
      // claim looked: claim again. Otherwise wait, where the next wake finds this worker.
      if (claim_again_ || !runtime_->worker_idle(queue_->name, address(), wakes_before_claim_))
        claim();
      else
        wait(job_clock_now());
      return;
    }
    // One at a time (claims ask for one); more are given back rather than left executing.
    if (jobs.size() > 1)
      release_unstarted(*runtime_, {jobs.begin() + 1, jobs.end()}, name_);
    run(std::move(jobs.front()));
  }

  // The job in hand answered: completes it and claims the next due job in one transaction
  // (job_store::complete_and_claim), and runs that one, or waits.
  void complete_and_claim() {
    auto now = job_clock_now();
    if (!runtime_->host_node().registry().resolve(queue_->service)) {
      // No instance to call the next job with: complete alone, claim when there is one.
      finish(hand_->job->id, hand_->job->epoch, caf::error{});
      idle(now);
      return;
    }
    auto job = std::move(*hand_->job);
    hand_->job.reset();
    submit(job.id, job.epoch, job.attempt);
  }

  // Waits for a wake, the poll interval, or the queue's next scheduled job, whichever is first.
  void idle(std::int64_t now) {
    runtime_->worker_idle(queue_->name, address());
    wait(now);
  }

  // idle(), once this worker is among the idle ones wake() finds.
  void wait(std::int64_t now) {
    ++generation_;
    auto wait = runtime_->poll_interval();
    if (auto next = runtime_->store().next_run_at(queue_->name); next && *next) {
      auto until = std::chrono::milliseconds{**next - now};
      wait = std::max(std::chrono::milliseconds{10}, std::min(wait, until));
    }
    delayed_send(this, wait, job_poll_atom::value, generation_);
  }

  // Whether every instance the last job's call could have reached is still in the registry:
  // after a crash, the one that crashed has not left it yet.
  bool all_still_registered() const {
    auto snapshot = runtime_->host_node().registry().snapshot();
    const auto& now = snapshot->instances(queue_->service);
    return std::all_of(at_run_.begin(), at_run_.end(), [&](const caf::actor_addr& a) {
      return std::any_of(now.begin(), now.end(),
                         [&](const caf::actor& i) { return i.address() == a; });
    });
  }

  void run(claimed_job job) {
    at_run_.clear();
    for (const auto& i : runtime_->host_node().registry().snapshot()->instances(queue_->service))
      at_run_.push_back(i.address());
    auto body = rebuild(job);
    auto id = job.id;
    auto epoch = job.epoch;
    auto attempt = job.attempt;
    auto timeout = job.timeout_ms > 0 ? std::chrono::milliseconds{job.timeout_ms} : queue_->timeout;
    hand_->job = std::move(job);
    if (!body) {
      finish(id, epoch, body.error());
      send(this, job_wake_atom::value);
      return;
    }
    async_call_options options;
    options.timeout = timeout;
    options.correlation_id = fmt::format("job-{}-{}", id, attempt);
    options.job_id = id;
    options.job_attempt = attempt;
    caller_.call(queue_->service, queue_->method, std::move(*body), std::move(options),
                 [self = address(), id, epoch](caf::expected<message_ptr> reply) {
                   auto me = caf::actor_cast<caf::actor>(self);
                   if (!me)
                     return;
                   caf::anon_send(me, job_done_atom::value, id, epoch,
                                  reply ? caf::error{} : std::move(reply.error()));
                 });
  }

  // Answers the store for the attempt `epoch` of job `id`; true when its handler crashed.
  bool finish(std::int64_t id, std::int64_t epoch, const caf::error& err) {
    if (!hand_->job || hand_->job->id != id || hand_->job->epoch != epoch)
      return false;
    auto job = std::move(*hand_->job);
    hand_->job.reset();
    auto now = job_clock_now();
    if (!err) {
      if (auto refused = runtime_->store().complete(id, epoch, now))
        log::warn("jobs", "job {} attempt {}: completion refused: {}", id, job.attempt,
                  describe(refused));
      return false;
    }
    auto message = describe(err);
    caf::expected<job_state> after = job_state::retryable;
    bool crashed = handler_crashed(err);
    if (crashed) {
      after = runtime_->store().rescue(id, epoch, message, now);
    } else {
      std::uniform_real_distribution<double> uniform{0.0, 1.0};
      auto delay = backoff_delay(queue_->backoff, job.attempt, uniform(random_));
      after = runtime_->store().fail(id, epoch, message, now + delay.count(), now);
    }
    if (!after)
      log::warn("jobs", "job {} attempt {}: failure not recorded: {}", id, job.attempt,
                describe(after.error()));
    else if (*after == job_state::discarded)
      log::warn("jobs", "job {} discarded after attempt {} of {}: {}", id, job.attempt,
                job.max_attempts, message);
    else
      log::info("jobs", "job {} attempt {} failed ({}): {}", id, job.attempt, to_string(*after),
                message);
    return crashed;
  }

  std::shared_ptr<job_runtime> runtime_;
  const job_queue_config* queue_;
  std::string name_;
  async_caller caller_;
  std::shared_ptr<job_in_hand> hand_ = std::make_shared<job_in_hand>();
  std::shared_ptr<claimed_for_worker> claimed_ = std::make_shared<claimed_for_worker>();
  // A write (a claim, or a completion and a claim) is with the batcher; a wake or poll then
  // sets claim_again_, for one more claim if that write claims nothing.
  bool writing_ = false;
  bool claim_again_ = false;
  std::uint64_t wakes_before_claim_ = 0; // job_runtime::wakes() when the last claim was sent
  std::uint64_t generation_ = 0;
  std::mt19937_64 random_;
  // The instances of the queue's service when the job in hand was called, and when its handler
  // last crashed (0: not waiting for a crashed instance to leave the registry).
  std::vector<caf::actor_addr> at_run_;
  std::int64_t crashed_at_ = 0;
  // How long a worker waits for a crashed instance to leave the registry before it claims anyway.
  static constexpr std::int64_t crash_wait_ms = 5000;
};

} // namespace

child_spec job_worker_child(std::shared_ptr<job_runtime> runtime, const job_queue_config& queue,
                            int index) {
  auto name = fmt::format("jobs/{}/{}", queue.name, index);
  const auto* q = &queue;
  return child(name,
               [runtime = std::move(runtime), q, name](caf::event_based_actor* sup)
                 -> caf::expected<caf::actor> { return sup->spawn<job_worker>(runtime, q, name); });
}

} // namespace microlith::detail
