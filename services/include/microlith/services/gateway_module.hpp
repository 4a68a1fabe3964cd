// The built-in module "microlith.gateway": a group of any name whose one child is the HTTP
// gateway (net/gateway), configured by the group's [http] table and serving its [routes]
// table. The module owns both tables: it declares them and reads them (module_definition::
// settings) into gateway_settings, which its groups and tests find in group_config::settings.
//
//     [groups.web]               # a gateway group
//     module = "microlith.gateway"
//     needs = ["accounts"]       # the groups whose services it routes to
//     [groups.web.http]          # required for a gateway group, only allowed there
//     listen = "127.0.0.1:8080"  # required host:port (port 0 = the OS chooses)
//     io_threads = 1             # optional 1..64
//     max_connections = 1024     # optional >= 1
//     max_header_bytes = 8192    # optional >= 512 (over it: 431)
//     max_body_bytes = 1048576   # optional >= 0 (over it: 413)
//     request_timeout = "10s"    # optional duration > 0: reading a request and answering it
//     idle_timeout = "60s"       # optional duration > 0: keep-alive wait for the next request
//     websocket_path = "/ws"     # optional, "" = none; must start with '/'
//     websocket_queue = 256      # optional >= 1: messages buffered per WebSocket client
//     admin = false              # optional: true serves POST /_microlith/reload (reread the
//                                #   system file, swap routes) to clients on the loopback address
//                                #   that bear the admin token ([admin] token or
//                                #   MICROLITH_ADMIN_TOKEN; without one, check and run refuse
//                                #   the group; docs/admin.md)
//     metrics = "open"           # optional "open" | "admin" | "off": who may GET /metrics
//                                #   (anyone; bearers of the admin token from any address, which
//                                #   check and run refuse without a token; nobody: no endpoint)
//     tls_certificate = "tls/web.pem"  # optional, with tls_key: HTTPS (and wss) only, TLS >= 1.2;
//     tls_key = "tls/web.key"          #   PEM files, paths relative to the system file's folder,
//                                      #   read by check, run and each reload (a reload installs
//                                      #   them for new connections)
//     [groups.web.routes]        # "VERB /path/{param}" = "service.Method"; syntax checked
//     "POST /accounts/{account_id}/deposit" = "accounts.Deposit"   # here, contracts at start
//
// Besides its [routes], a gateway group serves the routes that the modules of the system's groups
// declare in code (module_definition::route; the parser hands them to it as
// group_config::module_routes) and starts after those modules' groups, as if they were in its
// `needs` (group_config::route_needs). A module route that matches the same requests as a file
// route or another module's route is refused, naming both origins ("bank.toml:12", "module
// acme.statements").
//
// The defaults are gateway::gateway_options'. Routes are checked against the contracts of the
// services they name when the group starts (those services must have registered by then, hence
// `needs`). On reload the group builds and validates a new table from the new file (its
// [routes] and the module routes) and swaps it; an invalid table is refused with the reason and
// the old one keeps serving. The TLS certificate and key files are read again with the file: a
// reload installs them for new connections (open ones keep theirs), and one whose certificate does
// not load is refused as a whole. Listen address, limits and turning TLS on or off change only with
// a restart.
#pragma once

#include "microlith/net/gateway/gateway.hpp"
#include "microlith/net/gateway/route_table.hpp"
#include "microlith/net/gateway/tls.hpp"

#include <memory>

#include <string_view>
#include <vector>

namespace microlith {

/// The name of the built-in gateway module.
inline constexpr std::string_view gateway_module = "microlith.gateway";

/// One entry of a gateway group's [routes] table.
struct gateway_route {
  gateway::route_spec spec; ///< its origin is "FILE:LINE"
  int line = 0;             ///< where the entry is in the system file
};

/// What the gateway module reads from a gateway group's [http] and [routes] tables.
struct gateway_settings {
  /// [http]; admin_reload is set when the group starts. metrics_endpoint is [http] metrics.
  /// The hook for metrics: `options.metrics` (where requests are counted) and
  /// `options.render_metrics` (what GET /metrics answers) are passed to the gateway as they are
  /// here (null as read from the file: requests are not counted, /metrics answers 503), as are
  /// `options.admin_feeds`.
  gateway::gateway_options options;
  bool admin = false; ///< [http] admin: serve POST /_microlith/reload
  int admin_line = 0; ///< where `admin = true` is (0 when it is not)
  int admin_column = 0;
  int metrics_line = 0; ///< where `metrics` is (0 when it is not)
  int metrics_column = 0;
  std::vector<gateway_route> routes; ///< [routes], in file order
  /// [http] tls_certificate and tls_key, read when the file was read; null: plain HTTP.
  std::shared_ptr<const gateway::tls_context> tls;
};

class group_host;

/// A gateway's readiness on the node of `host` (which must outlive it): ready while every
/// permanent group runs somewhere reachable (group_host::unready_groups), else 503 naming them.
gateway::gateway_server::readiness readiness_of(const group_host& host);

} // namespace microlith
