#include "microlith/actors/async_caller.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/node.hpp"

#include "detail/call_errors.hpp"
#include "detail/call_port.hpp"
#include "detail/node_access.hpp"
#include "detail/node_core.hpp"

#include <caf/all.hpp>
#include <caf/default_attachable.hpp>

#include <exception>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace microlith {

namespace detail {

namespace {

/// The port whose completions this thread is running, if any, and how many of them.
thread_local const call_port* completing_port = nullptr;
thread_local int completing_count = 0;

/// While alive, `n` completions of a port, taken out of its table (and counted in `running`
/// then, under its lock), run and are destroyed on this thread; ends by uncounting them.
class completing_scope {
public:
  completing_scope(const call_port* port, std::atomic<int>& running, int n)
    : running_(running), n_(n), outer_port_(completing_port), outer_count_(completing_count) {
    completing_count = (outer_port_ == port ? outer_count_ : 0) + n;
    completing_port = port;
  }

  ~completing_scope() {
    completing_port = outer_port_;
    completing_count = outer_count_;
    running_.fetch_sub(n_, std::memory_order_release);
  }

  completing_scope(const completing_scope&) = delete;
  completing_scope& operator=(const completing_scope&) = delete;

private:
  std::atomic<int>& running_;
  int n_;
  const call_port* outer_port_;
  int outer_count_;
};

} // namespace

// -- the port -----------------------------------------------------------------------------------

call_port::call_port(caf::actor_config& cfg, node_core* core, std::string caller)
  : caf::monitorable_actor(cfg), core_(core), caller_(std::move(caller)), view_(core->registry) {}

call_port::~call_port() = default;

std::shared_ptr<call_port> call_port::make(node_core& core, std::string caller) {
  auto& sys = *core.system;
  caf::actor_config cfg;
  auto ref = caf::make_actor<call_port, caf::strong_actor_ptr>(sys.next_actor_id(), sys.node(),
                                                               &sys, cfg, &core, std::move(caller));
  auto* port = static_cast<call_port*>(caf::actor_cast<caf::abstract_actor*>(ref));
  // The ticker knows the port by address only: it keeps no port alive. (The address is an
  // argument, not a capture: CAF 0.17 spawning an argument-less function actor binds a null
  // reference.)
  port->ticker_ = sys.spawn<caf::hidden>(
    [](caf::event_based_actor*, caf::actor_addr addr) -> caf::behavior {
      return {[addr](tick_atom, clock::rep at) {
        if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(addr))
          static_cast<call_port*>(caf::actor_cast<caf::abstract_actor*>(strong))
            ->on_tick(clock::time_point{clock::duration{at}});
      }};
    },
    port->address());
  // The handle owns one strong reference; the last copy closes the port and lets it go (calls'
  // mailboxes and the clock may hold it a little longer).
  return std::shared_ptr<call_port>(port, [ref](call_port* p) { p->close(); });
}

const char* call_port::name() const {
  return caller_.c_str();
}

void call_port::on_destroy() {
  if (!getf(is_cleaned_up_flag))
    cleanup(caf::make_error(caf::exit_reason::unreachable), nullptr);
}

// -- messages, on the delivering thread ------------------------------------------------------

void call_port::enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) {
  auto& content = what->content();
  if (content.match_elements<envelope>()) {
    auto& env = content.get_mutable_as<envelope>(0);
    if (env.kind == envelope_kind::reply)
      on_reply(env);
  } else if (content.match_elements<caf::down_msg>()) {
    on_down(content.get_as<caf::down_msg>(0));
  }
  // Anything else (nobody sends it) is dropped; so is a reply to a call already completed.
}

void call_port::on_reply(envelope& env) {
  std::optional<completing_scope> scope; // ends after the completion is destroyed
  async_completion done;
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    if (!pending_.take_reply(env, done))
      return; // completed already: timed out, its callee went down, or the port closed
    running_.fetch_add(1, std::memory_order_relaxed);
  }
  scope.emplace(this, running_, 1);
  if (env.error)
    finish(done, std::move(env.error));
  else
    finish(done, std::move(env.body));
}

void call_port::on_down(const caf::down_msg& msg) {
  auto* source = caf::actor_cast<caf::actor_control_block*>(msg.source);
  std::optional<completing_scope> scope; // ends after the completions are destroyed
  std::vector<pending_calls<async_completion>::ended> failed;
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    if (!pending_.callee_down(source, msg.reason, failed))
      return;
    running_.fetch_add(static_cast<int>(failed.size()), std::memory_order_relaxed);
  }
  scope.emplace(this, running_, static_cast<int>(failed.size()));
  finish(failed);
}

void call_port::on_tick(clock::time_point at) {
  auto now = clock::now();
  std::optional<completing_scope> scope; // ends after the completions are destroyed
  std::vector<pending_calls<async_completion>::ended> expired;
  auto next = clock::time_point::max();
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    if (closed_)
      return;
    // In deadline order (calls with the same deadline in call order), as punctual ticks would
    // have completed them: a late tick that finds several expired does not reorder them. A
    // stale tick (an earlier one was armed after it) ends nothing and arms nothing.
    next = pending_.expire(at, now, expired);
    if (expired.empty() && next == clock::time_point::max())
      return;
    // The tick itself counts too: close() must not return while it still uses the clock.
    running_.fetch_add(static_cast<int>(expired.size()) + 1, std::memory_order_relaxed);
  }
  scope.emplace(this, running_, static_cast<int>(expired.size()) + 1);
  if (next != clock::time_point::max())
    schedule_tick(next);
  finish(expired);
}

void call_port::schedule_tick(clock::time_point at) {
  core_->system->clock().schedule_message(at, caf::actor_cast<caf::strong_actor_ptr>(ticker_),
                                          caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                                                    {}, tick_atom::value,
                                                                    at.time_since_epoch().count()));
}

void call_port::finish(std::vector<pending_calls<async_completion>::ended>& ended) {
  for (auto& call : ended)
    finish(call.done, std::move(call.error));
}

void call_port::finish(async_completion& done, caf::expected<message_ptr> result) {
  if (!done)
    return;
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    log::error("async_caller", "a completion threw: {}", e.what());
  } catch (...) {
    log::error("async_caller", "a completion threw an exception that is not a std::exception");
  }
}

// -- calls, on the calling thread -------------------------------------------------------------

void call_port::call(std::string service, std::string method, message_ptr body,
                     async_call_options options, toggle_overrides given, async_completion done,
                     toggle_snapshot_ptr toggles) {
  auto now = clock::now();
  caf::actor dest;
  auto deadline = now;
  pending_calls<async_completion>::added added;
  // The request enters the node here: it captures the values in force and its overrides are
  // checked against them (refused at once when wrong, dropped and counted when not honoured).
  if (!toggles)
    toggles = core_->toggles.current();
  toggle_overrides_ptr overrides;
  if (auto err = core_->overrides.admit_given(std::move(given), *toggles, overrides)) {
    finish(done, make_error(errc::invalid_argument,
                            fmt::format("{}.{}: {}", service, method, message_of(err))));
    return;
  }
  {
    std::unique_lock<std::mutex> guard{calls_mutex_};
    if (closed_) {
      guard.unlock();
      finish(done, caller_refused_error(service, method, caller_));
      return;
    }
    deadline += options.timeout.count() > 0 ? options.timeout : core_->default_timeout;
    dest = view_.resolve(service);
    if (!dest) {
      guard.unlock();
      finish(done, no_instance_error(service));
      return;
    }
    added = pending_.add(dest, now, deadline, service, method, std::move(done));
    running_.fetch_add(1, std::memory_order_relaxed);
  }
  // Counted until the envelope is sent: close() does not return while this call still uses
  // the callee, the clock or the system.
  completing_scope sending{this, running_, 1};
  // Outside the lock: attaching to an actor that is already gone delivers its down message at
  // once, on this thread.
  if (added.watch_callee)
    caf::actor_cast<caf::abstract_actor*>(dest)->attach(
      caf::default_attachable::make_monitor(dest.address(), address()));
  if (added.arm)
    schedule_tick(deadline);
  metadata meta{std::move(options.correlation_id),
                caller_,
                deadline,
                0,
                std::move(options.idempotency_key),
                std::move(toggles),
                std::move(overrides)};
  meta.job_id = options.job_id;
  meta.job_attempt = options.job_attempt;
  meta.traced = options.traced || options.trace_forced;
  meta.trace_forced = options.trace_forced;
  meta.parent_span = meta.traced ? options.parent_span : 0;
  auto env =
    make_call(added.id, std::move(service), std::move(method), std::move(body), std::move(meta));
  // One allocation: the envelope goes straight into the mailbox element; the port is the
  // sender, so the callee answers it directly.
  dest->enqueue(caf::make_mailbox_element(caf::strong_actor_ptr{ctrl()}, caf::make_message_id(), {},
                                          std::move(env)),
                nullptr);
  dest = nullptr; // released before `sending` ends
}

void call_port::close() {
  std::vector<pending_calls<async_completion>::ended> dropped;
  std::vector<caf::actor_addr> monitored;
  std::optional<registry_view> old_view; // released after the lock: it may hold the last
                                         // reference to an actor
  bool first = false; // this close() closes the port; a later or concurrent one only waits
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    if (!closed_) {
      first = true;
      closed_ = true;
      pending_.drop_all(caller_, dropped, monitored);
      old_view.emplace(std::move(view_));
      view_ = registry_view{core_->registry}; // holds no snapshot until a lookup
      running_.fetch_add(static_cast<int>(dropped.size()), std::memory_order_relaxed);
    }
  }
  if (first) {
    completing_scope scope{this, running_, static_cast<int>(dropped.size())};
    caf::anon_send_exit(ticker_, caf::exit_reason::user_shutdown);
    caf::default_attachable::observe_token token{address(), caf::default_attachable::monitor};
    for (auto& addr : monitored)
      if (auto ptr = caf::actor_cast<caf::strong_actor_ptr>(addr))
        ptr->get()->detach(token);
    finish(dropped);
    dropped.clear();
  }
  // Completions other threads took out of the table before the close finish (and are
  // destroyed) before it returns; those running on this very thread cannot be waited for.
  auto own = completing_port == this ? completing_count : 0;
  while (running_.load(std::memory_order_acquire) > own)
    std::this_thread::yield();
  // Terminated: if the port was ever named to another node, the actor registry lets go of it.
  if (first)
    cleanup(caf::make_error(caf::exit_reason::normal), nullptr);
}

std::size_t call_port::in_flight() const {
  std::lock_guard<std::mutex> guard{calls_mutex_};
  return pending_.size();
}

} // namespace detail

// -- async_caller ---------------------------------------------------------------------------

async_caller::async_caller(node& host, std::string caller)
  : port_(detail::call_port::make(detail::node_access::core(host), std::move(caller))) {}

void async_caller::call(std::string service, std::string method, message_ptr body,
                        async_call_options options, async_completion done,
                        std::shared_ptr<const toggle_snapshot> toggles) const {
  if (!port_) {
    if (done)
      done(detail::no_caller_error(service, method));
    return;
  }
  port_->call(std::move(service), std::move(method), std::move(body), std::move(options), {},
              std::move(done), std::move(toggles));
}

void async_caller::call(std::string service, std::string method, message_ptr body,
                        async_call_options options, toggle_overrides overrides,
                        async_completion done,
                        std::shared_ptr<const toggle_snapshot> toggles) const {
  if (!port_) {
    if (done)
      done(detail::no_caller_error(service, method));
    return;
  }
  port_->call(std::move(service), std::move(method), std::move(body), std::move(options),
              std::move(overrides), std::move(done), std::move(toggles));
}

void async_caller::close() const {
  if (port_)
    port_->close();
}

std::size_t async_caller::in_flight() const {
  return port_ ? port_->in_flight() : 0;
}

const std::string& async_caller::name() const noexcept {
  static const std::string none;
  return port_ ? port_->caller() : none;
}

} // namespace microlith
