// Reading the system file's [toggles] table (system_config::toggles): where a node keeps its
// toggle values, the test switches, and the toggles the file declares. Called by the parser
// (system_file.cpp) when the file has the table; reports its mistakes the way the parser does,
// with the file, line, column and dotted key.
#pragma once

#include "microlith/services/system_file.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

namespace microlith::detail {

/// The [toggles] table `table` of the system file at `path`; a relative database path is
/// resolved against `data_folder` (data_folder.hpp). Each mistake is appended to `errors`; what
/// is wrong keeps its default.
toggles_config read_toggles_settings(const toml::table& table, const std::string& path,
                                     const std::string& data_folder,
                                     std::vector<system_file_error>& errors);

} // namespace microlith::detail
