// The refusals of the run-time child operations (child_operations.hpp), OTP's `{error, ...}`
// answers of supervisor:start_child/restart_child/terminate_child/delete_child, as values of
// `child_errc` in a CAF error category of their own ("supervisor"), so a caller can tell them
// apart: `if (child_error_of(err) == child_errc::running) ...`. Other failures (a start that
// fails, a supervisor that is shutting down, a timeout) keep their microlith `errc`.
#pragma once

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>

#include <cstdint>
#include <string_view>

namespace microlith {

/// OTP's refusals of a child operation. Never renumber.
enum class child_errc : std::uint8_t {
  /// Not a refusal.
  none = 0,
  /// The child is running: restart_child and delete_child refuse (OTP `{error, running}`).
  running = 1,
  /// The child waits for a restart (a retry or a backoff): restart_child and delete_child refuse
  /// (OTP `{error, restarting}`).
  restarting = 2,
  /// No child has that id (OTP `{error, not_found}`).
  not_found = 3,
  /// start_child of a spec whose id a stopped child has (OTP `{error, already_present}`).
  already_present = 4,
  /// start_child of a spec whose id a running child has; the error carries its handle (OTP
  /// `{error, {already_started, Pid}}`, see running_child_of()).
  already_started = 5,
  /// The operation does not apply to this kind of supervisor: restart_child and delete_child on
  /// a dynamic supervisor (OTP `{error, simple_one_for_one}`).
  not_applicable = 6,
};

/// The atom naming the category (`caf::atom("supervisor")`).
constexpr caf::atom_value child_error_category = caf::atom("supervisor");

/// The name of a value ("already_started").
std::string_view to_string(child_errc x) noexcept;

/// An error of the category; found by ADL.
caf::error make_error(child_errc x);

/// child_errc::already_started, carrying the running child's handle.
caf::error make_error(child_errc x, const caf::actor& running_child);

/// The child_errc of `err`, or child_errc::none when `err` is empty or of another category.
child_errc child_error_of(const caf::error& err) noexcept;

/// The running child carried by an already_started error (null for any other error).
caf::actor running_child_of(const caf::error& err);

} // namespace microlith
