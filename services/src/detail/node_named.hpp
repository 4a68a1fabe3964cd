// One node of a system file's [nodes], looked up by the name a command line gave.
#pragma once

#include "microlith/services/system_file.hpp"

#include <string>

namespace microlith::detail {

/// The node of `config` called `name`. Throws system_file_errors saying which nodes the file
/// declares (or that it declares none) when there is no such node.
const node_config& node_named(const system_config& config, const std::string& name);

} // namespace microlith::detail
