#include "detail/endpoint_actor.hpp"

#include "detail/call_errors.hpp"

#include "microlith/actors/atoms.hpp"
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
  if (!answered)
    owner->answer(
      reply_to, call_id, method, nullptr,
      make_error(errc::remote_error, fmt::format("{}.{} dropped its promise without answering",
                                                 owner->service_name(), method)));
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
  set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
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
      else if (deferred_start_ != nullptr)
        early_.emplace_back(std::move(env), current_sender()); // served once started
      else
        on_request(env, current_sender());
    },
    [this](tick_atom, clock::rep at) { on_tick(clock::time_point{clock::duration{at}}); },
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
  if (deferred_start_ != nullptr) {
    deferred_start_->owner = nullptr;
    deferred_start_ = nullptr;
  }
  early_.clear();
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

// -- serving --------------------------------------------------------------------------------

void endpoint_actor::on_request(envelope& env, caf::strong_actor_ptr sender) {
  const bool is_call = env.kind == envelope_kind::call;
  caf::strong_actor_ptr reply_to;
  if (is_call)
    reply_to = std::move(sender);
  auto refuse = [&](caf::error err) {
    if (is_call)
      answer(reply_to, env.call_id, env.method, nullptr, std::move(err));
    else
      log::write(log::level::warn, def_.name, env.meta.correlation_id, "cast dropped: {}",
                 message_of(err));
  };
  if (is_call && env.meta.deadline != clock::time_point{} && clock::now() > env.meta.deadline) {
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
  auto i = by_method_.find(env.method);
  if (i == by_method_.end()) {
    std::vector<std::string> known;
    for (const auto& h : def_.handlers)
      known.push_back(h.method);
    std::sort(known.begin(), known.end());
    refuse(make_error(errc::no_such_method,
                      fmt::format("service {} has no method \"{}\" (it serves: {})", def_.name,
                                  env.method, fmt::join(known, ", "))));
    return;
  }
  const handler_entry& handler = *i->second;
  if (!env.body || typeid(*env.body) != *handler.request_class) {
    refuse(make_error(errc::bad_request,
                      fmt::format("{}.{} expects {}, got {}", def_.name, env.method,
                                  handler.request_type->full_name(),
                                  env.body ? env.body->GetDescriptor()->full_name() : "no body")));
    return;
  }
  call_context ctx{this, std::move(env.meta)};
  current_ = current_request{reply_to, env.call_id, &handler.method};
  dropped_in_handler_ = false;
  erased_reply result;
  try {
    result = handler.invoke(state_.get(), ctx, *env.body);
  } catch (...) {
    current_ = {};
    auto what = what_of(std::current_exception());
    if (is_call)
      answer(reply_to, env.call_id, env.method, nullptr,
             make_error(errc::remote_error,
                        fmt::format("{}.{} threw: {}", def_.name, env.method, what)));
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
                                                   def_.name, handler.method)));
    return;
  }
  answer(reply_to, env.call_id, handler.method, std::move(result.value), std::move(result.error));
}

void endpoint_actor::answer(const caf::strong_actor_ptr& to, std::uint64_t call_id,
                            const std::string& method, message_ptr value, caf::error err) {
  if (!to)
    return;
  if (!err && !value)
    err =
      make_error(errc::remote_error, fmt::format("{}.{} answered with no body", def_.name, method));
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
  return meta;
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
  call_context ctx{this, std::move(env.meta)};
  i->second(ctx, env.body); // a throwing handler is a crash, as in a request handler
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
    done(env.body, env.error);
}

void endpoint_actor::complete(std::vector<pending_calls<reply_handler>::ended>& ended) {
  for (auto& call : ended)
    if (call.done)
      call.done(nullptr, call.error);
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
  slot.owner->answer(slot.reply_to, slot.call_id, slot.method, std::move(value), std::move(err));
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

} // namespace microlith::detail
