// node_options_for (host.hpp): the node options a system file asks for.
#include "microlith/services/host.hpp"

#include "detail/node_named.hpp"

#include "microlith/actors/error.hpp"

namespace microlith {

node_options node_options_for(const system_config& config, const std::string& placement) {
  node_options opts;
  opts.name = placement.empty() ? config.name : placement;
  opts.threads = config.threads;
  opts.idle_spin_polls = config.idle_spin_polls;
  opts.idle_nap_polls = config.idle_nap_polls;
  opts.idle_wait = config.idle_wait;
  if (!placement.empty()) {
    auto cluster = cluster_options_for(config, placement);
    if (auto err = cluster::configure_transport(opts, cluster)) {
      // The file's checks read the TLS files already: this is a file changed since, or a
      // fingerprint pin in a program without the verify hook (net/cluster/tls.hpp).
      const auto& self = detail::node_named(config, placement);
      const auto& tls = self.tls ? self.tls : config.cluster.tls;
      throw system_file_errors{{system_file_error{config.path, tls ? tls->line : 0, 0,
                                                  tls ? tls->table : "cluster", message_of(err)}}};
    }
  }
  return opts;
}

} // namespace microlith
