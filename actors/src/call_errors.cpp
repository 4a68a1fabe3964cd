#include "detail/call_errors.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

#include <chrono>

namespace microlith::detail {

namespace {

long long millis(clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

} // namespace

caf::error no_instance_error(std::string_view service) {
  return make_error(errc::service_unavailable,
                    fmt::format("no instance of service {} is running", service));
}

caf::error timeout_error(std::string_view service, std::string_view method, clock::duration allowed,
                         clock::duration late) {
  auto late_ms = millis(late);
  if (late_ms < 1)
    return make_error(errc::timeout, fmt::format("{}.{} did not answer within {} ms", service,
                                                 method, millis(allowed)));
  return make_error(errc::timeout, fmt::format("{}.{} did not answer within {} ms ({} ms late)",
                                               service, method, millis(allowed), late_ms));
}

caf::error callee_down_error(std::string_view service, std::string_view method,
                             const caf::error& reason) {
  return make_error(errc::service_down,
                    fmt::format("the instance of {} serving {}.{} went down ({})", service, service,
                                method, reason ? describe(reason) : "normal exit"));
}

caf::error unreadable_answer_error(std::string_view service, std::string_view method,
                                   std::string_view why) {
  return make_error(errc::bad_request,
                    fmt::format("the answer of {}.{} cannot be read: {}", service, method, why));
}

caf::error call_loop_error(std::string_view service, std::string_view method) {
  return make_error(
    errc::bad_request,
    fmt::format("{}.{}: more than {} nested calls (a call loop?)", service, method, max_hops));
}

caf::error caller_closed_error(std::string_view service, std::string_view method,
                               std::string_view caller) {
  return make_error(
    errc::service_unavailable,
    fmt::format("the call to {}.{} was dropped: its caller {} closed", service, method, caller));
}

caf::error caller_refused_error(std::string_view service, std::string_view method,
                                std::string_view caller) {
  return make_error(errc::service_unavailable,
                    fmt::format("{}.{}: the caller {} is closed", service, method, caller));
}

caf::error no_caller_error(std::string_view service, std::string_view method) {
  return make_error(errc::service_unavailable,
                    fmt::format("{}.{}: no caller to make the call through", service, method));
}

} // namespace microlith::detail
