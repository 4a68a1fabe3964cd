#include "test_children.hpp"

#include "support/two_threads.hpp"

#include <microlith/actors/atoms.hpp>
#include <microlith/actors/error.hpp>

#include <algorithm>
#include <stdexcept>

namespace unit_supervision {

// -- event_log ----------------------------------------------------------------------------------

void event_log::add(std::string event) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    events_.emplace_back(std::move(event), steady::now());
  }
  changed_.notify_all();
}

std::vector<std::string> event_log::events() const {
  return events_since(0);
}

std::vector<std::string> event_log::events_since(std::size_t first) const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::string> out;
  for (auto i = first; i < events_.size(); ++i)
    out.push_back(events_[i].first);
  return out;
}

std::string event_log::dump() const {
  std::string out;
  for (const auto& x : events())
    out += (out.empty() ? "" : ", ") + x;
  return "events: " + out;
}

std::size_t event_log::size() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return events_.size();
}

std::size_t event_log::count(const std::string& event) const {
  std::lock_guard<std::mutex> guard{mutex_};
  return static_cast<std::size_t>(
    std::count_if(events_.begin(), events_.end(), [&](const auto& x) { return x.first == event; }));
}

std::optional<steady::time_point> event_log::time_of(const std::string& event,
                                                     std::size_t nth) const {
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto& x : events_)
    if (x.first == event && --nth == 0)
      return x.second;
  return std::nullopt;
}

bool event_log::wait_for(const std::string& event, std::size_t n,
                         std::chrono::milliseconds limit) const {
  std::unique_lock<std::mutex> guard{mutex_};
  return changed_.wait_for(guard, limit, [&] {
    return static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(),
                                                  [&](const auto& x) { return x.first == event; }))
           >= n;
  });
}

void event_log::gone(const std::string& id) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    ++gone_[id];
  }
  changed_.notify_all();
}

bool event_log::wait_gone(const std::string& id, std::size_t n,
                          std::chrono::milliseconds limit) const {
  std::unique_lock<std::mutex> guard{mutex_};
  return changed_.wait_for(guard, limit, [&] {
    auto i = gone_.find(id);
    return i != gone_.end() && i->second >= n;
  });
}

void event_log::set_handle(const std::string& id, caf::actor handle) {
  std::lock_guard<std::mutex> guard{mutex_};
  handles_[id] = std::move(handle);
}

caf::actor event_log::handle(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = handles_.find(id);
  return i == handles_.end() ? caf::actor{} : i->second;
}

void event_log::set_reason(const std::string& id, std::string reason) {
  std::lock_guard<std::mutex> guard{mutex_};
  reasons_[id] = std::move(reason);
}

std::string event_log::reason(const std::string& id) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = reasons_.find(id);
  return i == reasons_.end() ? std::string{} : i->second;
}

void event_log::drop_handles() {
  std::lock_guard<std::mutex> guard{mutex_};
  handles_.clear();
}

// -- the test child -----------------------------------------------------------------------------

namespace {

class test_child final : public caf::event_based_actor {
public:
  test_child(caf::actor_config& cfg, std::shared_ptr<event_log> log, std::string id,
             child_mode mode, caf::actor_addr parent)
    : caf::event_based_actor(cfg), log_(std::move(log)), id_(std::move(id)), mode_(mode),
      parent_(std::move(parent)) {}

  const char* name() const override { return id_.c_str(); }

  caf::behavior make_behavior() override {
    if (mode_.trap_exits)
      set_exit_handler([this](caf::exit_msg& msg) {
        // Ignores everything but kill, which CAF never lets a handler see.
        log_->add("exit-signal " + id_);
        static_cast<void>(msg);
      });
    if (mode_.die_at_start) {
      quit(caf::make_error(caf::sec::runtime_error));
      return {};
    }
    if (mode_.ready == ready_mode::at_once)
      tell_ready();
    return {
      [this](crash_atom) { quit(caf::make_error(caf::sec::runtime_error)); },
      [this](finish_atom) { quit(); },
      [this](go_atom) { tell_ready(); },
    };
  }

  void on_exit() override {
    log_->set_reason(id_, reason_name(fail_state()));
    log_->add("stop " + id_);
  }

private:
  void tell_ready() {
    if (auto parent = caf::actor_cast<caf::actor>(parent_))
      send(parent, microlith::ready_atom::value);
  }

  std::shared_ptr<event_log> log_;
  std::string id_;
  child_mode mode_;
  caf::actor_addr parent_;
};

} // namespace

microlith::start_function start_child(std::shared_ptr<event_log> log, std::string id,
                                      child_mode mode) {
  return start_child(std::move(log), std::move(id), [mode](int) { return mode; });
}

microlith::start_function start_child(std::shared_ptr<event_log> log, std::string id,
                                      mode_plan plan) {
  auto incarnations = std::make_shared<int>(0);
  return [log, id, plan, incarnations](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
    auto mode = plan(++*incarnations);
    auto child = sup->spawn<test_child>(log, id, mode, sup->address());
    // Attached before the supervisor monitors the child, so it runs after the supervisor's down
    // message has been sent.
    child->attach_functor([log, id](const caf::error&) { log->gone(id); });
    // The handle first: a test that saw the start event may use it at once.
    log->set_handle(id, child);
    log->add("start " + id);
    return child;
  };
}

microlith::start_function failing_start(std::shared_ptr<event_log> log, std::string id,
                                        caf::error err) {
  return [log, id, err](caf::event_based_actor*) -> caf::expected<caf::actor> {
    log->add("start-failed " + id);
    return err;
  };
}

microlith::start_function throwing_start(std::shared_ptr<event_log> log, std::string id,
                                         std::string what) {
  return [log, id, what](caf::event_based_actor*) -> caf::expected<caf::actor> {
    log->add("start-failed " + id);
    throw std::runtime_error(what);
  };
}

microlith::child_spec recorded_supervisor_child(std::shared_ptr<event_log> log,
                                                microlith::supervisor_spec sub) {
  auto base = microlith::supervisor_child(std::move(sub));
  auto inner = base.start();
  auto name = base.id();
  return microlith::child(
           name,
           [log, inner, name](caf::event_based_actor* parent) -> caf::expected<caf::actor> {
             // Before the spawn: the nested supervisor starts its own
             // children as soon as it runs.
             log->add("start " + name);
             auto started = inner(parent);
             if (started && *started) {
               (*started)->attach_functor([log, name](const caf::error&) { log->gone(name); });
               log->set_handle(name, *started);
             }
             return started;
           })
    .kind(microlith::child_kind::supervisor)
    .await_ready();
}

// -- helpers ------------------------------------------------------------------------------------

std::optional<caf::error> wait_exit(caf::actor_system& sys, const caf::actor& actor,
                                    std::chrono::milliseconds limit) {
  caf::scoped_actor self{sys};
  self->monitor(actor);
  std::optional<caf::error> reason;
  self->receive(
    [&](caf::down_msg& msg) {
      if (msg.source == actor.address())
        reason = msg.reason;
    },
    caf::after(limit) >> [] {});
  return reason;
}

std::string reason_name(const caf::error& reason) {
  if (!reason || reason == caf::exit_reason::normal)
    return "normal";
  if (reason == caf::exit_reason::kill)
    return "kill";
  if (reason == caf::exit_reason::user_shutdown)
    return "user_shutdown";
  if (reason == caf::sec::runtime_error)
    return "runtime_error";
  return microlith::describe(reason);
}

long long millis_between(steady::time_point from, steady::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// -- fixture ------------------------------------------------------------------------------------

supervision_fixture::supervision_fixture()
  : node(test_support::two_threads()), log(std::make_shared<event_log>()) {}

supervision_fixture::~supervision_fixture() {
  for (auto& sup : supervisors)
    caf::anon_send_exit(sup, caf::exit_reason::kill);
  for (auto& sup : supervisors)
    wait_exit(node.system(), sup, std::chrono::seconds{5});
  supervisors.clear();
  log->drop_handles();
}

caf::actor supervision_fixture::start(microlith::supervisor_spec spec) {
  auto name = spec.name();
  auto sup = microlith::start_supervisor(node.system(), std::move(spec));
  if (!sup)
    throw std::runtime_error("supervisor " + name
                             + " did not start: " + microlith::describe(sup.error()));
  track(*sup);
  return *sup;
}

void supervision_fixture::track(caf::actor sup) {
  supervisors.push_back(std::move(sup));
}

} // namespace unit_supervision
