// Reading the system file's [modules] table (system_config::modules): where a node keeps the
// modules uploaded to it, which of them must load, and the largest archive it takes. Called by
// the parser (system_file.cpp) when the file has the table; reports its mistakes the way the
// parser does, with the file, line, column and dotted key.
#pragma once

#include "microlith/services/system_file.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

namespace microlith::detail {

/// The [modules] table `table` of the system file at `path`; a relative dir is resolved
/// against `data_folder` (data_folder.hpp). Each mistake is appended to `errors`; what is wrong
/// keeps its default.
modules_config read_modules_settings(const toml::table& table, const std::string& path,
                                     const std::string& data_folder,
                                     std::vector<system_file_error>& errors);

} // namespace microlith::detail
