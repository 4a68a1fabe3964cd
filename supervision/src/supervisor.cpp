// The supervisor actor. Work that takes time (starting a child that must signal ready, stopping
// a child within its shutdown time) runs as a plan of steps, one step at a time; child exits
// that arrive while a plan runs are handled once it finishes, so decisions are made one after
// the other, as in OTP's supervisor.
#include "microlith/supervision/supervisor.hpp"

#include "detail/restart_rules.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/log.hpp"

#include <caf/all.hpp>

#include <fmt/ranges.h>

#include <deque>
#include <map>
#include <random>
#include <optional>
#include <set>

namespace microlith {

namespace {

using retry_atom = caf::atom_constant<caf::atom("ml_retry")>;
using kill_timer_atom = caf::atom_constant<caf::atom("ml_killtm")>;
using backoff_atom = caf::atom_constant<caf::atom("ml_backoff")>;
using clock = std::chrono::steady_clock;

using detail::reason_text;

class supervisor_actor final : public caf::event_based_actor {
public:
  supervisor_actor(caf::actor_config& cfg, supervisor_spec spec, caf::actor ready_to)
    : caf::event_based_actor(cfg), spec_(std::move(spec)), ready_to_(std::move(ready_to)) {
    for (auto& x : spec_.children())
      children_.push_back(child_state{x});
  }

  const char* name() const override {
    return spec_.name().c_str();
  }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
    set_exit_handler([this](caf::exit_msg& msg) { on_exit_signal(msg); });
    if (auto err = spec_.validate()) {
      log::error(spec_.name(), "cannot start: {}", describe(err));
      quit(err);
      return {};
    }
    phase_ = phase::starting;
    for (std::size_t i = 0; i < children_.size(); ++i)
      plan_.push_back(step{step::start, i});
    run_plan();
    return {
      [this](ready_atom) { on_ready(); },
      [this](retry_atom, std::string id) { on_retry(id); },
      [this](kill_timer_atom, std::uint64_t generation) { on_kill_timer(generation); },
      [this](backoff_atom, std::uint64_t token) { on_backoff_done(token); },
      [this](snapshot_atom) { return take_snapshot(); },
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
  enum class status { stopped, starting, running, stopping, restarting, backing_off };

  struct child_state {
    explicit child_state(child_spec x) : spec(std::move(x)) {
    }
    child_spec spec;
    caf::actor handle;
    status st = status::stopped;
    std::uint64_t generation = 0; // increases with every start: tells stale timers apart
    std::uint32_t restarts = 0;
    detail::backoff_account backoff;
    // The backoff delay it waits out before its restart (0: none). A sibling that the strategy
    // restarts with the child that exited is stopped first, and then waits too.
    std::uint64_t backoff_token = 0;
  };

  static const char* to_text(status x) {
    switch (x) {
      case status::stopped: return "stopped";
      case status::starting: return "starting";
      case status::running: return "running";
      case status::stopping: return "stopping";
      case status::restarting: return "restarting";
      case status::backing_off: return "backing_off";
    }
    return "?";
  }

  struct step {
    enum kind_t { start, stop } kind;
    std::size_t index;
  };

  // -- plans ----------------------------------------------------------------------------------

  void run_plan() {
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
    if (!busy_ && plan_.empty())
      on_plan_done();
  }

  void finish_step() {
    busy_ = false;
    run_plan();
  }

  void on_plan_done() {
    switch (phase_) {
      case phase::starting:
        phase_ = phase::running;
        if (ready_to_) {
          send(ready_to_, ready_atom::value);
          ready_to_ = nullptr;
        }
        break;
      case phase::running:
        drop_stopped_temporaries();
        break;
      case phase::stopping:
        quit(stop_reason_);
        return;
    }
    // Exits that arrived while the plan ran are decided now, one at a time (a child that the
    // plan started again meanwhile needs nothing more).
    while (!busy_ && plan_.empty() && !deferred_.empty() && phase_ == phase::running) {
      auto [id, reason] = std::move(deferred_.front());
      deferred_.pop_front();
      auto i = index_of(id);
      if (i && !children_[*i].handle)
        child_exited(*i, reason);
    }
  }

  // -- starting -------------------------------------------------------------------------------

  void begin_start(std::size_t i) {
    auto& c = children_[i];
    if (c.handle)
      return; // already running
    c.generation = ++generation_;
    caf::expected<caf::actor> started = caf::error{};
    try {
      started = c.spec.start()(this);
    } catch (const std::exception& e) {
      started = make_error(errc::remote_error, e.what());
    }
    if (!started || !*started) {
      auto err = started ? make_error(errc::remote_error, "the start function returned no actor")
                         : started.error();
      start_failed(i, err);
      return;
    }
    c.handle = *started;
    monitor(c.handle);
    if (c.spec.awaits_ready()) {
      c.st = status::starting;
      busy_ = true;
      starting_ = i;
    } else {
      c.st = status::running;
      c.backoff.running_since = clock::now();
      log::debug(spec_.name(), "started {}", c.spec.id());
    }
  }

  void on_ready() {
    auto sender = caf::actor_cast<caf::actor>(current_sender());
    if (!starting_ || children_[*starting_].handle != sender)
      return;
    auto i = *starting_;
    starting_.reset();
    children_[i].st = status::running;
    children_[i].backoff.running_since = clock::now();
    log::debug(spec_.name(), "started {}", children_[i].spec.id());
    finish_step();
  }

  void start_failed(std::size_t i, const caf::error& err) {
    auto& c = children_[i];
    log::error(spec_.name(), "child {} failed to start: {}", c.spec.id(), reason_text(err));
    if (phase_ == phase::starting) {
      // OTP: a supervisor whose children cannot start fails to start.
      begin_shutdown(make_error(errc::service_unavailable,
                                fmt::format("supervisor {}: child {} failed to start: {}",
                                            spec_.name(), c.spec.id(), reason_text(err))));
      return;
    }
    // A failed restart: ask again through the mailbox, where it counts as another restart.
    plan_.clear();
    busy_ = false;
    last_start_error_ = err;
    send(this, retry_atom::value, c.spec.id());
    run_plan();
  }

  void on_retry(const std::string& id) {
    if (phase_ != phase::running)
      return;
    auto i = index_of(id);
    if (!i || children_[*i].handle)
      return;
    if (busy_ || !plan_.empty()) {
      send(this, retry_atom::value, id);
      return;
    }
    restart(*i, last_start_error_ ? last_start_error_
                                  : make_error(errc::service_unavailable, "restart failed"));
  }

  // -- stopping -------------------------------------------------------------------------------

  void begin_stop(std::size_t i) {
    auto& c = children_[i];
    if (!c.handle) {
      c.st = status::stopped;
      return;
    }
    c.st = status::stopping;
    busy_ = true;
    stopping_ = i;
    const auto& how = c.spec.shutdown();
    if (how.how == shutdown_spec::mode::brutal_kill) {
      signal_exit(c.handle, caf::exit_reason::kill, this);
      return;
    }
    signal_exit(c.handle, caf::exit_reason::user_shutdown, this);
    if (how.how == shutdown_spec::mode::timeout)
      delayed_send(this, how.timeout, kill_timer_atom::value, c.generation);
  }

  void on_kill_timer(std::uint64_t generation) {
    if (!stopping_)
      return;
    auto& c = children_[*stopping_];
    if (c.generation != generation || !c.handle)
      return;
    log::warn(spec_.name(), "child {} did not stop within {} ms: killing it", c.spec.id(),
              c.spec.shutdown().timeout.count());
    signal_exit(c.handle, caf::exit_reason::kill, this);
  }

  void begin_shutdown(caf::error reason) {
    if (phase_ == phase::stopping)
      return;
    phase_ = phase::stopping;
    stop_reason_ = std::move(reason);
    plan_.clear();
    deferred_.clear();
    // A child still starting is stopped along with the rest.
    if (starting_) {
      busy_ = false;
      starting_.reset();
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
    begin_shutdown(msg.reason ? msg.reason : caf::make_error(caf::exit_reason::user_shutdown));
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
      c.st = c.backoff_token != 0 ? status::backing_off : status::stopped;
      stopping_.reset();
      finish_step();
      return;
    }
    if (starting_ && *starting_ == *i) {
      c.handle = nullptr;
      c.st = status::stopped;
      starting_.reset();
      busy_ = false;
      start_failed(*i, msg.reason);
      return;
    }
    if (phase_ == phase::stopping) {
      c.handle = nullptr;
      c.st = status::stopped;
      return;
    }
    // The child is down either way: no step may wait for it.
    c.handle = nullptr;
    c.st = status::stopped;
    if (busy_ || !plan_.empty()) {
      deferred_.emplace_back(c.spec.id(), msg.reason);
      return;
    }
    child_exited(*i, msg.reason);
  }

  void child_exited(std::size_t i, const caf::error& reason) {
    auto& c = children_[i];
    if (!detail::should_restart(c.spec.restart(), reason)) {
      log::info(spec_.name(), "child {} exited ({}); {} child: not restarted", c.spec.id(),
                reason_text(reason), to_string(c.spec.restart()));
      if (c.spec.restart() == restart_type::temporary)
        children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
    log::warn(spec_.name(), "child {} exited ({}); restarting ({})", c.spec.id(),
              reason_text(reason), to_string(spec_.flags().how));
    restart(i, reason);
  }

  // OTP's restart/2: count the restart first, then one function per strategy; each strategy
  // says which children stop (in reverse order) and which start again (in order).
  void restart(std::size_t i, const caf::error& reason) {
    if (!window_.add(spec_.flags())) {
      log::error(spec_.name(), "more than {} restarts within {} ms (last: {} exited: {}): "
                 "shutting down",
                 spec_.flags().intensity, spec_.flags().period.count(), children_[i].spec.id(),
                 reason_text(reason));
      begin_shutdown(caf::make_error(caf::exit_reason::user_shutdown));
      return;
    }
    std::vector<std::size_t> stops;
    std::vector<std::size_t> starts;
    switch (spec_.flags().how) {
      case strategy::one_for_one: restart_one_for_one(i, starts); break;
      case strategy::one_for_all: restart_one_for_all(i, stops, starts); break;
      case strategy::rest_for_one: restart_rest_for_one(i, stops, starts); break;
    }
    for (auto j : stops)
      plan_.push_back(step{step::stop, j});
    auto delay = detail::backoff_delay(spec_.flags(), children_[i].backoff, rng_);
    for (auto j : starts) {
      ++children_[j].restarts;
      children_[j].st = delay.count() > 0 ? status::backing_off : status::restarting;
    }
    if (delay.count() == 0) {
      for (auto j : starts)
        plan_.push_back(step{step::start, j});
    } else {
      auto token = ++generation_;
      auto& ids = backing_off_[token];
      for (auto j : starts) {
        ids.push_back(children_[j].spec.id());
        children_[j].backoff_token = token;
      }
      log::info(spec_.name(), "restarting {} in {} ms (backoff)", children_[i].spec.id(),
                delay.count());
      delayed_send(this, delay, backoff_atom::value, token);
    }
    run_plan();
  }

  void restart_one_for_one(std::size_t i, std::vector<std::size_t>& starts) {
    starts.push_back(i);
  }

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

  // Temporary children stopped by a restart of their siblings are not restarted: forget them.
  void drop_stopped_temporaries() {
    for (auto i = children_.size(); i-- > 0;)
      if (children_[i].spec.restart() == restart_type::temporary && !children_[i].handle)
        children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  void on_backoff_done(std::uint64_t token) {
    auto i = backing_off_.find(token);
    if (i == backing_off_.end())
      return;
    auto ids = std::move(i->second);
    backing_off_.erase(i);
    if (phase_ != phase::running)
      return;
    for (const auto& id : ids) {
      auto j = index_of(id);
      if (j && !children_[*j].handle && children_[*j].backoff_token == token) {
        children_[*j].backoff_token = 0;
        plan_.push_back(step{step::start, *j});
      }
    }
    run_plan();
  }

  // -- snapshots ------------------------------------------------------------------------------

  caf::result<tree_snapshot> take_snapshot() {
    struct collecting {
      tree_snapshot tree;
      std::size_t waiting = 0;
      caf::response_promise promise;
    };
    auto acc = std::make_shared<collecting>();
    acc->tree.id = spec_.name();
    acc->tree.kind = "supervisor";
    acc->tree.state = phase_ == phase::stopping ? "stopping"
                      : phase_ == phase::starting ? "starting"
                                                  : "running";
    acc->tree.actor = id();
    acc->tree.mailbox = static_cast<std::int64_t>(mailbox().size());
    for (const auto& c : children_) {
      tree_snapshot x;
      x.id = c.spec.id();
      x.kind = c.spec.kind() == child_kind::supervisor ? "supervisor" : "worker";
      x.state = to_text(c.st);
      x.restarts = c.restarts;
      if (c.handle)
        x.actor = c.handle.id();
      acc->tree.children.push_back(std::move(x));
    }
    std::vector<std::size_t> asked;
    for (std::size_t i = 0; i < children_.size(); ++i)
      if (children_[i].handle)
        asked.push_back(i);
    if (asked.empty())
      return acc->tree;
    // Only now: a response promise takes over the answer to the current request.
    acc->promise = make_response_promise();
    acc->waiting = asked.size();
    auto finish_one = [acc] {
      if (--acc->waiting == 0)
        acc->promise.deliver(acc->tree);
    };
    for (auto i : asked) {
      const auto& c = children_[i];
      if (c.spec.kind() == child_kind::supervisor) {
        request(c.handle, std::chrono::seconds(4), snapshot_atom::value)
          .then(
            [acc, i, finish_one](tree_snapshot& sub) {
              auto& slot = acc->tree.children[i];
              slot.mailbox = sub.mailbox;
              slot.children = std::move(sub.children);
              finish_one();
            },
            [finish_one](caf::error&) { finish_one(); });
      } else {
        request(c.handle, std::chrono::seconds(2), info_atom::value)
          .then(
            [acc, i, finish_one](std::int64_t mailbox, std::vector<std::string>& services) {
              auto& slot = acc->tree.children[i];
              slot.mailbox = mailbox;
              slot.services = std::move(services);
              finish_one();
            },
            [finish_one](caf::error&) { finish_one(); }); // not a microlith actor: no details
      }
    }
    return acc->promise;
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

  supervisor_spec spec_;
  caf::actor ready_to_;
  std::vector<child_state> children_;
  std::deque<step> plan_;
  std::deque<std::pair<std::string, caf::error>> deferred_; // exits decided after the plan
  detail::restart_window window_;
  std::map<std::uint64_t, std::vector<std::string>> backing_off_;
  std::minstd_rand rng_{std::random_device{}()};
  std::optional<std::size_t> starting_;
  std::optional<std::size_t> stopping_;
  std::uint64_t generation_ = 0;
  phase phase_ = phase::starting;
  bool busy_ = false;
  caf::error stop_reason_;
  caf::error last_start_error_; // why the last restart failed to start, for the logs
};

} // namespace

// -- shared rules ---------------------------------------------------------------------------

caf::error detail::validate_backoff(const std::string& name, const supervisor_flags& flags) {
  if (!flags.backoff)
    return {};
  const auto& b = *flags.backoff;
  if (b.min.count() <= 0 || b.max < b.min || b.jitter < 0.0 || b.jitter > 1.0 ||
      b.reset_after.count() <= 0)
    return make_error(errc::bad_request,
                      fmt::format("supervisor {}: backoff needs 0 < min <= max, jitter in [0, 1] "
                                  "and reset_after > 0",
                                  name));
  return {};
}

// -- child_spec -------------------------------------------------------------------------------

std::string_view to_string(restart_type x) noexcept {
  switch (x) {
    case restart_type::permanent: return "permanent";
    case restart_type::transient: return "transient";
    case restart_type::temporary: return "temporary";
  }
  return "?";
}

child_spec::child_spec(std::string id, start_function start)
  : id_(std::move(id)), start_(std::move(start)) {
}

child_spec& child_spec::restart(restart_type x) {
  restart_ = x;
  return *this;
}

child_spec& child_spec::shutdown(std::chrono::milliseconds timeout) {
  shutdown_ = shutdown_spec{shutdown_spec::mode::timeout, timeout};
  return *this;
}

child_spec& child_spec::brutal_kill() {
  shutdown_ = shutdown_spec{shutdown_spec::mode::brutal_kill, std::chrono::milliseconds{0}};
  return *this;
}

child_spec& child_spec::shutdown_infinity() {
  shutdown_ = shutdown_spec{shutdown_spec::mode::infinity, std::chrono::milliseconds{0}};
  return *this;
}

child_spec& child_spec::kind(child_kind x) {
  kind_ = x;
  if (x == child_kind::supervisor)
    shutdown_infinity();
  return *this;
}

child_spec& child_spec::await_ready(bool x) {
  awaits_ready_ = x;
  return *this;
}

// -- supervisor_spec --------------------------------------------------------------------------

std::string_view to_string(strategy x) noexcept {
  switch (x) {
    case strategy::one_for_one: return "one_for_one";
    case strategy::one_for_all: return "one_for_all";
    case strategy::rest_for_one: return "rest_for_one";
  }
  return "?";
}

supervisor_spec::supervisor_spec(std::string name) : name_(std::move(name)) {
}

supervisor_spec& supervisor_spec::strategy(microlith::strategy x) {
  flags_.how = x;
  return *this;
}

supervisor_spec& supervisor_spec::intensity(int max_restarts, std::chrono::milliseconds period) {
  flags_.intensity = max_restarts;
  flags_.period = period;
  return *this;
}

supervisor_spec& supervisor_spec::backoff(backoff_spec x) {
  flags_.backoff = x;
  return *this;
}

supervisor_spec& supervisor_spec::child(child_spec spec) {
  children_.emplace_back(std::move(spec));
  return *this;
}

caf::error supervisor_spec::validate() const {
  if (flags_.intensity < 0)
    return make_error(errc::bad_request,
                      fmt::format("supervisor {}: intensity must be >= 0, got {}", name_,
                                  flags_.intensity));
  if (flags_.period.count() <= 0)
    return make_error(errc::bad_request,
                      fmt::format("supervisor {}: period must be > 0", name_));
  if (auto err = detail::validate_backoff(name_, flags_))
    return err;
  std::set<std::string> ids;
  for (const auto& c : children_) {
    if (!c.start())
      return make_error(errc::bad_request,
                        fmt::format("supervisor {}: child {} has no start function", name_,
                                    c.id()));
    if (!ids.insert(c.id()).second)
      return make_error(errc::bad_request,
                        fmt::format("supervisor {}: two children are called {}", name_, c.id()));
  }
  return {};
}

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

caf::expected<tree_snapshot> snapshot_of(caf::actor_system& sys, const caf::actor& supervisor,
                                         std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  caf::expected<tree_snapshot> result = make_error(errc::timeout, "no snapshot");
  self->request(supervisor, timeout, snapshot_atom::value)
    .receive([&](tree_snapshot& tree) { result = std::move(tree); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

std::string to_text(const tree_snapshot& tree) {
  std::string out;
  auto line = [&](const tree_snapshot& x, int depth, auto& self) -> void {
    out += fmt::format("{:{}}{} {} {}", "", depth * 2, x.id, x.kind, x.state);
    if (depth > 0)
      out += fmt::format(" restarts={}", x.restarts);
    if (x.actor != 0)
      out += x.node.empty() ? fmt::format(" actor={}", x.actor)
                            : fmt::format(" actor={}@{}", x.actor, x.node);
    else if (depth == 0 && !x.node.empty())
      out += " node=" + x.node;
    if (x.mailbox >= 0)
      out += fmt::format(" mailbox={}", x.mailbox);
    if (!x.services.empty())
      out += fmt::format(" services={}", fmt::join(x.services, ","));
    out += '\n';
    for (const auto& c : x.children)
      self(c, depth + 1, self);
  };
  line(tree, 0, line);
  return out;
}

child_spec supervisor_child(supervisor_spec spec) {
  auto id = spec.name();
  return child_spec{std::move(id),
                    [spec = std::move(spec)](caf::event_based_actor* parent) mutable
                    -> caf::expected<caf::actor> {
                      return parent->spawn<supervisor_actor>(spec,
                                                             caf::actor_cast<caf::actor>(parent));
                    }}
    .kind(child_kind::supervisor)
    .await_ready();
}

} // namespace microlith
