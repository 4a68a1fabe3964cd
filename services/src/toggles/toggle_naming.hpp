// What a toggle's name may be: shared by the [toggles] table's reader, module_definition::toggle
// (checked by check_system) and the toggles service, so that all refuse alike.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace microlith::detail {

/// The longest toggle name.
inline constexpr std::size_t max_toggle_name = 128;

/// Why `name` cannot name a toggle (it must be 1 to 128 characters of a-z 0-9 _ . -, start with
/// a letter or a digit, and hold no ".."); nothing when it can.
std::optional<std::string> toggle_name_problem(std::string_view name);

} // namespace microlith::detail
