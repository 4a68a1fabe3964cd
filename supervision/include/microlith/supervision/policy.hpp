// The vocabulary of supervision policies (OTP's restart types and strategies), free of CAF so
// that configuration code (the system file) can use it without pulling in the actor runtime.
#pragma once

#include <string_view>

namespace microlith {

/// When a child is restarted after it exits (OTP's restart types).
enum class restart_type {
  permanent, ///< always
  transient, ///< only after an abnormal exit
  temporary, ///< never; the child is removed when it exits
};

/// The name of a restart type ("permanent").
std::string_view to_string(restart_type x) noexcept;

/// Which children are restarted when one exits (OTP's strategies).
enum class strategy { one_for_one, one_for_all, rest_for_one };

/// The name of a strategy ("one_for_one").
std::string_view to_string(strategy x) noexcept;

} // namespace microlith
