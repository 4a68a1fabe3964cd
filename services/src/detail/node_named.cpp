#include "detail/node_named.hpp"

#include <fmt/format.h>

#include <vector>

namespace microlith::detail {

const node_config& node_named(const system_config& config, const std::string& name) {
  for (const auto& n : config.nodes)
    if (n.name == name)
      return n;
  std::vector<std::string> names;
  for (const auto& n : config.nodes)
    names.push_back(n.name);
  throw system_file_errors{{system_file_error{
    config.path, 0, 0, "nodes",
    names.empty() ? fmt::format("no node \"{}\": the file declares no [nodes] (run it without "
                                "--node, in one process)",
                                name)
                  : fmt::format("no node \"{}\" (nodes: {})", name, fmt::join(names, ", "))}}};
}

} // namespace microlith::detail
