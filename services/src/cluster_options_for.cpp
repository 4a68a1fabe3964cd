// cluster_options_for (host.hpp): the cluster settings of one node of a system file.
#include "microlith/services/host.hpp"

#include "detail/node_named.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace microlith {

cluster::cluster_options cluster_options_for(const system_config& config,
                                             const std::string& placement) {
  const auto& self = detail::node_named(config, placement);
  cluster::cluster_options opts;
  opts.system = config.name;
  opts.node = self.name;
  opts.host = self.host;
  opts.port = self.port;
  for (const auto& n : config.nodes)
    if (n.name != self.name)
      opts.peers.push_back(cluster::peer_address{n.name, n.host, n.port});
  opts.cookie = config.cluster.cookie;
  if (const char* cookie = std::getenv("MICROLITH_COOKIE"); cookie != nullptr)
    opts.cookie = cookie;
  if (config.cluster.heartbeat_interval)
    opts.heartbeat_interval = *config.cluster.heartbeat_interval;
  if (config.cluster.heartbeat_timeout)
    opts.heartbeat_timeout = *config.cluster.heartbeat_timeout;
  // A node's own [nodes.NAME.tls] when it has one, else [cluster.tls].
  const auto& tls = self.tls ? self.tls : config.cluster.tls;
  if (tls) {
    opts.tls.certificate = tls->certificate;
    opts.tls.key = tls->key;
    opts.tls.trusted_certificates = tls->trusted_certificates;
    opts.tls.trusted_fingerprints = tls->trusted_fingerprints;
    opts.tls.source = fmt::format("[{}]", tls->table);
  }
  return opts;
}

} // namespace microlith
