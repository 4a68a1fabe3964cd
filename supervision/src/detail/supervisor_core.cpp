// The shared part of both supervisor actors (see supervisor_core.hpp).
#include "detail/supervisor_core.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/supervision/atoms.hpp"

#include <caf/all.hpp>

#include <memory>

namespace microlith::detail {

const char* to_text(child_status x) noexcept {
  switch (x) {
    case child_status::stopped: return "stopped";
    case child_status::starting: return "starting";
    case child_status::running: return "running";
    case child_status::stopping: return "stopping";
    case child_status::restarting: return "restarting";
    case child_status::backing_off: return "backing_off";
  }
  return "?";
}

void last_exit::note(const caf::error& exit) {
  if (is_normal_exit(exit))
    return;
  reason = exit_text(exit);
  unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count();
}

supervisor_core::supervisor_core(caf::actor_config& cfg, std::string name, supervisor_flags flags)
  : caf::event_based_actor(cfg), name_(std::move(name)), flags_(std::move(flags)) {}

const char* supervisor_core::name() const {
  return name_.c_str();
}

void supervisor_core::refuse_to_run(const caf::error& err) {
  log::error(name_, "cannot start: {}", describe(err));
  quit(err);
}

void supervisor_core::ask_to_stop(const caf::actor& child, const shutdown_spec& how,
                                  std::uint64_t key, std::uint64_t generation, bool kill_timer) {
  if (how.how == shutdown_spec::mode::brutal_kill) {
    signal_exit(child, caf::exit_reason::kill, this);
    return;
  }
  signal_exit(child, caf::exit_reason::user_shutdown, this);
  if (kill_timer && how.how == shutdown_spec::mode::timeout)
    delayed_send(this, how.timeout, kill_timer_atom::value, key, generation);
}

void supervisor_core::kill_late(const std::string& id, const caf::actor& child,
                                std::chrono::milliseconds timeout) {
  log::warn(name_, "child {} did not stop within {} ms: killing it", id, timeout.count());
  signal_exit(child, caf::exit_reason::kill, this);
}

bool supervisor_core::count_restart(const std::string& id, const caf::error& reason) {
  if (window_.add(flags_))
    return true;
  log::error(name_, "more than {} restarts within {} ms (last: {} exited: {}): shutting down",
             flags_.intensity, flags_.period.count(), id, reason_text(reason));
  return false;
}

std::chrono::milliseconds supervisor_core::backoff_delay_for(backoff_account& account) {
  return backoff_delay(flags_, account, rng_);
}

caf::error supervisor_core::stop_reason(const caf::exit_msg& msg) {
  return msg.reason ? msg.reason : caf::make_error(caf::exit_reason::user_shutdown);
}

caf::error supervisor_core::shutting_down() const {
  return make_error(errc::service_unavailable, name_ + " is shutting down");
}

tree_snapshot supervisor_core::snapshot_root(const char* state) {
  tree_snapshot tree;
  tree.id = name_;
  tree.kind = "supervisor";
  tree.state = state;
  tree.actor = id();
  tree.mailbox = static_cast<std::int64_t>(mailbox().size());
  return tree;
}

tree_snapshot supervisor_core::child_entry(std::string id, child_kind kind, child_status st,
                                           std::uint32_t restarts, const caf::actor& handle,
                                           const last_exit& exit) {
  tree_snapshot x;
  x.id = std::move(id);
  x.kind = kind == child_kind::supervisor ? "supervisor" : "worker";
  x.state = to_text(st);
  x.restarts = restarts;
  if (handle)
    x.actor = handle.id();
  x.last_exit_reason = exit.reason;
  x.last_exit_unix_ms = exit.unix_ms;
  return x;
}

caf::result<tree_snapshot> supervisor_core::answer_snapshot(
  tree_snapshot tree, const std::vector<std::tuple<std::size_t, caf::actor, child_kind>>& asked) {
  if (asked.empty())
    return tree;
  struct collecting {
    tree_snapshot tree;
    std::size_t waiting = 0;
    caf::response_promise promise;
  };
  auto acc = std::make_shared<collecting>();
  acc->tree = std::move(tree);
  // Only now: a response promise takes over the answer to the current request.
  acc->promise = make_response_promise();
  acc->waiting = asked.size();
  auto finish_one = [acc] {
    if (--acc->waiting == 0)
      acc->promise.deliver(acc->tree);
  };
  for (const auto& [i, handle, kind] : asked) {
    auto slot_at = i;
    if (kind == child_kind::supervisor) {
      request(handle, std::chrono::seconds(4), snapshot_atom::value)
        .then(
          [acc, slot_at, finish_one](tree_snapshot& sub) {
            auto& slot = acc->tree.children[slot_at];
            slot.mailbox = sub.mailbox;
            slot.children = std::move(sub.children);
            finish_one();
          },
          [finish_one](caf::error&) { finish_one(); });
    } else {
      request(handle, std::chrono::seconds(2), info_atom::value)
        .then(
          [acc, slot_at, finish_one](std::int64_t mailbox, std::vector<std::string>& services) {
            auto& slot = acc->tree.children[slot_at];
            slot.mailbox = mailbox;
            slot.services = std::move(services);
            finish_one();
          },
          [finish_one](caf::error&) { finish_one(); }); // not a microlith actor: no details
    }
  }
  return acc->promise;
}

child_info supervisor_core::info_of(std::string id, child_kind kind, child_status st,
                                    const caf::actor& handle) {
  child_info x;
  x.id = std::move(id);
  x.actor = handle;
  x.restarting = !handle && waits_for_restart(st);
  x.kind = kind;
  return x;
}

void supervisor_core::count(child_counts& counts, child_kind kind,
                            const caf::actor& handle) noexcept {
  ++counts.specs;
  if (handle)
    ++counts.active;
  if (kind == child_kind::supervisor)
    ++counts.supervisors;
  else
    ++counts.workers;
}

} // namespace microlith::detail
