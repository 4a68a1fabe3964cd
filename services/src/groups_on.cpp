// groups_on (host.hpp): the groups a system file places on one node.
#include "microlith/services/host.hpp"

#include "detail/node_named.hpp"

#include <algorithm>

namespace microlith {

std::vector<const group_config*> groups_on(const system_config& config,
                                           const std::string& placement) {
  auto order = config.start_order();
  if (placement.empty())
    return order;
  const auto& self = detail::node_named(config, placement);
  std::vector<const group_config*> out;
  for (const auto* g : order)
    if (std::find(self.groups.begin(), self.groups.end(), g->name) != self.groups.end())
      out.push_back(g);
  return out;
}

} // namespace microlith
