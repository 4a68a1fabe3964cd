// The built-in module "microlith.gateway": a group of any name whose one child is the HTTP
// gateway (net/gateway), configured by the group's [http] table and serving its [routes]
// table. Routes are checked against the contracts of the services they name, which must have
// registered by the time the group starts (hence `needs`). On reload the group builds and
// validates a new table from the new file and swaps it; an invalid table is refused with the
// reason and the old one keeps serving. Listen address and limits change only with a restart.
// The host is told the port the gateway bound (host::http_port).
#include "microlith/services/module.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/net/gateway/gateway_worker.hpp"
#include "microlith/net/gateway/route_table.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace microlith {

namespace {

constexpr std::string_view component = "gateway";

gateway::gateway_options options_of(const http_config& http) {
  gateway::gateway_options out;
  out.host = http.host;
  out.port = http.port;
  out.io_threads = http.io_threads;
  out.max_connections = static_cast<std::size_t>(http.max_connections);
  out.max_header_bytes = static_cast<std::size_t>(http.max_header_bytes);
  out.max_body_bytes = static_cast<std::size_t>(http.max_body_bytes);
  out.request_timeout = http.request_timeout;
  out.idle_timeout = http.idle_timeout;
  out.websocket_path = http.websocket_path;
  out.websocket_queue = static_cast<std::size_t>(http.websocket_queue);
  return out;
}

bool same_http(const http_config& a, const http_config& b) {
  return a.host == b.host && a.port == b.port && a.io_threads == b.io_threads
         && a.max_connections == b.max_connections && a.max_header_bytes == b.max_header_bytes
         && a.max_body_bytes == b.max_body_bytes && a.request_timeout == b.request_timeout
         && a.idle_timeout == b.idle_timeout && a.websocket_path == b.websocket_path
         && a.websocket_queue == b.websocket_queue && a.admin == b.admin;
}

// The routes of a gateway group as specs.
std::vector<gateway::route_spec> specs_of(const group_config& group) {
  std::vector<gateway::route_spec> specs;
  for (const auto& r : group.routes)
    specs.push_back(gateway::route_spec{r.verb, r.pattern, r.service, r.method});
  return specs;
}

// The paths the group's gateway serves itself.
std::vector<std::string> reserved_of(const group_config& group) {
  return gateway::reserved_paths(group.http ? group.http->websocket_path : std::string{},
                                 group.http && group.http->admin);
}

// Names the group in a table's problems.
caf::error refused(const group_config& group, const caf::error& why) {
  return make_error(errc::bad_request,
                    fmt::format("routes of group {}:\n{}", group.name, message_of(why)));
}

children build_gateway(group_context& g) {
  const auto& config = g.config();
  if (!config.http)
    throw std::runtime_error(fmt::format("gateway group {} has no [groups.{}.http] table",
                                         config.name, config.name));
  auto& n = g.host_node();
  auto routes = std::make_shared<gateway::route_switch>();
  auto contracts = gateway::registered_contracts(n.registry());
  if (auto first = routes->build_and_install(specs_of(config), contracts, reserved_of(config));
      !first)
    throw std::runtime_error(message_of(refused(config, first.error())));
  gateway::gateway_server::readiness ready;
  if (auto* host = g.host()) {
    ready = [host] {
      gateway::readiness_report report;
      auto missing = host->unready_groups();
      if (missing.empty())
        return report;
      report.ready = false;
      std::vector<std::string> reasons;
      for (auto& m : missing) {
        report.not_running.push_back(std::move(m.name));
        reasons.push_back(std::move(m.reason));
      }
      report.message = fmt::format("{}", fmt::join(reasons, "; "));
      return report;
    };
    host->on_reload(config.name, [contracts, routes, http = *config.http](
                                   const group_config& next) -> caf::error {
      auto specs = specs_of(next);
      auto count = specs.size(); // a table that builds has one route per spec
      auto generation = routes->build_and_install(std::move(specs), contracts, reserved_of(next));
      if (!generation)
        return refused(next, generation.error());
      log::info(component, "group {}: route table {} installed ({} routes)", next.name,
                *generation, count);
      if (next.http && !same_http(http, *next.http))
        log::warn(component, "group {}: [http] settings changed; they apply after a restart",
                  next.name);
      return {};
    });
  }
  auto options = options_of(*config.http);
  if (config.http->admin && g.host() != nullptr)
    options.admin_reload = [host = g.host()] { return host->reload_file(); };
  // The host learns the port the gateway bound (the OS's choice when the file says port 0).
  gateway::server_observer observer;
  if (auto* host = g.host())
    observer = [host, group = config.name](gateway::gateway_server* server) {
      host->on_listening(group, server != nullptr ? server->port() : std::uint16_t{0});
    };
  return children{g.worker(gateway::gateway_worker("http", n, std::move(options), routes,
                                                   std::move(ready), std::move(observer)))};
}

} // namespace

namespace detail {

void add_builtin_modules(module_catalogue& catalogue) {
  catalogue.add(module_definition{std::string(gateway_module)}.any_group(build_gateway));
}

} // namespace detail

} // namespace microlith
