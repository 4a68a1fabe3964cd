// The errors a call ends with when its callee gives no answer of its own: no instance to call,
// the deadline passed, the callee went down, the answer cannot be read, the call loops, the
// caller closed. Every caller — an actor, an async_caller's port, a blocking call from a plain
// thread — builds them here, so the same failure reads the same whoever made the call.
#pragma once

#include "microlith/actors/envelope.hpp"

#include <caf/error.hpp>

#include <string_view>

namespace microlith::detail {

/// service_unavailable: "no instance of service accounts is running".
caf::error no_instance_error(std::string_view service);

/// timeout: "accounts.Deposit did not answer within 5000 ms", where 5000 ms is the time the call
/// was given (`allowed`: its deadline minus the time it was made); " (3 ms late)" follows when
/// the timeout was noticed a millisecond or more after the deadline (`late`).
caf::error timeout_error(std::string_view service, std::string_view method, clock::duration allowed,
                         clock::duration late);

/// service_down: "the instance of accounts serving accounts.Deposit went down (<reason>)", the
/// reason being the callee's exit reason, or "normal exit" when it stopped normally.
caf::error callee_down_error(std::string_view service, std::string_view method,
                             const caf::error& reason);

/// bad_request: "the answer of accounts.Deposit cannot be read: <why>" (an answer from another
/// node whose body type this node does not know, or whose bytes do not parse).
caf::error unreadable_answer_error(std::string_view service, std::string_view method,
                                   std::string_view why);

/// bad_request: "accounts.Deposit: more than 64 nested calls (a call loop?)".
caf::error call_loop_error(std::string_view service, std::string_view method);

/// service_unavailable, for a call still in flight when its caller closed: "the call to
/// accounts.Deposit was dropped: its caller gateway closed".
caf::error caller_closed_error(std::string_view service, std::string_view method,
                               std::string_view caller);

/// service_unavailable, for a call made through a caller already closed: "accounts.Deposit: the
/// caller gateway is closed".
caf::error caller_refused_error(std::string_view service, std::string_view method,
                                std::string_view caller);

/// service_unavailable, for a call made through a default-constructed async_caller:
/// "accounts.Deposit: no caller to make the call through".
caf::error no_caller_error(std::string_view service, std::string_view method);

} // namespace microlith::detail
