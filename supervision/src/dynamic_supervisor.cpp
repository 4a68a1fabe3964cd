// The dynamic supervisor actor: children by sequence number, indexed by actor for O(1) exits;
// starts and stops run concurrently; restarts, stops, timers and reports go through the core it
// shares with the static supervisor.
#include "microlith/supervision/dynamic_supervisor.hpp"

#include "detail/restart_rules.hpp"
#include "detail/supervisor_core.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/supervision/atoms.hpp"
#include "microlith/supervision/child_error.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>

namespace microlith {

namespace {

using clock = std::chrono::steady_clock;
using detail::child_status;

class dynamic_supervisor_actor final : public detail::supervisor_core {
public:
  dynamic_supervisor_actor(caf::actor_config& cfg, dynamic_supervisor_spec spec,
                           caf::actor ready_to)
    : supervisor_core(cfg, spec.name(), spec.flags()), spec_(std::move(spec)),
      ready_to_(std::move(ready_to)) {}

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    set_exit_handler([this](caf::exit_msg& msg) { begin_shutdown(stop_reason(msg)); });
    if (auto err = spec_.validate()) {
      refuse_to_run(err);
      return {};
    }
    if (ready_to_) {
      send(ready_to_, ready_atom::value);
      ready_to_ = nullptr;
    }
    return {
      [this](start_child_atom, caf::message& args) -> caf::result<caf::actor> {
        return on_start_child(std::move(args));
      },
      [this](terminate_child_atom, const caf::actor& child) -> caf::result<void> {
        return on_terminate_child(child);
      },
      [this](which_children_atom) { return which_children(); },
      [this](count_children_atom) { return count_children(); },
      [this](ready_atom) { on_ready(); },
      [this](detail::retry_restart_atom, std::uint64_t n) { restart(n, caf::error{}); },
      [this](detail::kill_timer_atom, std::uint64_t n, std::uint64_t generation) {
        on_kill_timer(n, generation);
      },
      [this](detail::backoff_atom, std::uint64_t n) { start_instance(n); },
      [this](detail::shutdown_kill_atom) { kill_remaining(); },
      [this](snapshot_atom) { return take_snapshot(); },
      // The static supervisor's forms (by spec, by id): OTP answers simple_one_for_one.
      [](start_child_atom, child_spec&) -> caf::result<caf::actor> {
        return make_error(child_errc::not_applicable);
      },
      [](terminate_child_atom, std::string&) -> caf::result<void> {
        return make_error(child_errc::not_applicable);
      },
      [](restart_child_atom, std::string&) -> caf::result<caf::actor> {
        return make_error(child_errc::not_applicable);
      },
      [](delete_child_atom, std::string&) -> caf::result<void> {
        return make_error(child_errc::not_applicable);
      },
    };
  }

  void on_exit() override {
    for (auto& [n, c] : children_)
      if (c.handle)
        signal_exit(c.handle, caf::exit_reason::kill);
    children_.clear();
    by_actor_.clear();
  }

private:
  struct child {
    caf::message args;
    caf::actor handle;
    child_status st = child_status::starting;
    std::uint32_t restarts = 0;
    detail::last_exit exit; // its last abnormal exit, for snapshots
    std::uint64_t generation = 0;
    detail::backoff_account backoff;
    caf::response_promise started; // the start_child request, until the first start finished
    caf::response_promise stopped; // a terminate_child request, until the child is gone
    bool terminating = false;
  };

  // -- starting -------------------------------------------------------------------------------

  caf::result<caf::actor> on_start_child(caf::message args) {
    if (stopping_)
      return shutting_down();
    auto n = ++next_;
    auto& c = children_[n];
    c.args = std::move(args);
    c.started = make_response_promise();
    auto promise = c.started;
    start_instance(n);
    return promise;
  }

  // Starts (or restarts) child n.
  void start_instance(std::uint64_t n) {
    auto i = children_.find(n);
    if (i == children_.end() || stopping_ || i->second.handle)
      return;
    auto& c = i->second;
    c.generation = ++generation_;
    auto started = run_start([&] { return spec_.start()(this, c.args); });
    if (!started) {
      start_failed(n, started.error());
      return;
    }
    c.handle = std::move(*started);
    by_actor_.emplace(caf::actor_cast<caf::actor_control_block*>(c.handle), n);
    monitor(c.handle);
    if (spec_.awaits_ready()) {
      c.st = child_status::starting;
    } else {
      running(c);
    }
  }

  void running(child& c) {
    c.st = child_status::running;
    c.backoff.running_since = clock::now();
    if (c.started.pending()) {
      c.started.deliver(c.handle);
      c.started = caf::response_promise{};
    }
  }

  void on_ready() {
    auto n = number_of(current_sender());
    if (!n)
      return;
    auto& c = children_[*n];
    if (c.st == child_status::starting)
      running(c);
  }

  void start_failed(std::uint64_t n, const caf::error& err) {
    auto& c = children_[n];
    auto id = child_name(n);
    log::error(name_, "child {} failed to start: {}", id, detail::reason_text(err));
    if (c.started.pending()) {
      // A first start: the caller gets the failure, nothing is kept (OTP's start_child).
      c.started.deliver(
        make_error(errc::service_unavailable,
                   fmt::format("{} failed to start: {}", id, detail::reason_text(err))));
      children_.erase(n);
      return;
    }
    // A failed restart: try again through the mailbox, where it counts as another restart.
    c.st = child_status::restarting;
    send(this, detail::retry_restart_atom::value, n);
  }

  // -- exits ----------------------------------------------------------------------------------

  void on_down(caf::down_msg& msg) {
    auto n = number_of(msg.source);
    if (!n)
      return;
    by_actor_.erase(caf::actor_cast<caf::actor_control_block*>(msg.source));
    auto& c = children_[*n];
    c.handle = nullptr;
    if (stopping_) {
      children_.erase(*n);
      if (by_actor_.empty())
        quit(stop_reason_);
      return;
    }
    if (c.terminating) {
      if (c.stopped.pending())
        c.stopped.deliver(caf::unit);
      children_.erase(*n);
      return;
    }
    // An exit nobody here asked for: a crash or a kill is remembered for snapshots.
    c.exit.note(msg.reason);
    if (c.st == child_status::starting && c.started.pending()) {
      start_failed(*n, msg.reason);
      return;
    }
    if (!detail::should_restart(spec_.restart(), msg.reason)) {
      log::info(name_, "child {} exited ({}); {} child: not restarted", child_name(*n),
                detail::reason_text(msg.reason), to_string(spec_.restart()));
      children_.erase(*n);
      return;
    }
    log::debug(name_, "child {} exited ({}); restarting", child_name(*n),
               detail::reason_text(msg.reason));
    restart(*n, msg.reason);
  }

  void restart(std::uint64_t n, const caf::error& reason) {
    auto i = children_.find(n);
    if (i == children_.end() || stopping_ || i->second.handle)
      return;
    if (!count_restart(child_name(n), reason)) {
      begin_shutdown(caf::make_error(caf::exit_reason::user_shutdown));
      return;
    }
    auto& c = i->second;
    ++c.restarts;
    auto delay = backoff_delay_for(c.backoff);
    if (delay.count() > 0) {
      c.st = child_status::backing_off;
      delayed_send(this, delay, detail::backoff_atom::value, n);
      return;
    }
    c.st = child_status::restarting;
    start_instance(n);
  }

  // -- stopping -------------------------------------------------------------------------------

  caf::result<void> on_terminate_child(const caf::actor& who) {
    auto n = number_of(who.address());
    if (!n)
      return make_error(child_errc::not_found);
    auto& c = children_[*n];
    c.terminating = true;
    c.stopped = make_response_promise();
    auto promise = c.stopped;
    stop(*n, c);
    return promise;
  }

  // Asks child n to stop; `own_timer`: arm a kill timer for it alone (a whole shutdown arms one
  // timer for all children instead: one clock entry, not one per child).
  void stop(std::uint64_t n, child& c, bool own_timer = true) {
    c.st = child_status::stopping;
    ask_to_stop(c.handle, spec_.shutdown(), n, c.generation, own_timer);
  }

  void kill_remaining() {
    if (!by_actor_.empty())
      log::warn(name_, "{} children did not stop within {} ms: killing them", by_actor_.size(),
                spec_.shutdown().timeout.count());
    for (auto& [n, c] : children_)
      if (c.handle)
        signal_exit(c.handle, caf::exit_reason::kill, this);
  }

  void on_kill_timer(std::uint64_t n, std::uint64_t generation) {
    auto i = children_.find(n);
    if (i == children_.end() || !i->second.handle || i->second.generation != generation)
      return;
    kill_late(child_name(n), i->second.handle, spec_.shutdown().timeout);
  }

  void begin_shutdown(caf::error reason) {
    if (stopping_)
      return;
    stopping_ = true;
    stop_reason_ = std::move(reason);
    for (auto i = children_.begin(); i != children_.end();) {
      auto& c = i->second;
      if (c.started.pending())
        c.started.deliver(shutting_down());
      if (c.stopped.pending())
        c.stopped.deliver(caf::unit);
      if (!c.handle) {
        i = children_.erase(i);
        continue;
      }
      stop(i->first, c, false);
      ++i;
    }
    if (by_actor_.empty()) {
      quit(stop_reason_);
      return;
    }
    if (spec_.shutdown().how == shutdown_spec::mode::timeout)
      delayed_send(this, spec_.shutdown().timeout, detail::shutdown_kill_atom::value);
  }

  // -- snapshots ------------------------------------------------------------------------------

  // The children in start_child order.
  std::vector<std::uint64_t> numbers() const {
    std::vector<std::uint64_t> out;
    out.reserve(children_.size());
    for (const auto& entry : children_)
      out.push_back(entry.first);
    std::sort(out.begin(), out.end());
    return out;
  }

  tree_snapshot take_snapshot() {
    auto tree = snapshot_root(stopping_ ? "stopping" : "running");
    for (auto n : numbers()) {
      const auto& c = children_.at(n);
      tree.children.push_back(
        child_entry(child_name(n), child_kind::worker, c.st, c.restarts, c.handle, c.exit));
    }
    return tree;
  }

  std::vector<child_info> which_children() const {
    std::vector<child_info> out;
    out.reserve(children_.size());
    for (auto n : numbers()) {
      const auto& c = children_.at(n);
      out.push_back(info_of(child_name(n), child_kind::worker, c.st, c.handle));
    }
    return out;
  }

  // OTP's count for simple_one_for_one: one spec (the template), every child a worker.
  child_counts count_children() const {
    child_counts out;
    for (const auto& entry : children_)
      count(out, child_kind::worker, entry.second.handle);
    out.specs = 1;
    return out;
  }

  // -- lookups --------------------------------------------------------------------------------

  template <class Handle>
  std::optional<std::uint64_t> number_of(const Handle& who) const {
    auto i = by_actor_.find(caf::actor_cast<caf::actor_control_block*>(who));
    if (i == by_actor_.end())
      return std::nullopt;
    return i->second;
  }

  std::string child_name(std::uint64_t n) const {
    return spec_.child_id() + "-" + std::to_string(n);
  }

  dynamic_supervisor_spec spec_;
  caf::actor ready_to_;
  std::unordered_map<std::uint64_t, child> children_;
  std::unordered_map<const caf::actor_control_block*, std::uint64_t> by_actor_;
  std::uint64_t next_ = 0;
  bool stopping_ = false;
  caf::error stop_reason_;
};

} // namespace

// -- free functions ---------------------------------------------------------------------------

caf::actor spawn_dynamic_supervisor(caf::actor_system& sys, dynamic_supervisor_spec spec,
                                    const caf::actor& ready_to) {
  return sys.spawn<dynamic_supervisor_actor>(std::move(spec), ready_to);
}

child_spec dynamic_supervisor_child(dynamic_supervisor_spec spec) {
  auto id = spec.name();
  return child_spec{
    std::move(id),
    [spec = std::move(spec)](caf::event_based_actor* parent) -> caf::expected<caf::actor> {
      return parent->spawn<dynamic_supervisor_actor>(spec, caf::actor_cast<caf::actor>(parent));
    }}
    .kind(child_kind::supervisor)
    .await_ready();
}

} // namespace microlith
