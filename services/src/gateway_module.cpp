// The built-in module "microlith.gateway" (gateway_module.hpp): reads its groups' [http] and
// [routes] tables, runs the HTTP gateway of net/ as the group's one child serving those routes
// and the ones the system's modules declare in code, swaps the route table on reload, tells the
// host the port it bound (host::http_port) and describes a group's gateway to an operator.
#include "microlith/services/gateway_module.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/net/gateway/gateway_worker.hpp"
#include "microlith/services/code_server.hpp"
#include "microlith/services/jobs_admin.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/modules_admin.hpp"
#include "microlith/services/observer_admin.hpp"
#include "microlith/services/toggles_admin.hpp"
#include "observer/observer_runtime.hpp"

#include "detail/data_folder.hpp"
#include "detail/listen_address.hpp"

#include "microlith/net/gateway/tls.hpp"

#include <boost/asio/ip/address.hpp>

#include <fmt/format.h>

#include <limits>
#include <mutex>
#include <stdexcept>

namespace microlith {

namespace {

constexpr std::string_view component = "gateway";

// -- reading the tables -----------------------------------------------------------------------

// [http] tls_certificate and tls_key, both or neither, as paths relative to the system file's
// folder (`folder`); their files are read now, so that check, run and a reload refuse a
// certificate that does not load, naming the key.
void read_tls(const settings_table& http, const std::string& folder, gateway_settings& out) {
  auto certificate = http.find("tls_certificate");
  auto key = http.find("tls_key");
  if (!certificate && !key)
    return;
  if (!certificate || !key) {
    const auto* missing = certificate ? "tls_key" : "tls_certificate";
    const auto* present = certificate ? "tls_certificate" : "tls_key";
    http.refuse(http.key(missing),
                fmt::format("{} is set but {} is not: HTTPS needs both, the PEM certificate "
                            "(tls_certificate) and its PEM private key (tls_key)",
                            present, missing));
    return;
  }
  auto path_of = [&folder](const setting& entry) -> std::optional<std::string> {
    auto text = entry.string();
    if (!text || text->empty()) {
      entry.refuse(fmt::format("expected the path of a PEM file (relative to the system file's "
                               "folder), got {}",
                               entry.text()));
      return std::nullopt;
    }
    return detail::in_data_folder(folder, *text);
  };
  auto certificate_path = path_of(*certificate);
  auto key_path = path_of(*key);
  if (!certificate_path || !key_path)
    return;
  gateway::tls_part failed = gateway::tls_part::certificate;
  auto context = gateway::load_tls_context(*certificate_path, *key_path, &failed);
  if (!context) {
    (failed == gateway::tls_part::key ? *key : *certificate).refuse(message_of(context.error()));
    return;
  }
  out.tls = std::move(*context);
}

// [groups.NAME.http] of the file at `file` into `out`; the defaults are gateway_options'.
void read_http(const settings_table& http, const std::string& file, gateway_settings& out) {
  auto& o = out.options;
  if (auto listen = http.string("listen", presence::required)) {
    if (auto address = detail::parse_listen(*listen)) {
      o.host = address->host;
      o.port = address->port;
    } else {
      http.find("listen")->refuse(
        fmt::format("expected host:port such as \"127.0.0.1:8080\" (port 0..65535), got {}",
                    http.find("listen")->text()));
    }
  }
  constexpr std::int64_t big = std::numeric_limits<std::int32_t>::max();
  if (auto v = http.integer("io_threads", 1, 64, "an integer from 1 to 64"))
    o.io_threads = static_cast<int>(*v);
  if (auto v = http.integer("max_connections", 1, big, "an integer >= 1"))
    o.max_connections = static_cast<std::size_t>(*v);
  if (auto v = http.integer("max_header_bytes", 512, big, "an integer >= 512"))
    o.max_header_bytes = static_cast<std::size_t>(*v);
  if (auto v = http.integer("max_body_bytes", 0, std::numeric_limits<std::int64_t>::max(),
                            "an integer >= 0"))
    o.max_body_bytes = static_cast<std::size_t>(*v);
  if (auto v = http.duration("request_timeout"))
    o.request_timeout = *v;
  if (auto v = http.duration("idle_timeout"))
    o.idle_timeout = *v;
  if (auto path = http.string("websocket_path")) {
    if (!path->empty() && path->front() != '/')
      http.find("websocket_path")
        ->refuse(fmt::format("expected \"\" (no WebSocket endpoint) or a path starting with '/', "
                             "got {}",
                             http.find("websocket_path")->text()));
    else
      o.websocket_path = *path;
  }
  if (auto v = http.integer("websocket_queue", 1, big, "an integer >= 1"))
    o.websocket_queue = static_cast<std::size_t>(*v);
  if (auto metrics = http.string("metrics")) {
    auto at = http.find("metrics");
    if (auto access = gateway::parse_metrics_access(*metrics)) {
      o.metrics_endpoint = *access;
      out.metrics_line = at->line();
      out.metrics_column = at->column();
    } else {
      at->refuse(fmt::format("expected \"open\" (anyone may GET /metrics), \"admin\" (bearers "
                             "of the admin token) or \"off\" (no /metrics), got {}",
                             at->text()));
    }
  }
  if (auto sample = http.find("trace_sample")) {
    auto v = sample->number();
    if (!v || !(*v >= 0.0 && *v <= 1.0))
      sample->refuse(fmt::format("expected a number from 0 to 1 (the share of requests whose "
                                 "calls the observer logs), got {}",
                                 sample->text()));
    else
      o.trace_sample = *v;
  }
  read_tls(http, detail::default_data_folder(file), out);
  if (auto admin = http.boolean("admin")) {
    out.admin = *admin;
    if (auto at = http.find("admin")) {
      out.admin_line = at->line();
      out.admin_column = at->column();
    }
  }
}

// [groups.NAME.routes] of file `file` into `out`, in file order; the syntax only (contracts at
// start).
void read_routes(const settings_table& routes, const std::string& file, gateway_settings& out) {
  for (const auto& entry : routes.entries()) {
    auto target = entry.string();
    if (!target) {
      entry.refuse_type("a target string \"service.Method\"");
      continue;
    }
    auto spec = gateway::parse_route(entry.name(), *target);
    if (!spec) {
      entry.refuse(message_of(spec.error()));
      continue;
    }
    spec->origin = fmt::format("{}:{}", file, entry.line());
    out.routes.push_back(gateway_route{std::move(*spec), entry.line()});
  }
}

// A gateway group's tables: [http] is required.
gateway_settings read_gateway(const group_tables& tables) {
  gateway_settings out;
  if (!tables.has("http"))
    tables.refuse(tables.key("http"),
                  fmt::format("a gateway group needs a [{}] table with at least listen = "
                              "\"host:port\"",
                              tables.key("http")));
  else if (auto http = tables.table("http"))
    read_http(*http, tables.file(), out);
  if (auto routes = tables.table("routes"))
    read_routes(*routes, tables.file(), out);
  return out;
}

// -- describing a group -----------------------------------------------------------------------

// Its URL (with the bound port when running) and routes, its file's then those the modules of the
// system's groups declare, for `microlith check` and `run`.
std::vector<std::string> describe_gateway(const group_config& group, const group_status* status) {
  const auto* settings = std::any_cast<gateway_settings>(&group.settings);
  if (settings == nullptr)
    return {};
  const auto& o = settings->options;
  const auto route_count = settings->routes.size() + group.module_routes.size();
  std::vector<std::string> lines;
  if (status == nullptr) {
    lines.push_back(fmt::format(
      "gateway {}: listens on {}:{}{} ({} routes{})", group.name, o.host, o.port,
      settings->tls ? fmt::format(" with TLS (certificate {})", settings->tls->certificate_file())
                    : std::string{},
      route_count,
      o.websocket_path.empty() ? std::string{} : fmt::format(", WebSocket {}", o.websocket_path)));
  } else if (status->http_port == 0) {
    lines.push_back(fmt::format("gateway {}: not listening at the moment (its file entry says "
                                "{}:{})",
                                group.name, o.host, o.port));
    return lines;
  } else {
    // The port the gateway bound: the OS's choice when the file says 0.
    const auto port = status->http_port;
    const auto* scheme = settings->tls ? "https" : "http";
    lines.push_back(fmt::format(
      "gateway {}: {}://{}:{}/ ({} routes{})", group.name, scheme, o.host, port, route_count,
      o.websocket_path.empty()
        ? std::string{}
        : fmt::format(", WebSocket {}://{}:{}{}", settings->tls ? "wss" : "ws", o.host, port,
                      o.websocket_path)));
  }
  for (const auto& r : settings->routes)
    lines.push_back(fmt::format("  {}", r.spec.to_string()));
  for (const auto& r : group.module_routes)
    lines.push_back(fmt::format("  {}  (module {})", r.spec.to_string(), r.module));
  return lines;
}

// Where a gateway group turns its admin endpoint on ([http] admin = true, or metrics =
// "admin"), for check_system.
std::optional<admin_switch> admin_of(const group_config& group) {
  const auto* settings = std::any_cast<gateway_settings>(&group.settings);
  if (settings == nullptr)
    return std::nullopt;
  if (settings->admin)
    return admin_switch{fmt::format("groups.{}.http.admin", group.name), settings->admin_line,
                        settings->admin_column};
  if (settings->options.metrics_endpoint == gateway::metrics_access::admin)
    return admin_switch{fmt::format("groups.{}.http.metrics", group.name), settings->metrics_line,
                        settings->metrics_column};
  return std::nullopt;
}

// -- running a group --------------------------------------------------------------------------

// Whether two [http] tables say the same (what a reload cannot change).
bool same_http(const gateway_settings& a, const gateway_settings& b) {
  const auto& x = a.options;
  const auto& y = b.options;
  return x.host == y.host && x.port == y.port && x.io_threads == y.io_threads
         && x.max_connections == y.max_connections && x.max_header_bytes == y.max_header_bytes
         && x.max_body_bytes == y.max_body_bytes && x.request_timeout == y.request_timeout
         && x.idle_timeout == y.idle_timeout && x.websocket_path == y.websocket_path
         && x.websocket_queue == y.websocket_queue && x.metrics_endpoint == y.metrics_endpoint
         && a.admin == b.admin && (a.tls != nullptr) == (b.tls != nullptr);
}

// The routes a gateway group serves, as specs: its file's [routes], then those the modules of the
// system's groups declare (each with its origin, which the table's problems name).
std::vector<gateway::route_spec> specs_of(const group_config& group,
                                          const gateway_settings& settings) {
  std::vector<gateway::route_spec> specs;
  for (const auto& r : settings.routes)
    specs.push_back(r.spec);
  for (const auto& r : group.module_routes)
    specs.push_back(r.spec);
  return specs;
}

// The admin operations the group's gateway serves under their path prefixes (with [http]
// admin on, in a host `h`, null outside one): the installed modules', the toggles', the jobs'
// and the observer's routes.
std::map<std::string, gateway::admin_operation>
admin_operations_of(const gateway_settings& settings, group_host* h, node& n) {
  std::map<std::string, gateway::admin_operation> out;
  if (!settings.admin || h == nullptr)
    return out;
  if (auto* modules = h->modules())
    out[std::string{modules_admin_path}] = modules_admin_operation(*modules);
  if (h->toggles() != nullptr)
    out[std::string{toggles_admin_path}] = toggles_admin_operation(n);
  if (h->runs_jobs())
    out[std::string{jobs_admin_path}] = jobs_admin_operation(n);
  if (auto observer = h->observer())
    out[std::string{observer_admin_path}] = observer_admin_operation(n, std::move(observer));
  return out;
}

// The paths the group's gateway serves itself, which no route may take: a route there would
// never be served.
std::vector<std::string> reserved_of(const gateway_settings& settings, group_host* h, node& n) {
  std::vector<std::string> prefixes;
  for (const auto& entry : admin_operations_of(settings, h, n))
    prefixes.push_back(entry.first);
  std::vector<std::string> own;
  if (settings.options.metrics_endpoint != gateway::metrics_access::off)
    own.emplace_back(gateway::metrics_path);
  for (const auto& entry : settings.options.admin_feeds)
    own.push_back(entry.first);
  if (settings.admin && h != nullptr && h->observer()) { // the observer's page and its feed
    own.emplace_back(observer_page_path);
    own.emplace_back(observer_feed_path);
  }
  return gateway::reserved_paths(settings.options.websocket_path, settings.admin, prefixes, own);
}

// Names the group in a table's problems.
caf::error refused(const group_config& group, const caf::error& why) {
  return make_error(errc::bad_request,
                    fmt::format("routes of group {}:\n{}", group.name, message_of(why)));
}

// What a gateway group's table is made of now: its own routes (file and linked-in modules, as of
// the last reload) and those of the modules loaded at run time. Shared by the reload handler and
// the code server's installer; each rebuild installs one table.
struct gateway_routes {
  std::mutex mutex;
  std::vector<gateway::route_spec> own;    // specs_of(group, settings) of the settings in force
  std::vector<std::string> reserved;       // reserved_of(settings in force)
  std::vector<gateway::route_spec> loaded; // the code server's routes, prefix applied
  std::shared_ptr<gateway::route_switch> table = std::make_shared<gateway::route_switch>();
  gateway::contract_lookup contracts;

  // Builds and installs own + loaded (requires mutex); answers the table's generation.
  caf::expected<std::uint64_t> install_locked() {
    auto specs = own;
    specs.insert(specs.end(), loaded.begin(), loaded.end());
    return table->build_and_install(std::move(specs), contracts, reserved);
  }
};

children build_gateway(group_context& g) {
  const auto& config = g.config();
  const auto& settings = g.settings<gateway_settings>();
  auto& n = g.host_node();
  auto state = std::make_shared<gateway_routes>();
  state->contracts = gateway::registered_contracts(n.registry());
  state->own = specs_of(config, settings);
  auto* modules = g.host() != nullptr ? g.host()->modules() : nullptr;
  state->reserved = reserved_of(settings, g.host(), n);
  if (modules != nullptr)
    state->loaded = modules->routes();
  {
    std::lock_guard<std::mutex> guard{state->mutex};
    if (auto first = state->install_locked(); !first)
      throw std::runtime_error(message_of(refused(config, first.error())));
  }
  // An HTTPS gateway: the certificate read with the file; a reload installs the new file's.
  std::shared_ptr<gateway::tls_switch> tls;
  if (settings.tls)
    tls = std::make_shared<gateway::tls_switch>(settings.tls);
  gateway::gateway_server::readiness ready;
  if (auto* host = g.host()) {
    ready = readiness_of(*host);
    host->on_reload(
      config.name, [state, settings, host, &n, tls](const group_config& next) -> caf::error {
        const auto* next_settings = std::any_cast<gateway_settings>(&next.settings);
        if (next_settings == nullptr)
          return make_error(errc::bad_request,
                            fmt::format("group {} is no longer a gateway group (module {}): that "
                                        "needs a restart",
                                        next.name, next.module));
        std::lock_guard<std::mutex> guard{state->mutex};
        auto own = std::move(state->own);
        auto reserved = std::move(state->reserved);
        state->own = specs_of(next, *next_settings);
        state->reserved = reserved_of(*next_settings, host, n);
        auto count = state->own.size() + state->loaded.size(); // one route per spec
        auto generation = state->install_locked();
        if (!generation) {
          state->own = std::move(own);
          state->reserved = std::move(reserved);
          return refused(next, generation.error());
        }
        log::info(component, "group {}: route table {} installed ({} routes{}{})", next.name,
                  *generation, count,
                  next.module_routes.empty()
                    ? std::string{}
                    : fmt::format(", {} declared by modules", next.module_routes.size()),
                  state->loaded.empty()
                    ? std::string{}
                    : fmt::format(", {} of loaded modules", state->loaded.size()));
        // The certificate files were read again with the file (read_tls): a certificate that
        // does not load refused the reload as a whole. New connections use the new one; open
        // connections keep theirs.
        if (tls && next_settings->tls) {
          tls->install(next_settings->tls);
          log::info(component, "group {}: TLS certificate {} installed (SHA-256 {})", next.name,
                    next_settings->tls->certificate_file(), next_settings->tls->fingerprint());
        }
        if (!same_http(settings, *next_settings))
          log::warn(component, "group {}: [http] settings changed; they apply after a restart",
                    next.name);
        return {};
      });
    if (modules != nullptr)
      modules->on_routes(
        config.name,
        [state, group = config.name](const std::vector<gateway::route_spec>& loaded) -> caf::error {
          std::lock_guard<std::mutex> guard{state->mutex};
          auto previous = std::move(state->loaded);
          state->loaded = loaded;
          auto generation = state->install_locked();
          if (!generation) {
            state->loaded = std::move(previous);
            return generation.error();
          }
          log::info(component,
                    "group {}: route table {} installed ({} routes of loaded "
                    "modules)",
                    group, *generation, state->loaded.size());
          return {};
        });
  }
  auto options = settings.options;
  options.tls = tls;
  if (!tls) { // plain HTTP is for loopback: say so when the gateway listens beyond it
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address(options.host, ec);
    if (ec || !gateway::is_loopback_client(address))
      log::warn(component,
                "group {}: the gateway listens on {} in plain HTTP: requests, answers and the "
                "admin token cross the network unencrypted; set tls_certificate and tls_key in "
                "[groups.{}.http] (docs/gateway.md, \"Security\")",
                config.name, options.host, config.name);
  }
  if (settings.admin && g.host() != nullptr) {
    options.admin_reload = [host = g.host()] { return host->reload_file(); };
    options.admin_token = g.host()->admin_token();
    options.admin_operations = admin_operations_of(settings, g.host(), n);
    if (modules != nullptr) {
      // An upload over [modules] max_archive_bytes is 413 on its head, before it is buffered;
      // one up to it is read whole (the default admin limit would cut a larger setting short).
      options.admin_max_body_bytes = modules->limits().max_bytes;
    }
  }
  if (options.metrics_endpoint == gateway::metrics_access::admin && g.host() != nullptr)
    options.admin_token = g.host()->admin_token(); // check_system refused the group without one
  // The node's observer (docs/observer.md): the gateway counts its routes for it, answers
  // GET /metrics with its reports and, with admin on, serves its page and the page's feed. One
  // table of counts per group start: a restart of the gateway's worker keeps it.
  if (auto observer = g.host() != nullptr ? g.host()->observer() : nullptr) {
    options.metrics = std::make_shared<gateway::http_metrics>();
    observer->add_gateway(config.name, options.metrics);
    options.render_metrics = observer_metrics_renderer(n, observer);
    if (settings.admin) {
      options.admin_feeds[std::string{observer_feed_path}] =
        gateway::admin_feed{std::string{observer_admin_path}, std::chrono::seconds(1)};
      options.admin_pages[std::string{observer_page_path}] = observer_page();
    }
  }
  // The host learns the port the gateway bound (the OS's choice when the file says port 0).
  gateway::server_observer observer;
  if (auto* host = g.host())
    observer = [host, group = config.name](gateway::gateway_server* server) {
      host->on_listening(group, server != nullptr ? server->port() : std::uint16_t{0});
    };
  return children{g.worker(gateway::gateway_worker("http", n, std::move(options), state->table,
                                                   std::move(ready), std::move(observer)))};
}

} // namespace

gateway::gateway_server::readiness readiness_of(const group_host& host) {
  return [&host] {
    gateway::readiness_report report;
    auto missing = host.unready_groups();
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
}

namespace detail {

void add_builtin_modules(module_catalogue& catalogue) {
  catalogue.add(module_definition{std::string(gateway_module)}
                  .summary("the gateway")
                  .settings({"http", "routes"}, read_gateway)
                  .describe(describe_gateway)
                  .serve_module_routes()
                  .admin_operations(admin_of)
                  .any_group(build_gateway));
}

} // namespace detail

} // namespace microlith
