// Reading the system file's [observer] table (system_config::observer): where a process serves
// its own node's GET /metrics without a gateway group, and who may read it. Called by the parser
// (system_file.cpp) when the file has the table, after the [nodes] tables; reports its mistakes
// the way the parser does, with the file, line, column and dotted key.
#pragma once

#include "microlith/services/system_file.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

namespace microlith::detail {

/// The [observer] table `table` of the system file at `path`, whose [nodes.NAME] tables are
/// `nodes` (an [observer.nodes.NAME] must name one of them). Each mistake is appended to
/// `errors`; what is wrong keeps its default.
observer_config read_observer_settings(const toml::table& table, const std::string& path,
                                       const std::vector<node_config>& nodes,
                                       std::vector<system_file_error>& errors);

} // namespace microlith::detail
