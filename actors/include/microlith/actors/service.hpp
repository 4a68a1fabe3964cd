// Defining services and calling them.
//
// A service is a named endpoint implementing a Protobuf `service` contract. Its handlers are
// member functions of a state class that is constructed fresh in every instance (so a restarted
// service starts from a clean state):
//
//   class accounts {
//   public:
//     explicit accounts(microlith::call_context& ctx);               // or a default constructor
//     microlith::reply<bank::Balance> deposit(microlith::call_context& ctx,
//                                             const bank::DepositRequest& req);
//   };
//   auto def = microlith::service<accounts>("accounts", "bank.Accounts")
//                .handle("Deposit", &accounts::deposit);
//
// Contract of a handler:
// - It runs inside the service's actor, one request at a time: the state needs no locks.
// - It returns a `reply<Resp>`: a response (`return balance;`), an error of a kind the caller
//   can act on (`return microlith::fail(errc::failed_precondition, "insufficient funds ...");`,
//   which crosses nodes unchanged and the gateway answers 400; error.hpp lists the kinds),
//   or a promise (`auto p = ctx.make_promise<Resp>(); ...; return p;`) to answer later — e.g. when
//   a call it made answers. A promise dropped without an answer answers remote_error.
// - It must not block: calls it makes (`ctx.call`) answer through continuations that run later
//   in the same actor. The correlation id, caller and remaining deadline of the request being
//   handled travel into every call made through its `ctx`. Calls that time out fail in deadline
//   order (equal deadlines in call order), also when one late tick finds several expired.
// - An exception escaping a handler is a crash: the caller gets remote_error with the exception's
//   message, and the actor exits abnormally so that its supervisor decides what happens next.
//
// Handler types are checked against the contract when the service starts: a handler for a method
// the contract does not declare, or with other request/response types, fails the start with a
// message naming the method and both types.
#pragma once

#include "microlith/actors/envelope.hpp"
#include "microlith/actors/error.hpp"

#include <google/protobuf/message.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace caf {
class event_based_actor;
class actor_system;
} // namespace caf

namespace microlith {

class call_context;
class service_registry;

namespace detail {

class endpoint_actor;
struct node_core;

/// A handler's answer with its type erased.
struct erased_reply {
  message_ptr value;
  caf::error error;
  bool deferred = false;
};

/// Where and how to answer one call; shared by the copies of a promise.
struct reply_slot;

/// Completion of an outgoing call: a body or an error (exactly one is set).
using reply_handler = std::function<void(const message_ptr& body, const caf::error& err)>;

/// Sends a call; returns the call's id in `self`'s pending table.
std::uint64_t send_call(endpoint_actor* self, const metadata& parent, std::string service,
                        std::string method, message_ptr body, std::chrono::milliseconds timeout);

/// Installs the completion of call `id`.
void set_continuation(endpoint_actor* self, std::uint64_t id, reply_handler handler);

/// Sends a cast.
void send_cast(endpoint_actor* self, const metadata& parent, std::string service,
               std::string method, message_ptr body);

/// Receives a message published to a topic the actor subscribes to.
using topic_handler = std::function<void(call_context& ctx, const message_ptr& body)>;

/// Publishes to `topic`; answers how many subscribers it was sent to.
std::size_t publish(endpoint_actor* self, const metadata& parent, const std::string& topic,
                    message_ptr body);

/// Subscribes `self` to `topic` (replacing its handler if it subscribed before).
void subscribe(endpoint_actor* self, std::string topic, topic_handler handler);

/// Ends `self`'s subscription to `topic`.
void unsubscribe(endpoint_actor* self, const std::string& topic);

/// Answers the call behind `slot` (once; later answers are ignored).
void deliver(reply_slot& slot, message_ptr value, caf::error err);

/// A slot for the request `self` is handling right now; throws std::logic_error outside a handler.
std::shared_ptr<reply_slot> make_slot(endpoint_actor* self);

/// The pending start of an instance whose state finishes building later.
struct start_slot;

/// Defers `self`'s start; throws std::logic_error unless its state is being built.
std::shared_ptr<start_slot> defer_start(endpoint_actor* self);

/// Opens (empty error) or fails the deferred start behind `slot` (once).
void finish_start(start_slot& slot, caf::error err);

/// The pointer to `T` in `body` when it holds a `T`, else nullptr.
template <class T>
const T* message_cast(const message_ptr& body) {
  // typeid, not GetDescriptor(): a descriptor lookup costs about a hundred instructions.
  if (body && typeid(*body) == typeid(T))
    return static_cast<const T*>(body.get());
  return nullptr;
}

/// "bad_request: expected bank.Balance, got bank.Entry" for a reply of the wrong type.
caf::error wrong_reply_type(const google::protobuf::Descriptor* expected, const message_ptr& got);

/// Logs a published message dropped because it is not of the type its subscriber expects.
void log_wrong_topic_type(const std::string& subscriber, const std::string& topic,
                          const std::string& expected, const message_ptr& got);

caf::event_based_actor* as_caf_actor(endpoint_actor* self);

const std::string& name_of(endpoint_actor* self);

} // namespace detail

/// Per-call options.
struct call_options {
  /// How long to wait for the answer; zero means the node's default (5 s, as gen_server:call).
  /// A call made while handling a request never outlives that request's deadline.
  std::chrono::milliseconds timeout{0};
};

/// A call in flight from an actor; `then` says what happens when it completes.
template <class Resp>
class [[nodiscard]] pending_call {
public:
  pending_call(detail::endpoint_actor* self, std::uint64_t id) : self_(self), id_(id) {
  }

  /// Runs `on_reply(const Resp&)` or `on_error(const caf::error&)` in the calling actor, later,
  /// exactly once. Without `then`, the answer is dropped.
  template <class OnReply, class OnError>
  void then(OnReply on_reply, OnError on_error) && {
    detail::set_continuation(
      self_, id_,
      [on_reply = std::move(on_reply), on_error = std::move(on_error)](
        const message_ptr& body, const caf::error& err) mutable {
        if (err) {
          on_error(err);
        } else if (auto* typed = detail::message_cast<Resp>(body)) {
          on_reply(*typed);
        } else {
          on_error(detail::wrong_reply_type(Resp::descriptor(), body));
        }
      });
  }

private:
  detail::endpoint_actor* self_;
  std::uint64_t id_;
};

/// A handle for answering a call later. Copyable; the first `deliver` answers, later ones are
/// ignored; when the last copy goes away unanswered, the caller gets remote_error. A promise
/// belongs to the actor that made it: deliver it from that actor's handlers and continuations,
/// never from another thread or actor. Errors delivered are passed to the caller as they are
/// (an error of a nested call keeps its code; add context to its message when that helps).
template <class Resp>
class promise {
public:
  explicit promise(std::shared_ptr<detail::reply_slot> slot) : slot_(std::move(slot)) {
  }

  /// Answers with a response.
  void deliver(Resp value) {
    detail::deliver(*slot_, std::make_shared<const Resp>(std::move(value)), {});
  }

  /// Answers with an error.
  void deliver(caf::error err) {
    detail::deliver(*slot_, nullptr, std::move(err));
  }

private:
  std::shared_ptr<detail::reply_slot> slot_;
};

/// A deferred start: the state's constructor takes one with `ctx.defer_start()` when it must
/// finish building asynchronously (e.g. rebuild itself by calling another service). Until
/// `open()`, the instance is not registered (callers by name get service_unavailable, or reach
/// another instance) and its supervisor does not count it as started; `fail(err)` — or the last
/// copy going away unopened — fails the start, which its supervisor handles as OTP does. Like a
/// promise, it belongs to its actor: use it from that actor's continuations only.
class start_gate {
public:
  explicit start_gate(std::shared_ptr<detail::start_slot> slot) : slot_(std::move(slot)) {
  }

  /// Finishes the start: registers the instance and tells its supervisor it is ready.
  void open() {
    detail::finish_start(*slot_, {});
  }

  /// Fails the start with `err`: the instance exits with it.
  void fail(caf::error err) {
    detail::finish_start(*slot_, std::move(err));
  }

private:
  std::shared_ptr<detail::start_slot> slot_;
};

/// What a handler returns: a response, an error, or a promise to answer later.
template <class Resp>
class reply {
public:
  /// Answers with `value`.
  reply(Resp value) {
    erased_.value = std::make_shared<const Resp>(std::move(value));
  }

  /// Answers with `err` (use microlith::fail("...") for a handler failure).
  reply(caf::error err) {
    erased_.error = std::move(err);
    if (!erased_.error)
      erased_.error = make_error(errc::remote_error, "handler returned an empty error");
  }

  /// Answers later, through `p`.
  reply(const promise<Resp>&) {
    erased_.deferred = true;
  }

  /// The answer with its type erased.
  detail::erased_reply release() && {
    return std::move(erased_);
  }

private:
  detail::erased_reply erased_;
};

/// The view a handler (or a worker) has of the actor it runs in and of the request it serves.
/// Cheap to copy: capture it by value in continuations to make further calls in the same
/// request's name.
class call_context {
public:
  call_context(detail::endpoint_actor* self, metadata meta)
    : self_(self), meta_(std::move(meta)) {
  }

  /// The metadata of the request being handled (empty outside a request).
  const metadata& meta() const noexcept {
    return meta_;
  }

  /// The correlation id of the request being handled (empty when there is none).
  const std::string& correlation_id() const noexcept {
    return meta_.correlation_id;
  }

  /// The idempotency key of the request being handled (the client's Idempotency-Key header at
  /// the gateway), inherited by every call made through this context; empty when the client
  /// gave none. A service that records it with its effect answers a repeat with the first
  /// outcome (docs/gateway.md, "Idempotency keys").
  const std::string& idempotency_key() const noexcept {
    return meta_.idempotency_key;
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
            class = std::enable_if_t<!std::is_lvalue_reference_v<Req> &&
                                     std::is_base_of_v<google::protobuf::Message, Req>>>
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
    detail::subscribe(self_, std::move(topic),
                      [on_message = std::move(on_message), name](call_context& ctx,
                                                                 const message_ptr& body) {
                        if (const auto* typed = detail::message_cast<Msg>(body))
                          on_message(ctx, *typed);
                        else
                          detail::log_wrong_topic_type(ctx.name(), name,
                                                       Msg::descriptor()->full_name(), body);
                      });
  }

  /// Ends this actor's subscription to `topic`.
  void unsubscribe(const std::string& topic) const {
    detail::unsubscribe(self_, topic);
  }

  /// A promise for answering the request being handled later; return it from the handler.
  /// Only while the handler runs (in a continuation there is no request being handled).
  template <class Resp>
  promise<Resp> make_promise() const {
    return promise<Resp>{detail::make_slot(self_)};
  }

  /// Defers the start of this instance until the returned gate opens; only while its state is
  /// being built (in the state's constructor).
  start_gate defer_start() const {
    return start_gate{detail::defer_start(self_)};
  }

  /// The CAF actor this runs in (for timers, monitors and messages inside a group).
  caf::event_based_actor* self() const noexcept {
    return detail::as_caf_actor(self_);
  }

  /// The name of the service or worker this runs in.
  const std::string& name() const {
    return detail::name_of(self_);
  }

private:
  detail::endpoint_actor* self_;
  metadata meta_;
};

/// One entry of a service's handler table, types erased.
struct handler_entry {
  std::string method;
  const google::protobuf::Descriptor* request_type = nullptr;
  const google::protobuf::Descriptor* response_type = nullptr;
  /// The request's C++ class (checked per call: cheaper than comparing descriptors).
  const std::type_info* request_class = nullptr;
  std::function<detail::erased_reply(void* state, call_context& ctx,
                                     const google::protobuf::Message& request)>
    invoke;
};

/// Everything needed to start an instance of a service or worker. Build it with service<State>
/// or worker<State>; it is a value, copied into every instance's start.
struct service_definition {
  /// The name callers use (for a worker: its name in logs).
  std::string name;
  /// The full name of the Protobuf service implemented ("bank.Accounts"); empty for a worker,
  /// which is not registered and serves no calls.
  std::string contract;
  /// The handlers, by method name.
  std::vector<handler_entry> handlers;
  /// Builds an instance's state in the new actor, before its first message.
  std::function<std::shared_ptr<void>(call_context&)> make_state;

  /// Checks the handlers against the contract in Protobuf's generated descriptor pool; an
  /// empty error when they match.
  caf::error validate() const;
};

namespace detail {

template <class T>
struct handler_traits;

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {
  using state_type = State;
  using request_type = Req;
  using response_type = Resp;
};

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&) const>
  : handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {};

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&) noexcept>
  : handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {};

template <class State, class Resp, class Req>
struct handler_traits<reply<Resp> (State::*)(call_context&, const Req&) const noexcept>
  : handler_traits<reply<Resp> (State::*)(call_context&, const Req&)> {};

template <class State>
std::function<std::shared_ptr<void>(call_context&)> state_factory() {
  return [](call_context& ctx) -> std::shared_ptr<void> {
    if constexpr (std::is_constructible_v<State, call_context&>)
      return std::make_shared<State>(ctx);
    else
      return std::make_shared<State>();
  };
}

} // namespace detail

/// Builder of a service whose per-instance state is a `State`.
template <class State>
class service {
public:
  static_assert(std::is_constructible_v<State, call_context&> ||
                  std::is_default_constructible_v<State>,
                "a service state needs a constructor taking (microlith::call_context&) or a "
                "default constructor");

  /// A service called `name` implementing the Protobuf service `contract` ("pkg.Service").
  service(std::string name, std::string contract) {
    def_.name = std::move(name);
    def_.contract = std::move(contract);
    def_.make_state = detail::state_factory<State>();
  }

  /// Serves `method` with a member function `reply<Resp> f(call_context&, const Req&)`.
  template <class F>
  service& handle(std::string method, F f) {
    static_assert(std::is_member_function_pointer_v<F>,
                  "handle(): pass a member function of the service's State, such as "
                  "&State::deposit, with the signature reply<Resp> (call_context&, const Req&)");
    using traits = detail::handler_traits<F>;
    using req_t = typename traits::request_type;
    using resp_t = typename traits::response_type;
    static_assert(std::is_same_v<typename traits::state_type, State>,
                  "handle(): the handler must be a member function of this service's State");
    static_assert(std::is_base_of_v<google::protobuf::Message, req_t>,
                  "handle(): the request type must be a generated Protobuf message");
    static_assert(std::is_base_of_v<google::protobuf::Message, resp_t>,
                  "handle(): the response type must be a generated Protobuf message");
    handler_entry entry;
    entry.method = std::move(method);
    entry.request_type = req_t::descriptor();
    entry.response_type = resp_t::descriptor();
    entry.request_class = &typeid(req_t);
    entry.invoke = [f](void* state, call_context& ctx, const google::protobuf::Message& request) {
      return (static_cast<State*>(state)->*f)(ctx, static_cast<const req_t&>(request)).release();
    };
    def_.handlers.emplace_back(std::move(entry));
    return *this;
  }

  /// The finished definition.
  operator service_definition() const& {
    return def_;
  }

  /// The finished definition.
  operator service_definition() && {
    return std::move(def_);
  }

private:
  service_definition def_;
};

/// A worker: an actor with per-instance `State` that can call services but serves none. Its
/// state's constructor runs in the new actor and may start calls.
template <class State>
service_definition worker(std::string name) {
  service_definition def;
  def.name = std::move(name);
  def.make_state = detail::state_factory<State>();
  return def;
}

} // namespace microlith
