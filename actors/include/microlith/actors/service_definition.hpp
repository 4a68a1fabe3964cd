// The definition of a service or worker: its name, the contract it implements, its handler table
// and how each instance builds its state. A value, copied into every instance's start (a node's
// `start`, a supervisor's child spec); build it with `service<State>` or `worker<State>`.
#pragma once

#include "microlith/actors/call_context.hpp"
#include "microlith/actors/detail/erased_reply.hpp"

#include <caf/error.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

namespace microlith {

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

/// How a service's state crosses from one version of its module to the next when a replace
/// hands it over (service<State>::hand_over, OTP's code_change): as a Protobuf message, so two
/// versions built apart agree on its wire form, not on a C++ layout.
struct state_handover {
  /// The message the state is saved as.
  const google::protobuf::Descriptor* type = nullptr;
  /// Saves an instance's state (the State object) as the wire form of a `type`; may throw.
  std::function<std::string(const void* state)> save;
  /// Restores an instance's state from the wire form of a message its predecessor saved; an
  /// error (or an exception) fails the import, and the replace is rolled back.
  std::function<caf::error(void* state, call_context& ctx, const std::string& bytes)> restore;
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
  /// Builds an instance's state in the new actor, before its first message. Set by
  /// service<State> and worker<State> from the state's type and constructor arguments.
  std::function<std::shared_ptr<void>(call_context&)> make_state;
  /// How the state is handed over when a new version of the service's module replaces it;
  /// nothing when it is not (the new version starts from a fresh state).
  std::optional<state_handover> handover;
  /// The toggles its handlers check (service<State>::checks_toggles): an instance does not
  /// start while one of them is not declared on its node.
  std::vector<std::string> toggles;

  /// Checks the handlers against the contract in Protobuf's generated descriptor pool; an
  /// empty error when they match.
  caf::error validate() const;
};

} // namespace microlith
