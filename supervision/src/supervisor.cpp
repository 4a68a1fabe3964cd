// The static supervisor actor. Work that takes time (starting a child that must signal ready,
// stopping a child within its shutdown time) runs as a plan of steps, one step at a time. Child
// exits, run-time requests that change children (start_child, restart_child, terminate_child,
// delete_child) and a stop request that arrive while a plan runs are handled once it finishes,
// in arrival order, so decisions are made one after the other, as in OTP's supervisor.
#include "microlith/supervision/supervisor.hpp"

#include "detail/restart_rules.hpp"
#include "detail/supervisor_core.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/supervision/atoms.hpp"
#include "microlith/supervision/child_error.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>

#include <deque>
#include <functional>
#include <map>
#include <optional>

namespace microlith {

namespace {

using clock = std::chrono::steady_clock;
using detail::child_status;
using detail::reason_text;

class supervisor_actor final : public detail::supervisor_core {
public:
  supervisor_actor(caf::actor_config& cfg, supervisor_spec spec, caf::actor ready_to)
    : supervisor_core(cfg, spec.name(), spec.flags()), invalid_(spec.validate()),
      ready_to_(std::move(ready_to)) {
    children_.reserve(spec.children().size());
    for (const auto& x : spec.children())
      children_.emplace_back(x, next_key_++);
  }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    set_exit_handler([this](caf::exit_msg& msg) { on_exit_signal(msg); });
    if (invalid_) {
      refuse_to_run(invalid_);
      return {};
    }
    phase_ = phase::starting;
    for (std::size_t i = 0; i < children_.size(); ++i)
      plan_.push_back(step{step::start, i});
    run_plan();
    return {
      [this](ready_atom) { on_ready(); },
      [this](detail::retry_restart_atom, std::uint64_t key) { on_retry(key); },
      [this](detail::kill_timer_atom, std::uint64_t key, std::uint64_t generation) {
        on_kill_timer(key, generation);
      },
      [this](detail::backoff_atom, std::uint64_t token) { on_backoff_done(token); },
      [this](snapshot_atom) { return take_snapshot(); },
      [this](which_children_atom) { return which_children(); },
      [this](count_children_atom) { return count_children(); },
      [this](start_child_atom, child_spec& spec) -> caf::result<caf::actor> {
        return when_running([this, spec](caf::response_promise rp) mutable {
          start_new_child(std::move(spec), std::move(rp));
        });
      },
      [this](restart_child_atom, std::string& id) -> caf::result<caf::actor> {
        return when_running(
          [this, id](caf::response_promise rp) { restart_stopped_child(id, std::move(rp)); });
      },
      [this](terminate_child_atom, std::string& id) -> caf::result<void> {
        return when_running(
          [this, id](caf::response_promise rp) { terminate_child(id, std::move(rp)); });
      },
      [this](delete_child_atom, std::string& id) -> caf::result<void> {
        return when_running(
          [this, id](caf::response_promise rp) { delete_child(id, std::move(rp)); });
      },
      // The dynamic supervisor's forms (by args, by handle).
      [](start_child_atom, caf::message&) -> caf::result<caf::actor> {
        return make_error(child_errc::not_applicable);
      },
      [](terminate_child_atom, caf::actor&) -> caf::result<void> {
        return make_error(child_errc::not_applicable);
      },
    };
  }

  void on_exit() override {
    // Killed, or gone before its children stopped: take them along (children are not linked:
    // CAF's `kill` reason crosses links untrappably, which would let a killed child kill us).
    for (auto& c : children_)
      if (c.handle)
        signal_exit(c.handle, caf::exit_reason::kill);
    children_.clear();
    plan_.clear();
    deferred_.clear();
    ready_to_ = nullptr;
  }

private:
  enum class phase { starting, running, stopping };

  struct child_state {
    child_state(child_spec x, std::uint64_t k) : spec(std::move(x)), key(k) {}
    child_spec spec;
    std::uint64_t key; // names the child in timers and retries; never reused
    caf::actor handle;
    child_status st = child_status::stopped;
    std::uint64_t generation = 0; // increases with every start: tells stale timers apart
    std::uint32_t restarts = 0;
    detail::last_exit exit; // its last abnormal exit, for snapshots
    detail::backoff_account backoff;
    // The backoff delay it waits out before its restart (0: none). A sibling that the strategy
    // restarts with the child that exited is stopped first, and then waits too.
    std::uint64_t backoff_token = 0;
    // A start_child or restart_child request waiting for this start.
    caf::response_promise started;
    // A terminate_child request waiting for this stop.
    caf::response_promise stopped;
    // Added by start_child and not started yet: forgotten again if its start fails (OTP keeps
    // no spec whose start_child failed).
    bool new_spec = false;
  };

  struct step {
    enum kind_t { start, stop } kind;
    std::size_t index;
  };

  // -- plans ----------------------------------------------------------------------------------

  void run_plan() {
    if (in_plan_)
      return; // called from a step: the loop below goes on
    in_plan_ = true;
    while (!busy_ && !plan_.empty()) {
      auto next = plan_.front();
      plan_.pop_front();
      if (next.index >= children_.size())
        continue;
      if (next.kind == step::start)
        begin_start(next.index);
      else
        begin_stop(next.index);
    }
    in_plan_ = false;
    if (!busy_ && plan_.empty())
      on_plan_done();
  }

  void finish_step() {
    busy_ = false;
    run_plan();
  }

  bool idle() const noexcept { return phase_ == phase::running && !busy_ && plan_.empty(); }

  void on_plan_done() {
    switch (phase_) {
      case phase::starting:
        phase_ = phase::running;
        if (ready_to_) {
          send(ready_to_, ready_atom::value);
          ready_to_ = nullptr;
        }
        break;
      case phase::running: drop_forgotten(); break;
      case phase::stopping: quit(stop_reason_); return;
    }
    // What arrived while the plan ran — exits, requests, a stop — is handled now, one at a time,
    // in arrival order; one that starts a plan of its own holds up the rest until it is done
    // (and a call made from here that finishes a plan comes back here: the outer loop goes on).
    if (draining_)
      return;
    draining_ = true;
    while (idle() && !deferred_.empty()) {
      auto next = std::move(deferred_.front());
      deferred_.pop_front();
      next();
    }
    draining_ = false;
  }

  // Runs `op` now if the supervisor is idle, else once it is (it then runs also when the
  // supervisor has begun to stop, to refuse what it stands for).
  void now_or_when_idle(std::function<void()> op) {
    if (idle() && deferred_.empty())
      op();
    else
      deferred_.push_back(std::move(op));
  }

  // Runs `op` now if the supervisor is idle, else once it is; dropped if it stops first.
  void when_idle(std::function<void()> op) {
    now_or_when_idle([this, op = std::move(op)] {
      if (phase_ == phase::running)
        op();
    });
  }

  // A run-time request that changes children: refused while stopping, else served by `op` with
  // the request's promise once the supervisor is idle (after its start, after a restart).
  template <class Op>
  caf::response_promise when_running(Op op) {
    auto rp = make_response_promise();
    if (phase_ == phase::stopping) {
      rp.deliver(shutting_down());
      return rp;
    }
    now_or_when_idle([this, rp, op]() mutable {
      if (phase_ != phase::running) {
        rp.deliver(shutting_down());
        return;
      }
      op(rp);
    });
    return rp;
  }

  // -- starting -------------------------------------------------------------------------------

  void begin_start(std::size_t i) {
    auto& c = children_[i];
    if (c.handle)
      return; // already running
    c.generation = ++generation_;
    auto started = run_start([&] { return c.spec.start()(this); });
    if (!started) {
      start_failed(i, started.error());
      return;
    }
    c.handle = std::move(*started);
    monitor(c.handle);
    if (c.spec.awaits_ready()) {
      c.st = child_status::starting;
      busy_ = true;
      starting_ = i;
    } else {
      now_running(c);
    }
  }

  void now_running(child_state& c) {
    c.st = child_status::running;
    c.new_spec = false;
    c.backoff.running_since = clock::now();
    log::debug(name_, "started {}", c.spec.id());
    if (c.started.pending()) {
      c.started.deliver(c.handle);
      c.started = caf::response_promise{};
    }
  }

  void on_ready() {
    auto sender = caf::actor_cast<caf::actor>(current_sender());
    if (!starting_ || children_[*starting_].handle != sender)
      return;
    auto i = *starting_;
    starting_.reset();
    now_running(children_[i]);
    finish_step();
  }

  // Decides what a failed start leads to; the caller goes on with the plan, if any is left.
  void start_failed(std::size_t i, const caf::error& err) {
    auto& c = children_[i];
    log::error(name_, "child {} failed to start: {}", c.spec.id(), reason_text(err));
    if (phase_ == phase::starting) {
      // OTP: a supervisor whose children cannot start fails to start.
      begin_shutdown(make_error(errc::service_unavailable,
                                fmt::format("supervisor {}: child {} failed to start: {}", name_,
                                            c.spec.id(), reason_text(err))));
      return;
    }
    if (c.started.pending()) {
      // Asked for by start_child or restart_child: the caller gets the failure, the child
      // stays stopped; not a restart.
      c.st = child_status::stopped;
      c.started.deliver(
        make_error(errc::service_unavailable,
                   fmt::format("{} failed to start: {}", c.spec.id(), reason_text(err))));
      c.started = caf::response_promise{};
      return;
    }
    // A failed restart: ask again through the mailbox, where it counts as another restart.
    plan_.clear();
    busy_ = false;
    c.st = child_status::restarting;
    last_start_error_ = err;
    send(this, detail::retry_restart_atom::value, c.key);
  }

  void on_retry(std::uint64_t key) {
    when_idle([this, key] {
      auto i = index_of_key(key);
      if (!i || children_[*i].handle || children_[*i].st != child_status::restarting)
        return; // stopped by terminate_child meanwhile, or gone
      restart(*i, last_start_error_ ? last_start_error_
                                    : make_error(errc::service_unavailable, "restart failed"));
    });
  }

  // -- stopping -------------------------------------------------------------------------------

  void begin_stop(std::size_t i) {
    auto& c = children_[i];
    if (!c.handle) {
      c.st = child_status::stopped;
      return;
    }
    c.st = child_status::stopping;
    busy_ = true;
    stopping_ = i;
    ask_to_stop(c.handle, c.spec.shutdown(), c.key, c.generation);
  }

  void on_kill_timer(std::uint64_t key, std::uint64_t generation) {
    if (!stopping_)
      return;
    auto& c = children_[*stopping_];
    if (c.key != key || c.generation != generation || !c.handle)
      return;
    kill_late(c.spec.id(), c.handle, c.spec.shutdown().timeout);
  }

  void begin_shutdown(caf::error reason) {
    if (phase_ == phase::stopping)
      return;
    phase_ = phase::stopping;
    stop_reason_ = std::move(reason);
    plan_.clear();
    // A child still starting is stopped along with the rest.
    if (starting_) {
      busy_ = false;
      starting_.reset();
    }
    // Requests still waiting are refused; exits still waiting need nothing more.
    auto waiting = std::move(deferred_);
    deferred_.clear();
    for (auto& op : waiting)
      op();
    for (auto& c : children_)
      if (c.started.pending()) {
        c.started.deliver(shutting_down());
        c.started = caf::response_promise{};
      }
    for (auto i = children_.size(); i-- > 0;)
      if (children_[i].handle)
        plan_.push_back(step{step::stop, i});
    run_plan();
  }

  void on_exit_signal(caf::exit_msg& msg) {
    // Exits of linked children are handled through their monitors.
    for (auto& c : children_)
      if (c.handle && c.handle.address() == msg.source)
        return;
    auto reason = stop_reason(msg);
    if (phase_ != phase::running) {
      begin_shutdown(std::move(reason)); // while starting: at once, as a failed start would
      return;
    }
    // A restart (or another plan) under way finishes first, and what arrived before the stop
    // is handled before it, as OTP's supervisor handles its mailbox in order.
    if (stop_requested_)
      return;
    stop_requested_ = true;
    now_or_when_idle([this, reason = std::move(reason)] { begin_shutdown(reason); });
  }

  // -- children exiting -----------------------------------------------------------------------

  void on_down(caf::down_msg& msg) {
    auto i = index_of(msg.source);
    if (!i)
      return;
    auto& c = children_[*i];
    if (stopping_ && *stopping_ == *i) {
      // The exit we asked for.
      c.handle = nullptr;
      c.st = c.backoff_token != 0 ? child_status::backing_off : child_status::stopped;
      stopping_.reset();
      if (c.stopped.pending()) {
        c.stopped.deliver(caf::unit);
        c.stopped = caf::response_promise{};
      }
      finish_step();
      return;
    }
    // An exit nobody here asked for: a crash or a kill is remembered for snapshots.
    c.exit.note(msg.reason);
    if (starting_ && *starting_ == *i) {
      c.handle = nullptr;
      c.st = child_status::stopped;
      starting_.reset();
      busy_ = false;
      start_failed(*i, msg.reason);
      if (phase_ == phase::running)
        run_plan();
      return;
    }
    // The child is down either way: no step may wait for it.
    c.handle = nullptr;
    c.st = child_status::stopped;
    if (phase_ == phase::stopping)
      return;
    when_idle([this, key = c.key, reason = msg.reason] {
      auto j = index_of_key(key);
      if (j && !children_[*j].handle) // a plan may have started it again meanwhile
        child_exited(*j, reason);
    });
  }

  void child_exited(std::size_t i, const caf::error& reason) {
    auto& c = children_[i];
    if (!detail::should_restart(c.spec.restart(), reason)) {
      log::info(name_, "child {} exited ({}); {} child: not restarted", c.spec.id(),
                reason_text(reason), to_string(c.spec.restart()));
      if (c.spec.restart() == restart_type::temporary)
        children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
    log::warn(name_, "child {} exited ({}); restarting ({})", c.spec.id(), reason_text(reason),
              to_string(flags_.how));
    restart(i, reason);
  }

  // OTP's restart/2: count the restart first, then one function per strategy; each strategy
  // says which children stop (in reverse order) and which start again (in order).
  void restart(std::size_t i, const caf::error& reason) {
    if (!count_restart(children_[i].spec.id(), reason)) {
      begin_shutdown(caf::make_error(caf::exit_reason::user_shutdown));
      return;
    }
    std::vector<std::size_t> stops;
    std::vector<std::size_t> starts;
    switch (flags_.how) {
      case strategy::one_for_one: restart_one_for_one(i, starts); break;
      case strategy::one_for_all: restart_one_for_all(i, stops, starts); break;
      case strategy::rest_for_one: restart_rest_for_one(i, stops, starts); break;
    }
    for (auto j : stops)
      plan_.push_back(step{step::stop, j});
    auto delay = backoff_delay_for(children_[i].backoff);
    for (auto j : starts) {
      ++children_[j].restarts;
      children_[j].st = delay.count() > 0 ? child_status::backing_off : child_status::restarting;
    }
    if (delay.count() == 0) {
      for (auto j : starts)
        plan_.push_back(step{step::start, j});
    } else {
      auto token = ++generation_;
      auto& keys = backing_off_[token];
      for (auto j : starts) {
        keys.push_back(children_[j].key);
        children_[j].backoff_token = token;
      }
      log::info(name_, "restarting {} in {} ms (backoff)", children_[i].spec.id(), delay.count());
      delayed_send(this, delay, detail::backoff_atom::value, token);
    }
    run_plan();
  }

  void restart_one_for_one(std::size_t i, std::vector<std::size_t>& starts) { starts.push_back(i); }

  void restart_one_for_all(std::size_t i, std::vector<std::size_t>& stops,
                           std::vector<std::size_t>& starts) {
    restart_range(0, i, stops, starts);
  }

  void restart_rest_for_one(std::size_t i, std::vector<std::size_t>& stops,
                            std::vector<std::size_t>& starts) {
    restart_range(i, i, stops, starts);
  }

  // The children from `first` on (except `exited`, already down) stop in reverse order, then
  // start in order; temporary ones are stopped and dropped, as OTP does.
  void restart_range(std::size_t first, std::size_t exited, std::vector<std::size_t>& stops,
                     std::vector<std::size_t>& starts) {
    for (auto j = children_.size(); j-- > first;)
      if (j != exited && children_[j].handle)
        stops.push_back(j);
    for (auto j = first; j < children_.size(); ++j)
      if (children_[j].spec.restart() != restart_type::temporary)
        starts.push_back(j);
  }

  // Children that are not running and never will be again are forgotten: temporary children
  // (stopped by a sibling's restart or by terminate_child) and specs whose start_child failed.
  void drop_forgotten() {
    for (auto i = children_.size(); i-- > 0;) {
      const auto& c = children_[i];
      if (!c.handle && (c.spec.restart() == restart_type::temporary || c.new_spec))
        children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }

  void on_backoff_done(std::uint64_t token) {
    auto i = backing_off_.find(token);
    if (i == backing_off_.end())
      return;
    auto keys = std::move(i->second);
    backing_off_.erase(i);
    if (phase_ != phase::running)
      return;
    when_idle([this, token, keys = std::move(keys)] {
      for (auto key : keys) {
        auto j = index_of_key(key);
        if (j && !children_[*j].handle && children_[*j].backoff_token == token) {
          children_[*j].backoff_token = 0;
          plan_.push_back(step{step::start, *j});
        }
      }
      run_plan();
    });
  }

  // -- run-time requests (OTP's supervisor API) ------------------------------------------------

  void start_new_child(child_spec spec, caf::response_promise rp) {
    if (!spec.start()) {
      rp.deliver(
        make_error(errc::bad_request,
                   fmt::format("supervisor {}: child {} has no start function", name_, spec.id())));
      return;
    }
    if (auto i = index_of(spec.id())) {
      const auto& c = children_[*i];
      rp.deliver(c.handle ? make_error(child_errc::already_started, c.handle)
                          : make_error(child_errc::already_present));
      return;
    }
    children_.emplace_back(std::move(spec), next_key_++);
    auto& c = children_.back();
    c.new_spec = true;
    c.started = std::move(rp);
    plan_.push_back(step{step::start, children_.size() - 1});
    run_plan();
  }

  // Refuses an operation on a child that is not stopped, as OTP does; true when refused.
  bool refuse_unless_stopped(const std::optional<std::size_t>& i, caf::response_promise& rp) {
    if (!i) {
      rp.deliver(make_error(child_errc::not_found));
      return true;
    }
    const auto& c = children_[*i];
    if (c.handle) {
      rp.deliver(make_error(child_errc::running));
      return true;
    }
    if (detail::waits_for_restart(c.st)) {
      rp.deliver(make_error(child_errc::restarting));
      return true;
    }
    return false;
  }

  void restart_stopped_child(const std::string& id, caf::response_promise rp) {
    auto i = index_of(id);
    if (refuse_unless_stopped(i, rp))
      return;
    children_[*i].started = std::move(rp);
    plan_.push_back(step{step::start, *i});
    run_plan();
  }

  void delete_child(const std::string& id, caf::response_promise rp) {
    auto i = index_of(id);
    if (refuse_unless_stopped(i, rp))
      return;
    children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(*i));
    rp.deliver(caf::unit);
  }

  void terminate_child(const std::string& id, caf::response_promise rp) {
    auto i = index_of(id);
    if (!i) {
      rp.deliver(make_error(child_errc::not_found));
      return;
    }
    auto& c = children_[*i];
    c.backoff_token = 0; // a restart it waits for is called off
    if (!c.handle) {
      c.st = child_status::stopped;
      rp.deliver(caf::unit);
      drop_forgotten();
      return;
    }
    c.stopped = std::move(rp);
    plan_.push_back(step{step::stop, *i});
    run_plan();
  }

  std::vector<child_info> which_children() const {
    std::vector<child_info> out;
    out.reserve(children_.size());
    for (const auto& c : children_)
      out.push_back(info_of(c.spec.id(), c.spec.kind(), c.st, c.handle));
    return out;
  }

  child_counts count_children() const {
    child_counts out;
    for (const auto& c : children_)
      count(out, c.spec.kind(), c.handle);
    return out;
  }

  // -- snapshots ------------------------------------------------------------------------------

  caf::result<tree_snapshot> take_snapshot() {
    auto tree = snapshot_root(phase_ == phase::stopping   ? "stopping"
                              : phase_ == phase::starting ? "starting"
                                                          : "running");
    std::vector<std::tuple<std::size_t, caf::actor, child_kind>> asked;
    for (std::size_t i = 0; i < children_.size(); ++i) {
      const auto& c = children_[i];
      tree.children.push_back(
        child_entry(c.spec.id(), c.spec.kind(), c.st, c.restarts, c.handle, c.exit));
      if (c.handle)
        asked.emplace_back(i, c.handle, c.spec.kind());
    }
    return answer_snapshot(std::move(tree), asked);
  }

  // -- lookups --------------------------------------------------------------------------------

  std::optional<std::size_t> index_of(const caf::actor_addr& addr) const {
    for (std::size_t i = 0; i < children_.size(); ++i)
      if (children_[i].handle && children_[i].handle.address() == addr)
        return i;
    return std::nullopt;
  }

  std::optional<std::size_t> index_of(const std::string& id) const {
    for (std::size_t i = 0; i < children_.size(); ++i)
      if (children_[i].spec.id() == id)
        return i;
    return std::nullopt;
  }

  std::optional<std::size_t> index_of_key(std::uint64_t key) const {
    for (std::size_t i = 0; i < children_.size(); ++i)
      if (children_[i].key == key)
        return i;
    return std::nullopt;
  }

  caf::error invalid_; // why the spec cannot run, if it cannot
  caf::actor ready_to_;
  std::vector<child_state> children_;
  std::uint64_t next_key_ = 1;
  std::deque<step> plan_;
  // Exits and requests that arrived during a plan, handled after it in arrival order.
  std::deque<std::function<void()>> deferred_;
  std::map<std::uint64_t, std::vector<std::uint64_t>> backing_off_; // token -> child keys
  std::optional<std::size_t> starting_;
  std::optional<std::size_t> stopping_;
  phase phase_ = phase::starting;
  bool busy_ = false;
  bool in_plan_ = false;
  bool draining_ = false;
  bool stop_requested_ = false; // a stop request waits in deferred_
  caf::error stop_reason_;
  caf::error last_start_error_; // why the last restart failed to start, for the logs
};

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, supervisor_spec spec,
                            const caf::actor& ready_to) {
  return sys.spawn<supervisor_actor>(std::move(spec), ready_to);
}

caf::expected<caf::actor> start_supervisor(caf::actor_system& sys, supervisor_spec spec) {
  caf::scoped_actor self{sys};
  auto name = spec.name();
  auto sup = spawn_supervisor(sys, std::move(spec), caf::actor{self});
  self->monitor(sup);
  caf::error failure;
  self->receive([](ready_atom) {},
                [&](caf::down_msg& msg) {
                  failure = msg.reason ? msg.reason
                                       : make_error(errc::service_unavailable,
                                                    "supervisor " + name + " exited at start");
                });
  self->demonitor(sup);
  if (failure)
    return failure;
  return sup;
}

child_spec supervisor_child(supervisor_spec spec) {
  auto id = spec.name();
  return child_spec{
    std::move(id),
    [spec = std::move(spec)](caf::event_based_actor* parent) mutable -> caf::expected<caf::actor> {
      return parent->spawn<supervisor_actor>(spec, caf::actor_cast<caf::actor>(parent));
    }}
    .kind(child_kind::supervisor)
    .await_ready();
}

} // namespace microlith
