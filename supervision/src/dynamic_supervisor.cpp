// The dynamic supervisor actor: children by sequence number, indexed by actor for O(1) exits;
// starts and stops run concurrently; restarts follow the shared restart rules.
#include "microlith/supervision/dynamic_supervisor.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/log.hpp"

#include "detail/restart_rules.hpp"

#include <caf/all.hpp>

#include <random>
#include <unordered_map>

namespace microlith {

namespace {

using clock = std::chrono::steady_clock;
using retry_atom = caf::atom_constant<caf::atom("ml_dretry")>;
using kill_timer_atom = caf::atom_constant<caf::atom("ml_dkill")>;
using backoff_atom = caf::atom_constant<caf::atom("ml_dback")>;
using shutdown_kill_atom = caf::atom_constant<caf::atom("ml_dstopkl")>;

class dynamic_supervisor_actor final : public caf::event_based_actor {
public:
  dynamic_supervisor_actor(caf::actor_config& cfg, dynamic_supervisor_spec spec,
                           caf::actor ready_to)
    : caf::event_based_actor(cfg), spec_(std::move(spec)), ready_to_(std::move(ready_to)) {
  }

  const char* name() const override {
    return spec_.name().c_str();
  }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    set_exit_handler([this](caf::exit_msg& msg) {
      begin_shutdown(msg.reason ? msg.reason : caf::make_error(caf::exit_reason::user_shutdown));
    });
    if (auto err = spec_.validate()) {
      log::error(spec_.name(), "cannot start: {}", describe(err));
      quit(err);
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
      [this](count_children_atom) {
        return caf::make_message(by_actor_.size(), children_.size());
      },
      [this](ready_atom) { on_ready(); },
      [this](retry_atom, std::uint64_t n) { restart(n, caf::error{}); },
      [this](kill_timer_atom, std::uint64_t n, std::uint64_t generation) {
        on_kill_timer(n, generation);
      },
      [this](backoff_atom, std::uint64_t n) { start_instance(n); },
      [this](shutdown_kill_atom) { kill_remaining(); },
      [this](snapshot_atom) { return take_snapshot(); },
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
  enum class status { starting, running, stopping, restarting, backing_off };

  struct child {
    caf::message args;
    caf::actor handle;
    status st = status::starting;
    std::uint32_t restarts = 0;
    std::uint64_t generation = 0;
    detail::backoff_account backoff;
    caf::response_promise started; // the start_child request, until the first start finished
    caf::response_promise stopped; // a terminate_child request, until the child is gone
    bool terminating = false;
  };

  static const char* to_text(status x) {
    switch (x) {
      case status::starting: return "starting";
      case status::running: return "running";
      case status::stopping: return "stopping";
      case status::restarting: return "restarting";
      case status::backing_off: return "backing_off";
    }
    return "?";
  }

  // -- starting -------------------------------------------------------------------------------

  caf::result<caf::actor> on_start_child(caf::message args) {
    if (stopping_)
      return make_error(errc::service_unavailable, spec_.name() + " is shutting down");
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
    caf::expected<caf::actor> started = caf::error{};
    try {
      started = spec_.start()(this, c.args);
    } catch (const std::exception& e) {
      started = make_error(errc::remote_error, e.what());
    }
    if (!started || !*started) {
      start_failed(n, started ? make_error(errc::remote_error, "the start function returned no actor")
                              : started.error());
      return;
    }
    c.handle = *started;
    by_actor_.emplace(caf::actor_cast<caf::actor_control_block*>(c.handle), n);
    monitor(c.handle);
    if (spec_.awaits_ready()) {
      c.st = status::starting;
    } else {
      running(c);
    }
  }

  void running(child& c) {
    c.st = status::running;
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
    if (c.st == status::starting)
      running(c);
  }

  void start_failed(std::uint64_t n, const caf::error& err) {
    auto& c = children_[n];
    auto id = child_name(n);
    log::error(spec_.name(), "child {} failed to start: {}", id, detail::reason_text(err));
    if (c.started.pending()) {
      // A first start: the caller gets the failure, nothing is kept (OTP's start_child).
      c.started.deliver(make_error(errc::service_unavailable,
                                   fmt::format("{} failed to start: {}", id,
                                               detail::reason_text(err))));
      children_.erase(n);
      return;
    }
    // A failed restart: try again through the mailbox, where it counts as another restart.
    c.st = status::restarting;
    send(this, retry_atom::value, n);
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
    if (c.st == status::starting && c.started.pending()) {
      start_failed(*n, msg.reason);
      return;
    }
    if (!detail::should_restart(spec_.restart(), msg.reason)) {
      log::info(spec_.name(), "child {} exited ({}); {} child: not restarted", child_name(*n),
                detail::reason_text(msg.reason), to_string(spec_.restart()));
      children_.erase(*n);
      return;
    }
    log::debug(spec_.name(), "child {} exited ({}); restarting", child_name(*n),
               detail::reason_text(msg.reason));
    restart(*n, msg.reason);
  }

  void restart(std::uint64_t n, const caf::error& reason) {
    auto i = children_.find(n);
    if (i == children_.end() || stopping_ || i->second.handle)
      return;
    if (!window_.add(spec_.flags())) {
      log::error(spec_.name(), "more than {} restarts within {} ms (last: {} exited: {}): "
                 "shutting down",
                 spec_.flags().intensity, spec_.flags().period.count(), child_name(n),
                 detail::reason_text(reason));
      begin_shutdown(caf::make_error(caf::exit_reason::user_shutdown));
      return;
    }
    auto& c = i->second;
    ++c.restarts;
    auto delay = detail::backoff_delay(spec_.flags(), c.backoff, rng_);
    if (delay.count() > 0) {
      c.st = status::backing_off;
      delayed_send(this, delay, backoff_atom::value, n);
      return;
    }
    c.st = status::restarting;
    start_instance(n);
  }

  // -- stopping -------------------------------------------------------------------------------

  caf::result<void> on_terminate_child(const caf::actor& who) {
    auto n = number_of(who.address());
    if (!n)
      return make_error(errc::bad_request,
                        fmt::format("{} is not a running child of {}", caf::to_string(who.address()),
                                    spec_.name()));
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
    c.st = status::stopping;
    if (spec_.shutdown().how == shutdown_spec::mode::brutal_kill) {
      signal_exit(c.handle, caf::exit_reason::kill, this);
      return;
    }
    signal_exit(c.handle, caf::exit_reason::user_shutdown, this);
    if (own_timer && spec_.shutdown().how == shutdown_spec::mode::timeout)
      delayed_send(this, spec_.shutdown().timeout, kill_timer_atom::value, n, c.generation);
  }

  void kill_remaining() {
    if (!by_actor_.empty())
      log::warn(spec_.name(), "{} children did not stop within {} ms: killing them",
                by_actor_.size(), spec_.shutdown().timeout.count());
    for (auto& [n, c] : children_)
      if (c.handle)
        signal_exit(c.handle, caf::exit_reason::kill, this);
  }

  void on_kill_timer(std::uint64_t n, std::uint64_t generation) {
    auto i = children_.find(n);
    if (i == children_.end() || !i->second.handle || i->second.generation != generation)
      return;
    log::warn(spec_.name(), "child {} did not stop within {} ms: killing it", child_name(n),
              spec_.shutdown().timeout.count());
    signal_exit(i->second.handle, caf::exit_reason::kill, this);
  }

  void begin_shutdown(caf::error reason) {
    if (stopping_)
      return;
    stopping_ = true;
    stop_reason_ = std::move(reason);
    for (auto i = children_.begin(); i != children_.end();) {
      auto& c = i->second;
      if (c.started.pending())
        c.started.deliver(make_error(errc::service_unavailable, spec_.name() + " is shutting down"));
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
      delayed_send(this, spec_.shutdown().timeout, shutdown_kill_atom::value);
  }

  // -- snapshots ------------------------------------------------------------------------------

  tree_snapshot take_snapshot() {
    tree_snapshot tree;
    tree.id = spec_.name();
    tree.kind = "supervisor";
    tree.state = stopping_ ? "stopping" : "running";
    tree.actor = id();
    tree.mailbox = static_cast<std::int64_t>(mailbox().size());
    std::vector<std::uint64_t> numbers;
    numbers.reserve(children_.size());
    for (const auto& entry : children_)
      numbers.push_back(entry.first);
    std::sort(numbers.begin(), numbers.end());
    for (auto n : numbers) {
      const auto& c = children_[n];
      tree_snapshot x;
      x.id = child_name(n);
      x.kind = "worker";
      x.state = to_text(c.st);
      x.restarts = c.restarts;
      if (c.handle)
        x.actor = c.handle.id();
      tree.children.push_back(std::move(x));
    }
    return tree;
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
  std::uint64_t generation_ = 0;
  detail::restart_window window_;
  std::minstd_rand rng_{std::random_device{}()};
  bool stopping_ = false;
  caf::error stop_reason_;
};

} // namespace

// -- dynamic_supervisor_spec ------------------------------------------------------------------

dynamic_supervisor_spec::dynamic_supervisor_spec(std::string name, dynamic_start_function start)
  : name_(std::move(name)), start_(std::move(start)) {
}

dynamic_supervisor_spec& dynamic_supervisor_spec::intensity(int max_restarts,
                                                            std::chrono::milliseconds period) {
  flags_.intensity = max_restarts;
  flags_.period = period;
  return *this;
}

dynamic_supervisor_spec& dynamic_supervisor_spec::backoff(backoff_spec x) {
  flags_.backoff = x;
  return *this;
}

dynamic_supervisor_spec& dynamic_supervisor_spec::restart(restart_type x) {
  restart_ = x;
  return *this;
}

dynamic_supervisor_spec& dynamic_supervisor_spec::shutdown(std::chrono::milliseconds timeout) {
  shutdown_ = shutdown_spec{shutdown_spec::mode::timeout, timeout};
  return *this;
}

dynamic_supervisor_spec& dynamic_supervisor_spec::brutal_kill() {
  shutdown_ = shutdown_spec{shutdown_spec::mode::brutal_kill, std::chrono::milliseconds{0}};
  return *this;
}

dynamic_supervisor_spec& dynamic_supervisor_spec::await_ready(bool x) {
  awaits_ready_ = x;
  return *this;
}

dynamic_supervisor_spec& dynamic_supervisor_spec::child_id(std::string id) {
  child_id_ = std::move(id);
  return *this;
}

caf::error dynamic_supervisor_spec::validate() const {
  if (!start_)
    return make_error(errc::bad_request,
                      fmt::format("dynamic supervisor {}: no start function", name_));
  if (flags_.intensity < 0 || flags_.period.count() <= 0)
    return make_error(errc::bad_request,
                      fmt::format("dynamic supervisor {}: intensity must be >= 0 and period > 0",
                                  name_));
  return detail::validate_backoff(name_, flags_);
}

// -- free functions ---------------------------------------------------------------------------

caf::actor spawn_dynamic_supervisor(caf::actor_system& sys, dynamic_supervisor_spec spec,
                                    const caf::actor& ready_to) {
  return sys.spawn<dynamic_supervisor_actor>(std::move(spec), ready_to);
}

child_spec dynamic_supervisor_child(dynamic_supervisor_spec spec) {
  auto id = spec.name();
  return child_spec{std::move(id),
                    [spec = std::move(spec)](caf::event_based_actor* parent)
                      -> caf::expected<caf::actor> {
                      return parent->spawn<dynamic_supervisor_actor>(
                        spec, caf::actor_cast<caf::actor>(parent));
                    }}
    .kind(child_kind::supervisor)
    .await_ready();
}

caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      caf::message args, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<caf::actor> result = make_error(errc::timeout, "no answer");
  self->request(sup, timeout, start_child_atom::value, std::move(args))
    .receive([&](caf::actor& child) { result = std::move(child); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                           std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(sup, timeout, terminate_child_atom::value, child)
    .receive([] {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<std::pair<std::size_t, std::size_t>>
count_children(caf::actor_system& sys, const caf::actor& sup, std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<std::pair<std::size_t, std::size_t>> result = make_error(errc::timeout, "no answer");
  self->request(sup, timeout, count_children_atom::value)
    .receive([&](std::size_t running, std::size_t total) { result = std::make_pair(running, total); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace microlith
