// Errors of calls between services. Every failure a caller can see is a value of `errc`, carried
// in a `caf::error` of microlith's own CAF error category ("microlith"), with a human-readable
// message as the error's context. Errors are never thrown across actors: a call either answers
// or fails with one of these, and never hangs.
#pragma once

#include <caf/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace caf {
class actor_system_config;
} // namespace caf

namespace microlith {

/// The error codes of microlith's error category. Values are part of the wire format: never renumber.
enum class errc : std::uint8_t {
  /// Not an error.
  none = 0,
  /// No instance of the service is known (not started, stopped, or in restart backoff).
  service_unavailable = 1,
  /// The call's deadline passed before an answer arrived.
  timeout = 2,
  /// The instance serving the call died while the call was in flight.
  service_down = 3,
  /// The request body's type does not match the method's contract (or is missing).
  bad_request = 4,
  /// The service has no method of that name.
  no_such_method = 5,
  /// The handler failed: it returned an error or threw; the context holds its message.
  remote_error = 6,
};

/// The atom naming microlith's CAF error category.
inline constexpr std::string_view error_category_name = "microlith";

/// The category atom of microlith errors (`caf::atom("microlith")`).
caf::atom_value error_category() noexcept;

/// The name of an error code, e.g. "service_unavailable".
std::string_view to_string(errc code) noexcept;

/// Makes a microlith error with a message; found by ADL, so `caf::error e = errc::timeout;` works.
caf::error make_error(errc code, std::string message = {});

/// The microlith code of `err`, or errc::none when `err` is empty or of another category.
errc code_of(const caf::error& err) noexcept;

/// True when `err` is the microlith error `code`.
bool is(const caf::error& err, errc code) noexcept;

/// The message carried by a microlith error (empty for other categories).
std::string message_of(const caf::error& err);

/// Renders any error for people: "timeout: accounts.Deposit did not answer within 5000 ms";
/// CAF's own errors render as "caf: request_timeout".
std::string describe(const caf::error& err);

/// A handler failure with a message: shorthand for make_error(errc::remote_error, message).
caf::error fail(std::string message);

/// Registers the category's renderer with a CAF config (the node does this for you).
void register_error_category(caf::actor_system_config& cfg);

} // namespace microlith
