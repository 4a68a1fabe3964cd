#include "microlith/actors/async_caller.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/node.hpp"

#include "detail/call_port.hpp"
#include "detail/node_access.hpp"
#include "detail/node_core.hpp"

#include <caf/all.hpp>
#include <caf/default_attachable.hpp>

#include <fmt/format.h>

#include <algorithm>
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

long long millis(clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

} // namespace

// -- the table of pending calls ---------------------------------------------------------------

std::uint64_t pending_table::insert(entry&& e) {
  std::size_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = slots_.size();
    slots_.emplace_back();
  }
  auto& s = slots_[index];
  s.e = std::move(e);
  s.used = true;
  ++size_;
  return (std::uint64_t{s.generation} << 32) | index;
}

pending_table::entry* pending_table::find(std::uint64_t id) noexcept {
  auto index = static_cast<std::size_t>(id & 0xffffffffu);
  if (index >= slots_.size())
    return nullptr;
  auto& s = slots_[index];
  if (!s.used || s.generation != static_cast<std::uint32_t>(id >> 32))
    return nullptr;
  return &s.e;
}

void pending_table::erase(std::uint64_t id) {
  release(static_cast<std::size_t>(id & 0xffffffffu));
}

void pending_table::release(std::size_t index) {
  auto& s = slots_[index];
  s.used = false;
  s.e.done = nullptr;
  ++s.generation;
  --size_;
  free_.push_back(static_cast<std::uint32_t>(index));
}

// -- the port -----------------------------------------------------------------------------------

call_port::call_port(caf::actor_config& cfg, node_core* core, std::string caller)
  : caf::monitorable_actor(cfg), core_(core), caller_(std::move(caller)), view_(core->registry) {
}

call_port::~call_port() = default;

std::shared_ptr<call_port> call_port::make(node_core& core, std::string caller) {
  auto& sys = *core.system;
  caf::actor_config cfg;
  auto ref = caf::make_actor<call_port, caf::strong_actor_ptr>(sys.next_actor_id(), sys.node(),
                                                                &sys, cfg, &core,
                                                                std::move(caller));
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
  std::string service;
  std::string method;
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    auto* entry = pending_.find(env.call_id);
    if (entry == nullptr)
      return; // completed already: timed out, its callee went down, or the port closed
    done = std::move(entry->done);
    if (!env.undecodable.empty()) {
      service = entry->service;
      method = entry->method;
    }
    pending_.erase(env.call_id);
    running_.fetch_add(1, std::memory_order_relaxed);
  }
  scope.emplace(this, running_, 1);
  if (!env.undecodable.empty() && !env.error)
    env.error = make_error(errc::bad_request,
                           fmt::format("the answer of {}.{} cannot be read: {}", service, method,
                                       env.undecodable));
  if (env.error)
    finish(done, std::move(env.error));
  else
    finish(done, std::move(env.body));
}

void call_port::on_down(const caf::down_msg& msg) {
  auto* source = caf::actor_cast<caf::actor_control_block*>(msg.source);
  std::optional<completing_scope> scope; // ends after the completions are destroyed
  std::vector<pending_call> failed;
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    if (monitored_.erase(source) == 0)
      return;
    failed = pending_.take_if([source](const pending_call& e) { return e.callee == source; });
    running_.fetch_add(static_cast<int>(failed.size()), std::memory_order_relaxed);
  }
  scope.emplace(this, running_, static_cast<int>(failed.size()));
  if (failed.empty())
    return;
  auto reason = msg.reason ? describe(msg.reason) : std::string{"normal exit"};
  for (auto& entry : failed)
    finish(entry.done,
           make_error(errc::service_down,
                      fmt::format("the instance of {} serving {}.{} went down ({})",
                                  entry.service, entry.service, entry.method, reason)));
}

void call_port::on_tick(clock::time_point at) {
  auto now = clock::now();
  std::optional<completing_scope> scope; // ends after the completions are destroyed
  std::vector<pending_call> expired;
  auto earliest = clock::time_point::max();
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    // Closed, or stale: an earlier tick was armed after this one, and the tick handled then
    // armed the next one. Only the armed tick re-arms, so ticks never multiply.
    if (closed_ || at != armed_until_)
      return;
    armed_until_ = clock::time_point::max();
    expired = pending_.take_if([now](const pending_call& e) { return e.deadline <= now; });
    // In deadline order (calls with the same deadline in call order), as punctual ticks would
    // have completed them: a late tick that finds several expired does not reorder them.
    std::stable_sort(expired.begin(), expired.end(),
                     [](const pending_call& x, const pending_call& y) {
                       return x.deadline < y.deadline;
                     });
    pending_.for_each(
      [&earliest](const pending_call& e) { earliest = std::min(earliest, e.deadline); });
    if (earliest != clock::time_point::max())
      armed_until_ = earliest;
    // The tick itself counts too: close() must not return while it still uses the clock.
    running_.fetch_add(static_cast<int>(expired.size()) + 1, std::memory_order_relaxed);
  }
  scope.emplace(this, running_, static_cast<int>(expired.size()) + 1);
  if (earliest != clock::time_point::max())
    schedule_tick(earliest);
  for (auto& entry : expired)
    finish(entry.done,
           make_error(errc::timeout,
                      fmt::format("{}.{} did not answer within its deadline ({} ms late)",
                                  entry.service, entry.method, millis(now - entry.deadline))));
}

void call_port::schedule_tick(clock::time_point at) {
  core_->system->clock().schedule_message(
    at, caf::actor_cast<caf::strong_actor_ptr>(ticker_),
    caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, tick_atom::value,
                              at.time_since_epoch().count()));
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
                     async_call_options options, async_completion done) {
  auto now = clock::now();
  caf::actor dest;
  std::uint64_t id = 0;
  auto deadline = now;
  bool new_callee = false;
  bool arm = false;
  {
    std::unique_lock<std::mutex> guard{calls_mutex_};
    if (closed_) {
      guard.unlock();
      finish(done, make_error(errc::service_unavailable,
                              fmt::format("{}.{}: the caller {} is closed", service, method,
                                          caller_)));
      return;
    }
    deadline += options.timeout.count() > 0 ? options.timeout : core_->default_timeout;
    dest = view_.resolve(service);
    if (!dest) {
      guard.unlock();
      finish(done, make_error(errc::service_unavailable,
                              fmt::format("no instance of service {} is running", service)));
      return;
    }
    auto* callee = caf::actor_cast<caf::actor_control_block*>(dest);
    id = pending_.insert({++calls_made_, callee, deadline, service, method, std::move(done)});
    if (monitored_.find(callee) == monitored_.end()) {
      monitored_.emplace(callee, dest.address());
      new_callee = true;
    }
    if (deadline < armed_until_) {
      armed_until_ = deadline;
      arm = true;
    }
    running_.fetch_add(1, std::memory_order_relaxed);
  }
  // Counted until the envelope is sent: close() does not return while this call still uses
  // the callee, the clock or the system.
  completing_scope sending{this, running_, 1};
  // Outside the lock: attaching to an actor that is already gone delivers its down message at
  // once, on this thread.
  if (new_callee)
    caf::actor_cast<caf::abstract_actor*>(dest)->attach(
      caf::default_attachable::make_monitor(dest.address(), address()));
  if (arm)
    schedule_tick(deadline);
  auto env = make_call(id, std::move(service), std::move(method), std::move(body),
                       {std::move(options.correlation_id), caller_, deadline, 0,
                        std::move(options.idempotency_key)});
  // One allocation: the envelope goes straight into the mailbox element; the port is the
  // sender, so the callee answers it directly.
  dest->enqueue(caf::make_mailbox_element(caf::strong_actor_ptr{ctrl()}, caf::make_message_id(),
                                          {}, std::move(env)),
                nullptr);
  dest = nullptr; // released before `sending` ends
}

void call_port::close() {
  std::vector<pending_call> dropped;
  std::unordered_map<const caf::actor_control_block*, caf::actor_addr> monitors;
  std::optional<registry_view> old_view; // released after the lock: it may hold the last
                                         // reference to an actor
  bool first = false; // this close() closes the port; a later or concurrent one only waits
  {
    std::lock_guard<std::mutex> guard{calls_mutex_};
    if (!closed_) {
      first = true;
      closed_ = true;
      dropped = pending_.take_if([](const pending_call&) { return true; });
      monitors.swap(monitored_);
      old_view.emplace(std::move(view_));
      view_ = registry_view{core_->registry}; // holds no snapshot until a lookup
      running_.fetch_add(static_cast<int>(dropped.size()), std::memory_order_relaxed);
    }
  }
  if (first) {
    completing_scope scope{this, running_, static_cast<int>(dropped.size())};
    caf::anon_send_exit(ticker_, caf::exit_reason::user_shutdown);
    caf::default_attachable::observe_token token{address(), caf::default_attachable::monitor};
    for (auto& [callee, addr] : monitors)
      if (auto ptr = caf::actor_cast<caf::strong_actor_ptr>(addr))
        ptr->get()->detach(token);
    for (auto& entry : dropped)
      finish(entry.done,
             make_error(errc::service_unavailable,
                        fmt::format("the call to {}.{} was dropped: its caller {} closed",
                                    entry.service, entry.method, caller_)));
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
  : port_(detail::call_port::make(detail::node_access::core(host), std::move(caller))) {
}

void async_caller::call(std::string service, std::string method, message_ptr body,
                        async_call_options options, async_completion done) const {
  if (!port_) {
    if (done)
      done(make_error(errc::service_unavailable,
                      fmt::format("{}.{}: no caller to make the call through", service, method)));
    return;
  }
  port_->call(std::move(service), std::move(method), std::move(body), std::move(options),
              std::move(done));
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
