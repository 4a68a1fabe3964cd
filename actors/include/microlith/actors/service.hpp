// Defining services and calling them. This header defines the builder `service<State>` and
// includes everything a service's state uses: call_context.hpp (calls, casts, publish/subscribe),
// reply.hpp, promise.hpp, start_gate.hpp, pending_call.hpp, service_definition.hpp, and
// worker.hpp for actors that call services but serve none.
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
// A state that needs settings takes them as constructor arguments after the context, and the
// builder takes them after the contract: `service<ledger>("ledger", "bank.Ledger", path)` builds
// `ledger(ctx, path)` (or `ledger(path)`) in every instance, each from its own copy of `path`.
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
// A service whose state must survive a replace of its module by a newer (or older) version
// declares how to save it as a Protobuf message and how to restore it (OTP's code_change):
//
//   auto def = microlith::service<cache>("statements_cache", "acme.statements.v1.Cache")
//                .handle("Get", &cache::get)
//                .hand_over(&cache::save, &cache::restore);
//   acme::statements::v1::CacheState cache::save() const;
//   void cache::restore(microlith::call_context& ctx, const acme::statements::v1::CacheState& s);
//
// During a replace, each old instance answers its calls in progress, then saves its state; the
// new instance restores it before it serves (requests reaching it meanwhile wait). `restore` may
// return a caf::error (or throw) to refuse the state: the replace is then rolled back and the old
// version keeps serving. The new version reads the old version's bytes as its own message type,
// so the two messages must have the same name (the package may change with the contract's) and
// follow Protobuf's rules for compatible changes (docs/modules.md, "State handover").
//
// Handler types are checked against the contract when the service starts: a handler for a method
// the contract does not declare, or with other request/response types, fails the start with a
// message naming the method and both types.
#pragma once

#include "microlith/actors/call_context.hpp"
#include "microlith/actors/detail/handler_traits.hpp"
#include "microlith/actors/detail/state_factory.hpp"
#include "microlith/actors/envelope.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/pending_call.hpp"
#include "microlith/actors/promise.hpp"
#include "microlith/actors/reply.hpp"
#include "microlith/actors/service_definition.hpp"
#include "microlith/actors/start_gate.hpp"
#include "microlith/actors/worker.hpp"

#include <google/protobuf/message.h>

#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace microlith {

/// Builder of a service whose per-instance state is a `State`.
template <class State>
class service {
public:
  /// A service called `name` implementing the Protobuf service `contract` ("pkg.Service"),
  /// whose state is built in every new instance from copies of `args` as `State(ctx, args...)`
  /// (or `State(args...)` when it takes no context).
  template <class... Args>
  service(std::string name, std::string contract, Args... args) {
    def_.name = std::move(name);
    def_.contract = std::move(contract);
    def_.make_state = detail::state_factory<State>(std::move(args)...);
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

  /// Hands the state over when a new version of the module replaces this one: `save` is a
  /// member function `Msg save() const`, `restore` one of `void restore(call_context&, const
  /// Msg&)` or `caf::error restore(call_context&, const Msg&)` (an error refuses the state), for
  /// a generated Protobuf message `Msg`.
  template <class Msg, class Restored>
  service& hand_over(Msg (State::*save)() const,
                     Restored (State::*restore)(call_context&, const Msg&)) {
    static_assert(std::is_base_of_v<google::protobuf::Message, Msg>,
                  "hand_over(): the state must be saved as a generated Protobuf message");
    static_assert(std::is_void_v<Restored> || std::is_same_v<Restored, caf::error>,
                  "hand_over(): restore must return void or caf::error");
    state_handover h;
    h.type = Msg::descriptor();
    h.save = [save](const void* state) {
      return (static_cast<const State*>(state)->*save)().SerializeAsString();
    };
    h.restore = [restore](void* state, call_context& ctx, const std::string& bytes) -> caf::error {
      Msg saved;
      if (!saved.ParseFromString(bytes))
        return make_error(errc::invalid_argument, "the handed over state cannot be read as "
                                                    + Msg::descriptor()->full_name());
      if constexpr (std::is_void_v<Restored>) {
        (static_cast<State*>(state)->*restore)(ctx, saved);
        return {};
      } else {
        return (static_cast<State*>(state)->*restore)(ctx, saved);
      }
    };
    def_.handover = std::move(h);
    return *this;
  }

  /// Declares the toggles the handlers check with call_context::enabled: an instance refuses
  /// to start (naming the toggle) while one of them is not declared on its node, so a missing
  /// declaration shows at start rather than at the first check.
  service& checks_toggles(std::vector<std::string> names) {
    def_.toggles.insert(def_.toggles.end(), names.begin(), names.end());
    return *this;
  }

  /// The finished definition.
  operator service_definition() const& { return def_; }

  /// The finished definition.
  operator service_definition() && { return std::move(def_); }

private:
  service_definition def_;
};

} // namespace microlith
