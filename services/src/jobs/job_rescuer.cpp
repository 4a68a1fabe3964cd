#include "jobs/job_rescuer.hpp"

#include "jobs/job_runtime.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/supervision/worker_info.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <optional>

#include <time.h>

namespace microlith::detail {

namespace {

using job_sweep_atom = caf::atom_constant<caf::atom("jobsweep")>;
using job_confirm_atom = caf::atom_constant<caf::atom("jobconfirm")>;
using job_tick_atom = caf::atom_constant<caf::atom("jobtick")>;

/// CLOCK_BOOTTIME: steady as std::chrono::steady_clock, but it also counts the time the
/// machine was suspended, which a freeze of this node includes.
struct boot_clock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<boot_clock>;
  static constexpr bool is_steady = true;
  static time_point now() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_BOOTTIME, &ts);
    return time_point{duration{static_cast<rep>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec}};
  }
};

using steady = boot_clock;

/// The rescuer's own tick, whose gaps tell it that this node was frozen.
constexpr auto tick = std::chrono::milliseconds(100);

class job_rescuer final : public caf::event_based_actor {
public:
  job_rescuer(caf::actor_config& cfg, std::shared_ptr<job_runtime> runtime,
              std::function<std::vector<job_holder>()> members, job_rescue_bounds bounds)
    : caf::event_based_actor(cfg), runtime_(std::move(runtime)), members_(std::move(members)),
      bounds_(bounds) {}

  const char* name() const override { return "job-rescuer"; }

  caf::behavior make_behavior() override {
    runtime_->set_rescuer(address());
    attach_functor(
      [runtime = runtime_, addr = address()](const caf::error&) { runtime->clear_rescuer(addr); });
    delayed_send(this, bounds_.unjoined, job_sweep_atom::value);
    last_tick_ = steady::now();
    delayed_send(this, tick, job_tick_atom::value);
    return {
      [this](info_atom) { return worker_info(*this); },
      [this](job_lost_atom, const std::string& node, const std::string& instance,
             std::int64_t seen_at, const std::string& why) {
        pending_.push_back(job_holder{node, instance});
        delayed_send(this, bounds_.rejoin, job_confirm_atom::value, node, instance, seen_at, why);
      },
      [this](job_confirm_atom, const std::string& node, const std::string& instance,
             std::int64_t seen_at, const std::string& why) {
        job_holder lost{node, instance};
        if (auto wait = settling()) {
          // This node was frozen a moment ago: its own reconnections are still under way.
          delayed_send(this, *wait, job_confirm_atom::value, node, instance, seen_at, why);
          return;
        }
        if (auto i = std::find(pending_.begin(), pending_.end(), lost); i != pending_.end())
          pending_.erase(i);
        if (joined(lost)) {
          log::info("jobs", "node {} ({}) is back: the jobs it holds stay with it", node, instance);
          return;
        }
        rescue(lost, seen_at,
               fmt::format("node {} is down: {}", node.empty() ? "(unnamed)" : node, why));
      },
      [this](job_sweep_atom) {
        if (!settling())
          sweep();
        delayed_send(this, bounds_.unjoined, job_sweep_atom::value);
      },
      [this](job_tick_atom) {
        settling();
        delayed_send(this, tick, job_tick_atom::value);
      },
    };
  }

private:
  // Notices a freeze of this node (a gap in the tick) and answers how long the rescuer still
  // waits after one: until a whole reconnect cycle (`unjoined`) has passed since it resumed.
  std::optional<steady::duration> settling() {
    const auto now = steady::now();
    const auto gap = now - last_tick_;
    last_tick_ = now;
    if (gap > tick + bounds_.frozen) {
      resumed_at_ = now;
      log::warn("jobs",
                "this node was frozen for {} ms (a paused process or a stalled machine): the jobs "
                "of nodes seen lost are rescued only if they have not rejoined {} ms from now",
                std::chrono::duration_cast<std::chrono::milliseconds>(gap).count(),
                bounds_.unjoined.count());
    }
    if (!resumed_at_)
      return std::nullopt;
    const auto until = *resumed_at_ + bounds_.unjoined;
    if (now >= until)
      return std::nullopt;
    return until - now;
  }

  bool joined(const job_holder& h) const {
    auto live = members_ ? members_() : std::vector<job_holder>{};
    return std::find(live.begin(), live.end(), h) != live.end();
  }

  // Rescues the attempts of `lost` claimed up to `claimed_until`; logs and wakes the workers
  // when there were any.
  void rescue(const job_holder& lost, std::int64_t claimed_until, const std::string& reason) {
    auto now = job_clock_now();
    auto done = runtime_->store().rescue_holder(lost, claimed_until, reason, now);
    if (!done) {
      log::error("jobs", "the jobs of node {} ({}) were not rescued: {}", lost.node, lost.instance,
                 describe(done.error()));
      return;
    }
    if (*done == 0)
      return;
    log::warn("jobs", "jobs: {} job(s) held by node {} ({}) are due again: {}", *done, lost.node,
              lost.instance, reason);
    for (const auto& queue : runtime_->queue_names())
      runtime_->wake(queue);
  }

  // A sweep, one `unjoined` bound after the start and then every `unjoined` bound: rescues the
  // holders that are neither this process nor a joined node's. The first one rescues each such
  // holder at once (a node that never came back, rows from before holders); a later one only a
  // holder it also found not joined the sweep before (not joined for a whole bound: a node
  // whose loss was handled but that claimed again before it died, and not a node that started
  // a moment ago and has not joined yet).
  void sweep() {
    auto holders = runtime_->store().executing_holders();
    if (!holders) {
      log::error("jobs", "the holders of executing jobs could not be read: {}",
                 describe(holders.error()));
      return;
    }
    auto live = members_ ? members_() : std::vector<job_holder>{};
    live.push_back(runtime_->store().holder());
    const auto& me = runtime_->store().holder().node;
    const bool first = !swept_;
    swept_ = true;
    std::vector<job_holder> unjoined;
    for (const auto& h : *holders) {
      // A holder lost a moment ago is the confirmation's to rescue (or to leave, when it is
      // back), with the loss as the reason.
      if (std::find(live.begin(), live.end(), h) != live.end()
          || std::find(pending_.begin(), pending_.end(), h) != pending_.end())
        continue;
      if (!first && std::find(unjoined_.begin(), unjoined_.end(), h) == unjoined_.end()) {
        unjoined.push_back(h); // rescued at the next sweep if it is still not joined then
        continue;
      }
      rescue(h, job_clock_now(),
             first ? fmt::format("node {} ({}) was not joined {} ms after node {} started",
                                 h.node.empty() ? "(unnamed)" : h.node, h.instance,
                                 bounds_.unjoined.count(), me)
                   : fmt::format("node {} ({}) holds executing jobs and was not joined for {} ms",
                                 h.node.empty() ? "(unnamed)" : h.node, h.instance,
                                 bounds_.unjoined.count()));
    }
    unjoined_ = std::move(unjoined);
  }

  std::shared_ptr<job_runtime> runtime_;
  std::function<std::vector<job_holder>()> members_;
  job_rescue_bounds bounds_;
  std::vector<job_holder> pending_;              // lost, waiting for the rejoin bound
  bool swept_ = false;                           // the start's sweep is done
  steady::time_point last_tick_;                 // when settling() last looked
  std::optional<steady::time_point> resumed_at_; // when this node last resumed from a freeze
  std::vector<job_holder> unjoined_;             // not joined at the last sweep, not rescued yet
};

} // namespace

child_spec job_rescuer_child(std::shared_ptr<job_runtime> runtime,
                             std::function<std::vector<job_holder>()> members,
                             job_rescue_bounds bounds) {
  return child("jobs/rescuer",
               [runtime = std::move(runtime), members = std::move(members),
                bounds](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
                 return sup->spawn<job_rescuer>(runtime, members, bounds);
               });
}

} // namespace microlith::detail
