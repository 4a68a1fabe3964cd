// node_options_for (host.hpp): the node options a system file asks for.
#include "microlith/services/host.hpp"

namespace microlith {

node_options node_options_for(const system_config& config, const std::string& placement) {
  node_options opts;
  opts.name = placement.empty() ? config.name : placement;
  opts.threads = config.threads;
  opts.idle_spin_polls = config.idle_spin_polls;
  opts.idle_nap_polls = config.idle_nap_polls;
  opts.idle_wait = config.idle_wait;
  if (!placement.empty())
    cluster::configure_transport(opts, cluster_options_for(config, placement));
  return opts;
}

} // namespace microlith
