// The view a handler (or a worker) has of the actor it runs in and of the request it serves:
// calls, casts, publish/subscribe, promises and deferred starts, all in that request's name (its
// correlation id, caller and remaining deadline travel into every call made through it).
#pragma once

#include "microlith/actors/detail/endpoint_calls.hpp"
#include "microlith/actors/detail/message_cast.hpp"
#include "microlith/actors/detail/reply_slot.hpp"
#include "microlith/actors/detail/start_slot.hpp"
#include "microlith/actors/envelope.hpp"
#include "microlith/actors/job_options.hpp"
#include "microlith/actors/pending_call.hpp"
#include "microlith/actors/promise.hpp"
#include "microlith/actors/start_gate.hpp"
#include "microlith/actors/toggles.hpp"

#include <google/protobuf/message.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace caf {
class event_based_actor;
} // namespace caf

namespace microlith {

/// Per-call options.
struct call_options {
  /// How long to wait for the answer; zero means the node's default (5 s, as gen_server:call).
  /// A call made while handling a request never outlives that request's deadline.
  std::chrono::milliseconds timeout{0};
};

/// The view a handler (or a worker) has of the actor it runs in and of the request it serves.
/// Cheap to copy: capture it by value in continuations to make further calls in the same
/// request's name.
class call_context {
public:
  call_context(detail::endpoint_actor* self, metadata meta) : self_(self), meta_(std::move(meta)) {}

  /// The metadata of the request being handled (empty outside a request).
  const metadata& meta() const noexcept { return meta_; }

  /// The correlation id of the request being handled (empty when there is none).
  const std::string& correlation_id() const noexcept { return meta_.correlation_id; }

  /// The idempotency key of the request being handled (the client's Idempotency-Key header at
  /// the gateway), inherited by every call made through this context; empty when the client
  /// gave none. A service that records it with its effect answers a repeat with the first
  /// outcome (docs/gateway.md, "Idempotency keys").
  const std::string& idempotency_key() const noexcept { return meta_.idempotency_key; }

  /// This context with `key` as its idempotency key: the calls made through the copy carry
  /// `key` instead of the request's (e.g. a job's handler names its effect by what the job is
  /// about, "payment:p1", so that a later attempt of the job is answered the first outcome).
  call_context with_idempotency_key(std::string key) const {
    call_context copy = *this;
    copy.meta_.idempotency_key = std::move(key);
    return copy;
  }

  /// The background job this request runs (docs/jobs.md): its id, or 0 when the request is
  /// not a job's attempt. With attempt(), what makes a job's work idempotent.
  std::int64_t job_id() const noexcept { return meta_.job_id; }

  /// Which attempt of job_id() this request is: 1 for the first; 0 when it runs no job.
  std::int32_t attempt() const noexcept { return meta_.job_attempt; }

  /// Enqueues a background job on `queue`: `message` (the request type of the queue's method)
  /// is stored and later run by a worker of the queue. Answer with `.then(on_enqueued(const
  /// enqueued_job&), on_error)`, called once the job's row is committed (a call to the built-in
  /// `jobs` service; job_options.hpp).
  template <class Msg>
  pending_job enqueue(std::string queue, const Msg& message, job_options options = {}) const {
    static_assert(std::is_base_of_v<google::protobuf::Message, Msg>,
                  "enqueue(): the message must be a generated Protobuf message");
    auto body = detail::make_enqueue_request(queue, message, options);
    auto id =
      detail::send_call(self_, meta_, "jobs", "Enqueue", std::move(body), options.enqueue_timeout);
    return pending_job{self_, id};
  }

  /// Whether toggle `name` is on for the request being handled: its override when it carries
  /// one (toggles.hpp, per-call overrides), else the snapshot it captured when it entered the
  /// node (outside a request: the node's snapshot now). No lock, no message. Throws
  /// undeclared_toggle, naming it, when `name` is not declared (toggles.hpp has the gates and
  /// their order). In strict mode (`[toggles] require_override = true`) a check for a request
  /// without an override of `name` throws toggle_override_missing, which fails the request with
  /// failed_precondition naming the toggle.
  bool enabled(std::string_view name) const {
    if (meta_.toggle_overrides)
      if (const auto* o = find_toggle_override(*meta_.toggle_overrides, name))
        return o->on;
    if (meta_.toggles)
      return request_snapshot(name).enabled(name);
    return detail::current_toggles(self_)->enabled(name);
  }

  /// Whether toggle `name` is on for actor `key` (an account id, a user id...): the actor,
  /// group and percentage-of-actors gates apply too. An override of `name` applies to every key.
  bool enabled(std::string_view name, std::string_view key) const {
    if (meta_.toggle_overrides)
      if (const auto* o = find_toggle_override(*meta_.toggle_overrides, name))
        return o->on;
    if (meta_.toggles)
      return request_snapshot(name).enabled(name, key);
    return detail::current_toggles(self_)->enabled(name, key);
  }

  /// Calls `service.method` with `request`; answer with `.then(on_reply, on_error)`.
  template <class Resp, class Req>
  pending_call<Resp> call(std::string service, std::string method, const Req& request,
                          call_options options = {}) const {
    auto id = detail::send_call(self_, meta_, std::move(service), std::move(method),
                                std::make_shared<const Req>(request), options.timeout);
    return pending_call<Resp>{self_, id};
  }

  /// Calls `service.method`, moving `request` into the shared body (no copy).
  template <class Resp, class Req,
            class = std::enable_if_t<!std::is_lvalue_reference_v<
                                       Req> && std::is_base_of_v<google::protobuf::Message, Req>>>
  pending_call<Resp> call(std::string service, std::string method, Req&& request,
                          call_options options = {}) const {
    auto id = detail::send_call(self_, meta_, std::move(service), std::move(method),
                                std::make_shared<const Req>(std::move(request)), options.timeout);
    return pending_call<Resp>{self_, id};
  }

  /// Calls with a body that is already shared (no copy).
  template <class Resp>
  pending_call<Resp> call_shared(std::string service, std::string method, message_ptr request,
                                 call_options options = {}) const {
    auto id = detail::send_call(self_, meta_, std::move(service), std::move(method),
                                std::move(request), options.timeout);
    return pending_call<Resp>{self_, id};
  }

  /// Sends `request` to `service.method` without waiting for anything (at most once).
  template <class Req>
  void cast(std::string service, std::string method, const Req& request) const {
    detail::send_cast(self_, meta_, std::move(service), std::move(method),
                      std::make_shared<const Req>(request));
  }

  /// Publishes `message` to every actor subscribed to `topic` now (at most once each; none is
  /// fine); answers how many it was sent to. Subscribers see this request's correlation id.
  template <class Msg>
  std::size_t publish(const std::string& topic, const Msg& message) const {
    return detail::publish(self_, meta_, topic, std::make_shared<const Msg>(message));
  }

  /// Runs `on_message(call_context&, const Msg&)` in this actor for every `Msg` published to
  /// `topic` until unsubscribe() or the actor's exit; a message of another type is logged and
  /// dropped. Subscribing again replaces the handler.
  template <class Msg, class F>
  void subscribe(std::string topic, F on_message) const {
    static_assert(std::is_base_of_v<google::protobuf::Message, Msg>,
                  "subscribe<Msg>(): Msg must be a generated Protobuf message");
    auto name = topic;
    detail::subscribe(
      self_, std::move(topic),
      [on_message = std::move(on_message), name](call_context& ctx, const message_ptr& body) {
        if (const auto* typed = detail::message_cast<Msg>(body))
          on_message(ctx, *typed);
        else
          detail::log_wrong_topic_type(ctx.name(), name, Msg::descriptor()->full_name(), body);
      });
  }

  /// Ends this actor's subscription to `topic`.
  void unsubscribe(const std::string& topic) const { detail::unsubscribe(self_, topic); }

  /// A promise for answering the request being handled later; return it from the handler.
  /// Only while the handler runs (in a continuation there is no request being handled).
  template <class Resp>
  promise<Resp> make_promise() const {
    return promise<Resp>{detail::make_slot(self_)};
  }

  /// Defers the start of this instance until the returned gate opens; only while its state is
  /// being built (in the state's constructor).
  start_gate defer_start() const { return start_gate{detail::defer_start(self_)}; }

  /// The CAF actor this runs in (for timers, monitors and messages inside a group).
  caf::event_based_actor* self() const noexcept { return detail::as_caf_actor(self_); }

  /// The name of the service or worker this runs in.
  const std::string& name() const { return detail::name_of(self_); }

private:
  // The request's snapshot for a check of `name` without an override; throws
  // toggle_override_missing in strict mode (for a declared name).
  const toggle_snapshot& request_snapshot(std::string_view name) const {
    if (detail::overrides_required(self_) && meta_.toggles->find(name) != nullptr)
      throw toggle_override_missing(name);
    return *meta_.toggles;
  }

  detail::endpoint_actor* self_;
  metadata meta_;
};

} // namespace microlith
