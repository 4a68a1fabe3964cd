// What a module's name and version may be, where they become folder names (module_store.cpp:
// DIR/NAME/VERSION/) and where the system file names modules ([modules] required,
// modules_settings.cpp). Checked before either is used, so that no name or version can lead a
// path out of the store's folder.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace microlith::detail {

/// Why `name` cannot be a module's name, or nothing when it can: one or more of a-z 0-9 '_' '.',
/// not starting with '.', without "..", at most 128 characters ("acme.statements").
std::optional<std::string> module_name_problem(std::string_view name);

/// Why `version` cannot be a module's version, or nothing when it can: numbers separated by
/// single dots, at most 64 characters ("1.2.0", as CMake's VERSION).
std::optional<std::string> module_version_problem(std::string_view version);

} // namespace microlith::detail
