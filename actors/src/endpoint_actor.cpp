#include "detail/endpoint_actor.hpp"

#include "detail/call_errors.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/detail/outside_calls.hpp"
#include "microlith/actors/log.hpp"

#include <caf/all.hpp>

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <exception>
#include <utility>

namespace microlith::detail {

namespace {

std::string what_of(const std::exception_ptr& eptr) {
  try {
    std::rethrow_exception(eptr);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

} // namespace

// -- reply slots ----------------------------------------------------------------------------

reply_slot::~reply_slot() {
  if (owner == nullptr)
    return;
  owner->forget(this);
  if (!answered && owner->handling(call_id)) {
    // Its handler is still running (returning, or unwinding an exception): it answers.
    owner->note_dropped_in_handler();
    return;
  }
  if (!answered && owner->abandoned_with()) // a continuation that failed dropped it
    owner->answer(reply_to, call_id, method, nullptr, owner->abandoned_with(), served);
  else if (!answered)
    owner->answer(
      reply_to, call_id, method, nullptr,
      make_error(errc::remote_error, fmt::format("{}.{} dropped its promise without answering",
                                                 owner->service_name(), method)),
      served);
}

start_slot::~start_slot() {
  if (owner != nullptr && !done)
    owner->finish_start(
      make_error(errc::service_unavailable, "its start gate was dropped without being opened"));
}

// -- construction and lifecycle -------------------------------------------------------------

endpoint_actor::endpoint_actor(caf::actor_config& cfg, node_core* core, service_definition def,
                               caf::actor ready_to)
  : caf::event_based_actor(cfg), core_(core), def_(std::move(def)), ready_to_(std::move(ready_to)),
    view_(core->registry) {}

endpoint_actor::~endpoint_actor() = default;

const char* endpoint_actor::name() const {
  return def_.name.c_str();
}

caf::behavior endpoint_actor::make_behavior() {
  set_down_handler([this](caf::down_msg& msg) {
    on_down(msg);
    after_message();
  });
  set_exception_handler([this](std::exception_ptr& eptr) -> caf::error {
    auto what = what_of(eptr);
    log::error(def_.name, "crashed: {}", what);
    return caf::make_error(caf::sec::runtime_error, def_.name + " crashed: " + what);
  });
  try {
    start();
  } catch (...) {
    auto what = what_of(std::current_exception());
    log::error(def_.name, "failed to start: {}", what);
    quit(caf::make_error(caf::sec::runtime_error, def_.name + " failed to start: " + what));
    return {};
  }
  return {
    [this](envelope& env) {
      if (env.kind == envelope_kind::reply)
        on_reply(env);
      else if (env.kind == envelope_kind::publish)
        on_published(env);
      else if (pass_to_)
        pass_on(env, current_sender());
      else if (deferred_start_ != nullptr || awaiting_state_)
        early_.emplace_back(std::move(env), current_sender()); // served once started
      else
        on_request(env, current_sender());
      after_message();
    },
    [this](tick_atom, clock::rep at) {
      on_tick(clock::time_point{clock::duration{at}});
      after_message();
    },
    [this](drain_atom) { return drain(); },
    [this](retire_atom, caf::actor& successor) { return retire(std::move(successor)); },
    [this](import_atom, std::string& type, std::string& bytes) {
      return import_state(type, bytes);
    },
    [this](commit_atom) { commit(); },
    [this](abandon_atom, caf::actor& predecessor) { abandon(std::move(predecessor)); },
    [this](resume_atom) { resume(); },
    [this](info_atom) {
      std::vector<std::string> services;
      if (registered_)
        services.push_back(def_.name);
      return caf::make_message(static_cast<std::int64_t>(mailbox().size()), std::move(services));
    },
  };
}

void endpoint_actor::start() {
  for (const auto& h : def_.handlers)
    by_method_.emplace(h.method, &h);
  if (core_->metrics.enabled) {
    cells_.reserve(def_.handlers.size());
    for (const auto& h : def_.handlers)
      cells_.push_back(core_->metrics.acquire(def_.name, h.method));
  }
  metadata meta;
  meta.caller = def_.name;
  call_context ctx{this, std::move(meta)};
  building_ = true;
  try {
    state_ = def_.make_state(ctx);
  } catch (...) {
    building_ = false;
    throw;
  }
  building_ = false;
  if (deferred_start_ == nullptr)
    complete_start();
}

void endpoint_actor::complete_start() {
  // Started by a replace whose predecessor hands over its state: registered (requests reach it
  // and wait) but serving nothing until the state is in (handover.hpp).
  if (def_.handover && !def_.contract.empty() && core_->handovers.expects(def_.name))
    awaiting_state_ = true;
  if (!def_.contract.empty()) {
    core_->registry.record_contract(def_.name, def_.contract);
    core_->registry.add(def_.name, caf::actor_cast<caf::actor>(this));
    registered_ = true;
  }
  if (ready_to_) {
    send(ready_to_, ready_atom::value);
    ready_to_ = nullptr;
  }
}

std::shared_ptr<start_slot> endpoint_actor::defer_start() {
  if (!building_)
    throw std::logic_error(def_.name + ": defer_start() must be called while the state is built");
  if (deferred_start_ != nullptr)
    throw std::logic_error(def_.name + ": defer_start() called twice");
  auto slot = std::make_shared<start_slot>();
  slot->owner = this;
  deferred_start_ = slot.get();
  return slot;
}

void endpoint_actor::finish_start(caf::error err) {
  if (deferred_start_ == nullptr)
    return;
  deferred_start_->done = true;
  deferred_start_->owner = nullptr;
  deferred_start_ = nullptr;
  if (err) {
    log::error(def_.name, "failed to start: {}", describe(err));
    early_.clear();
    quit(std::move(err));
    return;
  }
  complete_start();
  auto early = std::move(early_);
  early_.clear();
  for (auto& [env, sender] : early)
    on_request(env, std::move(sender));
}

void endpoint_actor::on_exit() {
  if (retired_.pending())
    retired_.deliver(
      make_error(errc::service_down, fmt::format("{} stopped before it handed over", def_.name)));
  retired_ = caf::response_promise{};
  pass_to_ = nullptr;
  for (auto& rp : drained_)
    rp.deliver(make_error(errc::service_down, fmt::format("{} stopped", def_.name)));
  drained_.clear();
  if (deferred_start_ != nullptr) {
    deferred_start_->owner = nullptr;
    deferred_start_ = nullptr;
  }
  early_.clear();
  release_cells();
  // Callers of requests still unanswered learn of this exit from their monitors (service_down);
  // promises outliving the actor must not answer anything else.
  for (auto* slot : slots_)
    slot->owner = nullptr;
  slots_.clear();
  if (registered_) {
    core_->registry.remove(def_.name, address());
    registered_ = false;
  }
  if (!topics_.empty()) {
    core_->topics.unsubscribe_all(address());
    topics_.clear();
  }
  pending_.clear();
  state_.reset();
  view_ = registry_view{core_->registry}; // drops the snapshot, which may reference this actor
  ready_to_ = nullptr;
  current_ = {};
}

// -- handing over to another version ----------------------------------------------------------

void endpoint_actor::after_message() {
  if (retired_.pending())
    check_retired();
  if (!drained_.empty())
    check_drained();
}

caf::response_promise endpoint_actor::retire(caf::actor successor) {
  auto rp = make_response_promise();
  if (retired_.pending())
    retired_.deliver(make_error(errc::aborted, fmt::format("{}: retired again", def_.name)));
  retired_ = rp;
  pass_to_ = std::move(successor);
  check_retired();
  return rp;
}

std::size_t endpoint_actor::unanswered_promises() const {
  return static_cast<std::size_t>(
    std::count_if(slots_.begin(), slots_.end(), [](const reply_slot* s) { return !s->answered; }));
}

void endpoint_actor::check_retired() {
  // Its own calls and promises only: the calls it passed on wait for its successor, which
  // serves once the state is in.
  if (!retired_.pending() || pending_.size() > passed_on_ || unanswered_promises() > 0)
    return;
  std::string type;
  std::string bytes;
  if (def_.handover && state_) {
    try {
      bytes = def_.handover->save(state_.get());
      type = def_.handover->type->full_name();
    } catch (...) {
      retired_.deliver(
        make_error(errc::internal, fmt::format("{} could not save its state: {}", def_.name,
                                               what_of(std::current_exception()))));
      return;
    }
  }
  retired_.deliver(std::move(type), std::move(bytes));
}

namespace {

// "acme.statements.v1.CacheState" -> "CacheState".
std::string_view message_name(std::string_view full_name) {
  auto dot = full_name.rfind('.');
  return dot == std::string_view::npos ? full_name : full_name.substr(dot + 1);
}

} // namespace

caf::result<bool> endpoint_actor::import_state(const std::string& type, const std::string& bytes) {
  if (!awaiting_state_)
    return false; // it hands over no state: it serves already, and the state is dropped
  if (type.empty())
    return true; // the old version handed over none: this one starts fresh
  const auto& wanted = def_.handover->type->full_name();
  if (message_name(type) != message_name(wanted))
    return make_error(errc::failed_precondition,
                      fmt::format("{}: the running version hands over its state as {}, this "
                                  "version restores a {} (a handed over state keeps its message "
                                  "name; only its package may change)",
                                  def_.name, type, wanted));
  metadata meta;
  meta.caller = def_.name;
  call_context ctx{this, std::move(meta)};
  caf::error err;
  try {
    err = def_.handover->restore(state_.get(), ctx, bytes);
  } catch (...) {
    err = make_error(errc::failed_precondition,
                     fmt::format("restoring it threw: {}", what_of(std::current_exception())));
  }
  if (err)
    return make_error(errc::failed_precondition,
                      fmt::format("{} refused the state the running version handed over ({}): {}",
                                  def_.name, type, message_of(err)));
  return true;
}

void endpoint_actor::commit() {
  if (!awaiting_state_)
    return;
  awaiting_state_ = false;
  auto held = std::move(early_);
  early_.clear();
  for (auto& [env, sender] : held)
    on_request(env, std::move(sender));
}

void endpoint_actor::abandon(caf::actor predecessor) {
  if (!predecessor) { // nobody to give the requests back to: serve them
    commit();
    return;
  }
  awaiting_state_ = false;
  // Sent before the held requests, from this actor: the predecessor serves again first.
  send(predecessor, resume_atom::value);
  pass_to_ = std::move(predecessor);
  auto held = std::move(early_);
  early_.clear();
  for (auto& [env, sender] : held)
    pass_on(env, std::move(sender));
}

void endpoint_actor::resume() {
  if (retired_.pending())
    retired_.deliver(
      make_error(errc::aborted, fmt::format("{}: the replace was rolled back", def_.name)));
  retired_ = caf::response_promise{};
  pass_to_ = nullptr;
  if (registered_)
    core_->registry.add(def_.name, caf::actor_cast<caf::actor>(this));
}

void endpoint_actor::pass_on(envelope& env, caf::strong_actor_ptr sender) {
  if (env.kind != envelope_kind::call) { // a cast: nobody waits for it
    send(pass_to_, std::move(env));
    return;
  }
  // A call is passed on as this instance's own call, answered back to its caller: the caller
  // watches this instance (its monitor), so this one stays until the answer came through
  // (drain_atom waits for it).
  auto now = clock::now();
  auto deadline =
    env.meta.deadline != clock::time_point{} ? env.meta.deadline : now + core_->default_timeout;
  // This instance serves nothing of it: a traced call keeps its caller's span as its parent.
  env.meta.span = env.meta.parent_span;
  auto id = send_call_to(pass_to_, {}, env.meta, now, deadline, env.service, env.method,
                         std::move(env.body));
  ++passed_on_;
  set_continuation(id, [this, reply_to = std::move(sender), call_id = env.call_id,
                        method = env.method](const message_ptr& body, const caf::error& err) {
    --passed_on_;
    answer(reply_to, call_id, method, body, err);
  });
}

caf::response_promise endpoint_actor::drain() {
  auto rp = make_response_promise();
  drained_.push_back(rp);
  check_drained();
  return rp;
}

void endpoint_actor::check_drained() {
  if (drained_.empty() || pending_.size() > 0 || unanswered_promises() > 0)
    return;
  for (auto& rp : drained_)
    rp.deliver(true);
  drained_.clear();
}

// -- serving --------------------------------------------------------------------------------

void endpoint_actor::on_request(envelope& env, caf::strong_actor_ptr sender) {
  const bool is_call = env.kind == envelope_kind::call;
  caf::strong_actor_ptr reply_to;
  if (is_call)
    reply_to = std::move(sender);
  auto i = by_method_.find(env.method);
  const handler_entry* found = i != by_method_.end() ? i->second : nullptr;
  // A call is counted from here, refusals included (call_metrics.hpp): one clock read serves
  // the count and the deadline check.
  served_call served;
  if (is_call && core_->metrics.enabled)
    served.cell = found != nullptr ? cells_[static_cast<std::size_t>(found - def_.handlers.data())]
                                   : unknown_method_cell(env.method);
  if (is_call && env.meta.traced) { // a fresh span, the parent of the calls its handler makes
    served.trace = std::make_shared<span_record>();
    served.trace->correlation_id = env.meta.correlation_id;
    served.trace->span = new_span_id();
    served.trace->parent_span = env.meta.parent_span;
    served.trace->caller = env.meta.caller;
    served.trace->start_unix_us = unix_now_us();
    served.trace->forced = env.meta.trace_forced;
    env.meta.span = served.trace->span;
  }
  const bool has_deadline = is_call && env.meta.deadline != clock::time_point{};
  if (served.cell != nullptr || served.trace || has_deadline)
    served.start = clock::now();
  auto refuse = [&](caf::error err) {
    if (is_call)
      answer(reply_to, env.call_id, env.method, nullptr, std::move(err), served);
    else
      log::write(log::level::warn, def_.name, env.meta.correlation_id, "cast dropped: {}",
                 message_of(err));
  };
  if (has_deadline && served.start > env.meta.deadline) {
    refuse(make_error(errc::timeout,
                      fmt::format("{}.{}: the deadline passed before the request was handled",
                                  def_.name, env.method)));
    return;
  }
  if (env.meta.hops > max_hops) {
    refuse(call_loop_error(def_.name, env.method));
    return;
  }
  if (!env.undecodable.empty()) {
    refuse(make_error(errc::bad_request, fmt::format("{}.{}: the request cannot be read: {}",
                                                     def_.name, env.method, env.undecodable)));
    return;
  }
  if (found == nullptr) {
    std::vector<std::string> known;
    for (const auto& h : def_.handlers)
      known.push_back(h.method);
    std::sort(known.begin(), known.end());
    refuse(make_error(errc::no_such_method,
                      fmt::format("service {} has no method \"{}\" (it serves: {})", def_.name,
                                  env.method, fmt::join(known, ", "))));
    return;
  }
  const handler_entry& handler = *found;
  if (!env.body || typeid(*env.body) != *handler.request_class) {
    refuse(make_error(errc::bad_request,
                      fmt::format("{}.{} expects {}, got {}", def_.name, env.method,
                                  handler.request_type->full_name(),
                                  env.body ? env.body->GetDescriptor()->full_name() : "no body")));
    return;
  }
  if (!env.meta.toggles) { // the request enters the node here: it keeps the values now in force
    env.meta.toggles = entry_toggles(env.meta);
    core_->overrides.admit_arrived(env.meta, *env.meta.toggles);
  }
  call_context ctx{this, std::move(env.meta)};
  current_ = current_request{reply_to, env.call_id, &handler.method, served};
  dropped_in_handler_ = false;
  erased_reply result;
  try {
    result = handler.invoke(state_.get(), ctx, *env.body);
  } catch (const toggle_override_missing& e) {
    // Strict mode: the request did not pick a value of a toggle it checks. Its caller's
    // mistake, not a crash: the request fails, the service goes on.
    current_ = {};
    auto err = make_error(errc::failed_precondition,
                          fmt::format("{}.{}: {}", def_.name, env.method, e.what()));
    if (is_call)
      answer(reply_to, env.call_id, env.method, nullptr, std::move(err), served);
    else
      log::write(log::level::warn, def_.name, ctx.correlation_id(), "cast failed: {}", e.what());
    return;
  } catch (...) {
    current_ = {};
    auto what = what_of(std::current_exception());
    if (is_call)
      answer(
        reply_to, env.call_id, env.method, nullptr,
        make_error(errc::remote_error, fmt::format("{}.{} threw: {}", def_.name, env.method, what)),
        served);
    throw; // a crash: the supervisor decides
  }
  current_ = {};
  if (!is_call)
    return;
  if (result.deferred) {
    if (dropped_in_handler_)
      answer(
        reply_to, env.call_id, handler.method, nullptr,
        make_error(errc::remote_error, fmt::format("{}.{} dropped its promise without answering",
                                                   def_.name, handler.method)),
        served);
    return;
  }
  answer(reply_to, env.call_id, handler.method, std::move(result.value), std::move(result.error),
         served);
}

void endpoint_actor::answer(const caf::strong_actor_ptr& to, std::uint64_t call_id,
                            const std::string& method, message_ptr value, caf::error err,
                            const served_call& served) {
  if (!err && !value)
    err =
      make_error(errc::remote_error, fmt::format("{}.{} answered with no body", def_.name, method));
  if (served.cell != nullptr || served.trace) {
    auto took = clock::now() - served.start;
    if (served.cell != nullptr)
      served.cell->count(took, err);
    if (served.trace) {
      auto span = *served.trace;
      span.service = def_.name;
      span.method = method;
      span.node = core_->node_name;
      span.duration = took;
      span.outcome = err ? std::string{kind_name(err)} : std::string{"ok"};
      core_->spans.record(std::move(span));
    }
  }
  if (!to)
    return;
  envelope out;
  out.kind = envelope_kind::reply;
  out.call_id = call_id;
  out.body = std::move(value);
  out.error = std::move(err);
  // One allocation: the envelope goes straight into the mailbox element (make_message first
  // and enqueue(..., message, ...) second would allocate twice).
  to->get()->enqueue(caf::make_mailbox_element(caf::strong_actor_ptr{ctrl()},
                                               caf::make_message_id(), {}, std::move(out)),
                     context());
}

std::shared_ptr<reply_slot> endpoint_actor::make_slot() {
  if (current_.method == nullptr)
    throw std::logic_error(def_.name + ": make_promise() must be called while a handler runs");
  auto slot = std::make_shared<reply_slot>();
  slot->owner = this;
  slot->reply_to = current_.reply_to;
  slot->call_id = current_.call_id;
  slot->method = *current_.method;
  slot->served = current_.served;
  slots_.insert(slot.get());
  return slot;
}

// -- calling --------------------------------------------------------------------------------

metadata endpoint_actor::child_metadata(const metadata& parent, clock::time_point deadline) const {
  metadata meta;
  meta.correlation_id = parent.correlation_id;
  meta.caller = def_.name;
  meta.deadline = deadline;
  meta.hops = parent.hops + 1;
  meta.idempotency_key = parent.idempotency_key;
  meta.toggles = parent.toggles;
  meta.toggles_digest = parent.toggles_digest;
  meta.toggle_overrides = parent.toggle_overrides;
  meta.job_id = parent.job_id;
  meta.job_attempt = parent.job_attempt;
  meta.traced = parent.traced;
  meta.trace_forced = parent.trace_forced;
  meta.parent_span = parent.span;
  return meta;
}

// The cell counting calls of a method this service does not have: one per name asked for, up
// to a bound (the names come from callers), then one for all the others.
method_cell* endpoint_actor::unknown_method_cell(const std::string& method) {
  constexpr std::size_t max_unknown = 16;
  if (auto i = unknown_cells_.find(method); i != unknown_cells_.end())
    return i->second;
  static const std::string others = "(other)";
  const auto& name = unknown_cells_.size() < max_unknown ? method : others;
  if (auto i = unknown_cells_.find(name); i != unknown_cells_.end())
    return i->second;
  return unknown_cells_.emplace(name, core_->metrics.acquire(def_.name, name)).first->second;
}

void endpoint_actor::release_cells() {
  for (auto& [name, cell] : unknown_cells_)
    cells_.push_back(cell);
  unknown_cells_.clear();
  core_->metrics.release(cells_);
  cells_.clear();
}

// The snapshot a request keeps where it enters this node. From another node it names the
// digest of the snapshot it entered the system with: the one of those values among the ones this
// node published recently. When this node has none (it has not applied those values yet, or
// published over 64 since), the node's current one: a miss, counted and logged.
toggle_snapshot_ptr endpoint_actor::entry_toggles(const metadata& meta) const {
  if (meta.toggles_digest != 0) {
    if (auto held = core_->toggles.find(meta.toggles_digest))
      return held;
    core_->toggles.count_miss();
    log::write(log::level::debug, def_.name, meta.correlation_id,
               "toggle snapshot {:016x} from {} is not among the last {} published on this node: "
               "the request uses this node's current values",
               meta.toggles_digest, meta.caller, toggle_holder::recent_snapshots);
  }
  return core_->toggles.current();
}

std::uint64_t endpoint_actor::send_call(const metadata& parent, std::string service,
                                        std::string method, message_ptr body,
                                        std::chrono::milliseconds timeout) {
  auto now = clock::now();
  auto deadline = now + (timeout.count() > 0 ? timeout : core_->default_timeout);
  if (parent.deadline != clock::time_point{} && parent.deadline < deadline)
    deadline = parent.deadline;
  // A call that cannot be sent is in the table too (no callee): its continuation comes later.
  caf::actor dest;
  caf::error refused;
  if (parent.hops >= max_hops)
    refused = call_loop_error(service, method);
  else if (dest = view_.resolve(service); !dest)
    refused = no_instance_error(service);
  return send_call_to(std::move(dest), std::move(refused), parent, now, deadline,
                      std::move(service), std::move(method), std::move(body));
}

std::uint64_t endpoint_actor::send_call_to(caf::actor dest, caf::error refused,
                                           const metadata& parent, clock::time_point now,
                                           clock::time_point deadline, std::string service,
                                           std::string method, message_ptr body) {
  auto added = pending_.add(dest, now, deadline, service, method, {});
  if (added.arm)
    arm_timer(deadline);
  if (refused) {
    fail_soon(added.id, std::move(refused));
    return added.id;
  }
  if (added.watch_callee)
    monitor(dest);
  auto env = make_call(added.id, std::move(service), std::move(method), std::move(body),
                       child_metadata(parent, deadline));
  send(dest, std::move(env));
  return added.id;
}

void endpoint_actor::set_continuation(std::uint64_t id, reply_handler handler) {
  if (auto* call = pending_.find(id))
    call->done = std::move(handler);
}

std::uint64_t endpoint_actor::expect_outside(std::string what, std::string target,
                                             clock::time_point deadline) {
  // No callee: nothing to monitor; the deadline timer is the backstop if no answer comes.
  auto added = pending_.add(caf::actor{}, clock::now(), deadline, what, target, {});
  if (added.arm)
    arm_timer(deadline);
  return added.id;
}

void endpoint_actor::send_cast(const metadata& parent, std::string service, std::string method,
                               message_ptr body) {
  auto dest = view_.resolve(service);
  if (!dest) {
    log::write(log::level::warn, def_.name, parent.correlation_id,
               "cast to {}.{} dropped: no instance of service {} is running", service, method,
               service);
    return;
  }
  envelope env;
  env.kind = envelope_kind::cast;
  env.service = std::move(service);
  env.method = std::move(method);
  env.body = std::move(body);
  env.meta = child_metadata(parent, clock::time_point{});
  send(dest, std::move(env));
}

// -- topics ---------------------------------------------------------------------------------

std::size_t endpoint_actor::publish(const metadata& parent, const std::string& topic,
                                    message_ptr body) {
  auto snap = core_->topics.snapshot();
  auto i = snap->find(topic);
  if (i == snap->end())
    return 0;
  auto meta = child_metadata(parent, clock::time_point{});
  for (const auto& subscriber : i->second) {
    envelope env;
    env.kind = envelope_kind::publish;
    env.service = topic;
    env.body = body;
    env.meta = meta;
    send(subscriber, std::move(env));
  }
  return i->second.size();
}

void endpoint_actor::subscribe(std::string topic, topic_handler handler) {
  core_->topics.subscribe(topic, caf::actor_cast<caf::actor>(this));
  topics_[std::move(topic)] = std::move(handler);
}

void endpoint_actor::unsubscribe(const std::string& topic) {
  if (topics_.erase(topic) > 0)
    core_->topics.unsubscribe(topic, address());
}

void endpoint_actor::on_published(envelope& env) {
  auto i = topics_.find(env.service);
  if (i == topics_.end())
    return; // unsubscribed while the message was on its way
  if (!env.meta.toggles) {
    if (env.meta.toggles_digest != 0) // from another node: the values its request entered with
      env.meta.toggles = entry_toggles(env.meta);
    // The overrides are checked against the values the message's request entered with, as a
    // request's are (on_request).
    if (env.meta.toggle_overrides)
      core_->overrides.admit_arrived(env.meta, env.meta.toggles ? *env.meta.toggles
                                                                : *core_->toggles.current());
  }
  call_context ctx{this, std::move(env.meta)};
  try {
    i->second(ctx, env.body); // a throwing handler is a crash, as in a request handler
  } catch (const toggle_override_missing& e) {
    log::write(log::level::warn, def_.name, ctx.correlation_id(), "message on {} dropped: {}",
               env.service, e.what());
  }
}

// -- answers to this actor's calls ----------------------------------------------------------

void endpoint_actor::fail_soon(std::uint64_t id, caf::error err) {
  // Answered through the mailbox, so a continuation never runs before `then` installed it.
  envelope env;
  env.kind = envelope_kind::reply;
  env.call_id = id;
  env.error = std::move(err);
  send(caf::actor_cast<caf::actor>(this), std::move(env));
}

void endpoint_actor::on_reply(envelope& env) {
  reply_handler done;
  if (!pending_.take_reply(env, done))
    return; // answered already (timed out, or its callee went down): dropped
  if (done)
    run_continuation(done, env.body, env.error);
}

void endpoint_actor::run_continuation(reply_handler& done, const message_ptr& body,
                                      const caf::error& err) {
  try {
    done(body, err);
  } catch (const toggle_override_missing& e) {
    // Strict mode, in a continuation: the promise it held (if this was its last holder) answers
    // the request with this failure as it is dropped; the service goes on.
    log::write(log::level::warn, def_.name, {}, "continuation failed: {}", e.what());
    abandoned_with_ = make_error(errc::failed_precondition, e.what());
    done = nullptr;
    abandoned_with_ = caf::error{};
  }
}

void endpoint_actor::complete(std::vector<pending_calls<reply_handler>::ended>& ended) {
  for (auto& call : ended)
    if (call.done)
      run_continuation(call.done, nullptr, call.error);
}

void endpoint_actor::arm_timer(clock::time_point at) {
  auto delay = std::max(at - clock::now(), clock::duration::zero());
  delayed_send(this, delay, tick_atom::value, at.time_since_epoch().count());
}

void endpoint_actor::on_tick(clock::time_point at) {
  auto now = clock::now();
  std::vector<pending_calls<reply_handler>::ended> expired;
  auto next = pending_.expire(at, now, expired);
  if (next != clock::time_point::max())
    arm_timer(next);
  complete(expired);
}

void endpoint_actor::on_down(caf::down_msg& msg) {
  std::vector<pending_calls<reply_handler>::ended> failed;
  if (pending_.callee_down(caf::actor_cast<caf::actor_control_block*>(msg.source), msg.reason,
                           failed))
    complete(failed);
}

// -- the free functions behind the public templates -------------------------------------------

std::uint64_t send_call(endpoint_actor* self, const metadata& parent, std::string service,
                        std::string method, message_ptr body, std::chrono::milliseconds timeout) {
  return self->send_call(parent, std::move(service), std::move(method), std::move(body), timeout);
}

void set_continuation(endpoint_actor* self, std::uint64_t id, reply_handler handler) {
  self->set_continuation(id, std::move(handler));
}

endpoint_actor* endpoint_of(caf::event_based_actor* actor) noexcept {
  return dynamic_cast<endpoint_actor*>(actor);
}

std::uint64_t expect_outside(endpoint_actor* self, std::string what, std::string target,
                             clock::time_point deadline) {
  return self->expect_outside(std::move(what), std::move(target), deadline);
}

void end_outside(const caf::actor_addr& actor, std::uint64_t id, caf::error err) {
  auto dest = caf::actor_cast<caf::actor>(actor);
  if (!dest)
    return;
  envelope env;
  env.kind = envelope_kind::reply;
  env.call_id = id;
  env.error = std::move(err);
  caf::anon_send(dest, std::move(env));
}

void send_cast(endpoint_actor* self, const metadata& parent, std::string service,
               std::string method, message_ptr body) {
  self->send_cast(parent, std::move(service), std::move(method), std::move(body));
}

std::size_t publish(endpoint_actor* self, const metadata& parent, const std::string& topic,
                    message_ptr body) {
  return self->publish(parent, topic, std::move(body));
}

void subscribe(endpoint_actor* self, std::string topic, topic_handler handler) {
  self->subscribe(std::move(topic), std::move(handler));
}

void unsubscribe(endpoint_actor* self, const std::string& topic) {
  self->unsubscribe(topic);
}

void deliver(reply_slot& slot, message_ptr value, caf::error err) {
  if (slot.answered || slot.owner == nullptr)
    return;
  slot.answered = true;
  slot.owner->answer(slot.reply_to, slot.call_id, slot.method, std::move(value), std::move(err),
                     slot.served);
}

std::shared_ptr<reply_slot> make_slot(endpoint_actor* self) {
  return self->make_slot();
}

std::shared_ptr<start_slot> defer_start(endpoint_actor* self) {
  return self->defer_start();
}

void finish_start(start_slot& slot, caf::error err) {
  if (slot.owner != nullptr && !slot.done)
    slot.owner->finish_start(std::move(err));
}

caf::event_based_actor* as_caf_actor(endpoint_actor* self) {
  return self;
}

const std::string& name_of(endpoint_actor* self) {
  return self->service_name();
}

toggle_snapshot_ptr current_toggles(endpoint_actor* self) {
  return self->core()->toggles.current();
}

bool overrides_required(endpoint_actor* self) noexcept {
  // A context made outside any service (a benchmark's, a test's) has no node and no policy.
  return self != nullptr && self->core()->overrides.required();
}

} // namespace microlith::detail
