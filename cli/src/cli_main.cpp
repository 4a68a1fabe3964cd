#include "microlith/cli/main.hpp"

#include "admin_client.hpp"
#include "cert_command.hpp"
#include "jobs_commands.hpp"
#include "module_commands.hpp"
#include "modules_commands.hpp"
#include "observe_command.hpp"
#include "toggle_commands.hpp"

#include "microlith/actors/log.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/services/host.hpp"
#include "microlith/services/keep_freed_heap.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/system_file.hpp"

#include <CLI/CLI.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <pthread.h>
#include <thread>
#include <unistd.h>

namespace microlith::cli {

namespace {

constexpr std::string_view component = "microlith";

// What the module of `group` says of its settings (module_definition::describe); `status` is
// null when the file is only checked.
std::vector<std::string> module_description(const group_config& group, const group_status* status) {
  const auto* m = module_catalogue::global().find(group.module);
  return m == nullptr ? std::vector<std::string>{} : m->describe_group(group, status);
}

// Loads and checks a system file; prints every error and answers nullopt when there are any.
std::optional<system_config> load_checked(const std::string& path,
                                          std::string_view consequence = "nothing was started",
                                          const std::string& data_folder = {}) {
  std::vector<system_file_error> errors;
  std::optional<system_config> config;
  try {
    config = load_system_file(path, module_catalogue::global(), data_folder);
    errors = check_system(*config, module_catalogue::global());
  } catch (const system_file_errors& e) {
    errors = e.errors();
  }
  if (errors.empty())
    return config;
  for (const auto& e : errors)
    fmt::print(stderr, "{}\n", e.to_string());
  fmt::print(stderr, "{}: {} error{}; {}\n", path, errors.size(), errors.size() == 1 ? "" : "s",
             consequence);
  return std::nullopt;
}

int run_check(const std::string& path) {
  auto config = load_checked(path);
  if (!config)
    return 2;
  std::vector<std::string> order;
  for (const auto* g : config->start_order())
    order.push_back(g->name);
  fmt::print("{}: ok: system {}, {} group{} (start order: {}), {} node{}\n", path, config->name,
             order.size(), order.size() == 1 ? "" : "s", fmt::join(order, ", "),
             config->nodes.size(), config->nodes.size() == 1 ? "" : "s");
  for (const auto& g : config->groups)
    for (const auto& line : module_description(g, nullptr))
      fmt::print("{}\n", line);
  return 0;
}

// Makes the system's data folder if it is missing and names it (the first line `run` logs);
// false, with the reason logged, when it cannot be made.
bool prepare_data_folder(const system_config& config) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path folder =
    fs::absolute(config.data_folder.empty() ? fs::path{"."} : fs::path{config.data_folder}, ec)
      .lexically_normal();
  if (!ec && !fs::is_directory(folder, ec))
    fs::create_directories(folder, ec);
  if (ec) {
    log::error(component, "system {} did not start: data folder {}: {}", config.name,
               folder.string(), ec.message());
    return false;
  }
  log::info(component, "system {}: data folder {}", config.name, folder.string());
  return true;
}

int run_system(const std::string& path, const std::string& placement, bool print_tree,
               const std::string& data_folder) {
  auto config = load_checked(path, "nothing was started", data_folder);
  if (!config)
    return 2;
  keep_freed_heap();
  if (auto lvl = log::parse_level(config->log_level))
    log::set_level(*lvl);
  if (!prepare_data_folder(*config))
    return 1;
  node_options options;
  try {
    options = node_options_for(*config, placement);
  } catch (const system_file_errors& e) {
    fmt::print(stderr, "{}\n", e.what());
    return 2;
  }
  // Signals go to one thread that waits for them; every other thread (CAF's included, started
  // below) inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  int code = 0;
  {
    node n{options};
    host h{n, *config, module_catalogue::global(), placement};
    // The signal thread runs from the start: a node waiting for its peers can be stopped too.
    std::atomic<bool> done{false};
    std::atomic<bool> started{false};
    std::atomic<bool> stop_asked{false};
    std::thread signal_thread{[&] {
      for (;;) {
        int sig = 0;
        sigwait(&signals, &sig);
        if (done)
          return;
        if (sig == SIGUSR1) {
          if (started) {
            fmt::print("{}", to_text(h.snapshot()));
            std::fflush(stdout);
          }
          continue;
        }
        if (sig == SIGHUP) {
          if (!started)
            continue;
          log::info(component, "SIGHUP received: reloading {}", path);
          if (auto next =
                load_checked(path, "the reload is refused, the running settings stay", data_folder))
            if (auto err = h.reload(*next))
              log::error(component, "{}", message_of(err));
          continue;
        }
        log::info(component, "{} received: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        stop_asked = true;
        h.request_stop();
        return;
      }
    }};
    auto stop_signal_thread = [&] {
      done = true;
      pthread_kill(signal_thread.native_handle(), SIGTERM);
      signal_thread.join();
    };
    if (auto err = h.start()) {
      stop_signal_thread();
      h.stop();
      n.shutdown();
      if (stop_asked) {
        log::info(component, "stopped before every group had started");
        return 0;
      }
      log::error(component, "system {} did not start: {}", config->name, describe(err));
      return 1;
    }
    started = true;
    if (placement.empty())
      log::info(component,
                "system {} running in one process: groups {}; stop with Ctrl-C, "
                "print the supervision tree with kill -USR1 {}, reload routes with kill -HUP {}",
                config->name, fmt::join(h.running_groups(), ", "), getpid(), getpid());
    else
      log::info(component,
                "node {} of system {} running: groups {}; listening for nodes on "
                "{}:{}; stop with Ctrl-C, print the supervision tree with kill -USR1 {}",
                placement, config->name, fmt::join(h.running_groups(), ", "),
                h.membership()->options().host, h.membership()->port(), getpid());
    // What each running group's module says of it (a gateway: its URL with the port it bound).
    auto running = h.running_groups();
    for (const auto& g : config->groups) {
      if (std::find(running.begin(), running.end(), g.name) == running.end())
        continue;
      const group_status status{h.http_port(g.name)};
      for (const auto& line : module_description(g, &status))
        fmt::print("{}\n", line);
    }
    if (print_tree)
      fmt::print("{}", to_text(h.snapshot()));
    std::fflush(stdout);
    code = h.wait();
    // Wake the signal thread when the stop came from a failed group.
    stop_signal_thread();
    h.stop();
    n.shutdown();
  }
  log::info(component, "{} {} stopped{}", placement.empty() ? "system" : "node",
            placement.empty() ? config->name : placement,
            code == 0 ? "" : fmt::format(" with exit code {}", code));
  return code;
}

int list_modules() {
  for (const auto& name : module_catalogue::global().names()) {
    const auto* m = module_catalogue::global().find(name);
    std::vector<std::string> groups;
    for (const auto& g : m->groups())
      groups.push_back(g.name);
    if (m->serves_any_group())
      groups.push_back("any name the system file gives");
    if (groups.empty())
      groups.push_back("none");
    fmt::print("{}: groups {}\n", name, fmt::join(groups, ", "));
    // The routes it declares in code (module_definition::route), which gateways serve.
    for (const auto& r : m->routes()) {
      if (r.spec)
        fmt::print("  route {}\n", r.spec->to_string());
      else
        fmt::print("  malformed {} (target \"{}\")\n", r.problem, r.target);
    }
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"microlith: runs systems of supervised services"};
  app.require_subcommand(1);
  std::string run_path;
  std::string run_data;
  std::string run_node;
  auto* run = app.add_subcommand(
    "run", "Start a system: every group in this process, or with --node one node's groups");
  run->add_option("file", run_path, "The system file (TOML)")->required();
  run->add_option("--node", run_node,
                  "Run only the groups the file places on this node ([nodes.NAME]) and join the "
                  "other nodes");
  bool print_tree = false;
  run->add_option("--data", run_data,
                  "The data folder (files kept across restarts; made if missing): overrides "
                  "[system] data, whose default is the system file's folder");
  run->add_flag("--print-tree", print_tree,
                "Print the supervision tree once started (any time: kill -USR1 <pid>)");
  std::string check_path;
  auto* check = app.add_subcommand(
    "check", "Validate a system file, or a module archive (FILE.mlm); start and load nothing");
  check->add_option("file", check_path, "The system file (TOML) or module archive (.mlm)")
    ->required();
  std::string package_build;
  std::string package_name;
  std::string package_output;
  auto* package = app.add_subcommand(
    "package", "Make a module archive (NAME-VERSION.mlm) from a built loadable module");
  package
    ->add_option("build_dir", package_build,
                 "The CMake build folder (holds microlith-modules/NAME.module.toml)")
    ->required();
  package->add_option("name", package_name, "The module's CMake target")->required();
  package->add_option("-o,--output", package_output,
                      "The archive to write (default: NAME-VERSION.mlm here)");
  auto* modules = app.add_subcommand(
    "modules", "List the modules linked into this program; with a subcommand, act on the modules "
               "installed in a running system (sends MICROLITH_ADMIN_TOKEN as the admin token)");
  modules->require_subcommand(0, 1);
  const std::string url_help =
    "The gateway, e.g. http://127.0.0.1:8080 or https://HOST:PORT (verified with SSL_CERT_FILE)";
  std::string modules_url;
  std::string archive_path;
  install_options install_opts;
  auto* install =
    modules->add_subcommand("install", "Upload a module archive (.mlm) and install it");
  install->add_option("url", modules_url, url_help)->required();
  install->add_option("file", archive_path, "The module archive, NAME-VERSION.mlm")->required();
  install->add_option("--route-prefix", install_opts.route_prefix,
                      "Serve the module's routes under this path, e.g. /clients/acme (default: "
                      "where its active version is served)");
  install->add_flag("--activate", install_opts.activate, "Activate it once installed");
  install->add_option("--node", install_opts.node,
                      "In a cluster: the node that runs its groups (default: the node that "
                      "receives the request); every node serves its routes");
  auto* list_installed = modules->add_subcommand("list", "List the modules installed in a system");
  list_installed->add_option("url", modules_url, url_help)->required();
  std::string module_name;
  std::string module_version;
  auto* activate = modules->add_subcommand("activate", "Activate an installed version of a module");
  activate->add_option("url", modules_url, url_help)->required();
  activate->add_option("name", module_name, "The module, e.g. acme.statements")->required();
  activate->add_option("version", module_version, "The installed version, e.g. 1.2.0")->required();
  std::string activate_node;
  activate->add_option("--node", activate_node,
                       "In a cluster: the node that runs its groups (default: the node running "
                       "the active version, else the node that receives the request)");
  auto* remove = modules->add_subcommand("remove", "Remove an installed module");
  remove->add_option("url", modules_url, url_help)->required();
  remove->add_option("name", module_name, "The module, e.g. acme.statements")->required();
  auto* jobs = app.add_subcommand(
    "jobs", "Inspect and act on a running system's background jobs (sends MICROLITH_ADMIN_TOKEN "
            "as the admin token)");
  jobs->require_subcommand(1);
  std::string jobs_url;
  std::string jobs_queue;
  std::string jobs_state;
  unsigned jobs_limit = 0;
  std::int64_t job_id = 0;
  auto* jobs_stats = jobs->add_subcommand("stats", "Count the jobs of each queue by state");
  jobs_stats->add_option("url", jobs_url, url_help)->required();
  auto* jobs_list = jobs->add_subcommand(
    "list", "List jobs, newest first, with the errors of their failed attempts");
  jobs_list->add_option("url", jobs_url, url_help)->required();
  jobs_list->add_option("--queue", jobs_queue, "Only this queue's jobs");
  jobs_list
    ->add_option("--state", jobs_state,
                 "Only jobs in this state: available, scheduled, executing, retryable, "
                 "completed, discarded or cancelled")
    ->check(CLI::IsMember(
      {"available", "scheduled", "executing", "retryable", "completed", "discarded", "cancelled"}));
  jobs_list->add_option("--limit", jobs_limit, "At most this many (default 100)")
    ->check(CLI::Range(1u, 100000u));
  auto* jobs_retry =
    jobs->add_subcommand("retry", "Make a finished job due again at once, with one more attempt");
  jobs_retry->add_option("url", jobs_url, url_help)->required();
  jobs_retry->add_option("id", job_id, "The job's id")->required()->check(CLI::PositiveNumber);
  auto* jobs_cancel = jobs->add_subcommand("cancel", "Cancel a waiting or executing job");
  jobs_cancel->add_option("url", jobs_url, url_help)->required();
  jobs_cancel->add_option("id", job_id, "The job's id")->required()->check(CLI::PositiveNumber);
  auto* observe_cmd = app.add_subcommand(
    "observe", "Show a running system: its nodes, supervision trees, services, routes and recent "
               "requests (sends MICROLITH_ADMIN_TOKEN as the admin token)");
  std::string observe_url;
  observe_options observing;
  observe_cmd->add_option("url", observe_url, url_help)->required();
  observe_cmd->add_flag("--watch", observing.watch, "Redraw every second until interrupted");
  observe_cmd->add_flag("--json", observing.json,
                        "Print the view as one JSON document (one per line with --watch)");
  observe_cmd
    ->add_option("--requests", observing.requests, "How many logged requests to show (default 10)")
    ->check(CLI::Range(0u, 500u));
  auto* toggle = app.add_subcommand(
    "toggle", "Read and change a running system's feature toggles (sends MICROLITH_ADMIN_TOKEN as "
              "the admin token)");
  toggle->require_subcommand(1);
  std::string toggle_url;
  std::string toggle_name;
  toggle_change change;
  auto* toggle_set = toggle->add_subcommand(
    "set", "Change a toggle's gates: on|off (the boolean gate), --actors, --groups, "
           "--percent-actors or --percent-time; the gates not given stay");
  toggle_set->add_option("url", toggle_url, url_help)->required();
  toggle_set->add_option("name", toggle_name, "The toggle, e.g. bank.transfer_fee")->required();
  toggle_set->add_option("value", change.boolean, "on or off: the boolean gate")
    ->check(CLI::IsMember({"on", "off"}));
  std::string actors_text;
  std::string groups_text;
  unsigned percent_actors = 0;
  unsigned percent_time = 0;
  auto* actors_option = toggle_set->add_option(
    "--actors", actors_text,
    "Comma-separated actor keys for which it is on (replaces the actor gates; \"\" removes them)");
  auto* groups_option =
    toggle_set->add_option("--groups", groups_text,
                           "Comma-separated groups for which it is on (replaces the group gates)");
  auto* percent_actors_option =
    toggle_set
      ->add_option("--percent-actors", percent_actors,
                   "On for this percentage of actor keys, 0-100 (a stable share)")
      ->check(CLI::Range(0, 100));
  auto* percent_time_option = toggle_set
                                ->add_option("--percent-time", percent_time,
                                             "On for this percentage of checks, 0-100 (drawn "
                                             "per check)")
                                ->check(CLI::Range(0, 100))
                                ->excludes("--percent-actors");
  auto* toggle_get = toggle->add_subcommand("get", "Print a toggle's gates");
  toggle_get->add_option("url", toggle_url, url_help)->required();
  toggle_get->add_option("name", toggle_name, "The toggle")->required();
  auto* toggle_list = toggle->add_subcommand("list", "List every declared toggle");
  toggle_list->add_option("url", toggle_url, url_help)->required();
  auto* toggle_history_cmd =
    toggle->add_subcommand("history", "Print the recorded changes, newest first");
  toggle_history_cmd->add_option("url", toggle_url, url_help)->required();
  toggle_history_cmd->add_option("name", toggle_name, "Only this toggle's changes");
  std::string group_name;
  std::string group_keys;
  auto* toggle_group = toggle->add_subcommand(
    "group", "Define the members of a group that group gates refer to (no keys: remove it)");
  toggle_group->add_option("url", toggle_url, url_help)->required();
  toggle_group->add_option("group", group_name, "The group, e.g. staff")->required();
  toggle_group->add_option("keys", group_keys, "Comma-separated actor keys");
  auto* cert = app.add_subcommand("cert", "Make certificates for encrypted node links");
  cert->require_subcommand(1);
  std::string cert_dir;
  std::string cert_nodes;
  bool cert_force = false;
  auto* cert_new = cert->add_subcommand(
    "new", "Write a self-signed certificate and key for the cluster (DIR/cluster.pem, "
           "DIR/cluster.key), or one per node with --nodes, and print the lines to paste");
  cert_new->add_option("dir", cert_dir, "The folder to write them in (made if missing)")
    ->required();
  cert_new->add_option("--nodes", cert_nodes,
                       "Comma-separated node names: one certificate per node (DIR/NAME.pem, "
                       "DIR/NAME.key), each node trusting them all");
  cert_new->add_flag("--force", cert_force, "Replace existing files");
  auto* routes = app.add_subcommand("routes", "Act on a running gateway's routes");
  routes->require_subcommand(1);
  std::string reload_url;
  auto* reload = routes->add_subcommand(
    "reload", "Make a running system reread its file and swap its gateway routes");
  reload
    ->add_option("url", reload_url,
                 "The gateway, e.g. http://127.0.0.1:8080 (its [http] "
                 "table must say admin = true); sends MICROLITH_ADMIN_TOKEN as the admin token")
    ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version exit 0; any usage error exits 2, whatever CLI11's own code for it.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (*run)
      return run_system(run_path, run_node, print_tree, run_data);
    if (*check) {
      auto is_archive =
        check_path.size() > 4 && check_path.compare(check_path.size() - 4, 4, ".mlm") == 0;
      return is_archive ? check_module_archive(check_path) : run_check(check_path);
    }
    if (*package)
      return package_module(package_build, package_name, package_output);
    if (*install)
      return install_module(modules_url, archive_path, install_opts);
    if (*list_installed)
      return list_installed_modules(modules_url);
    if (*activate)
      return activate_module(modules_url, module_name, module_version, activate_node);
    if (*remove)
      return remove_module(modules_url, module_name);
    if (*modules)
      return list_modules();
    if (*reload)
      return reload_routes(reload_url);
    if (*cert_new)
      return new_certificates(cert_dir, cert_nodes, cert_force);
    if (*observe_cmd)
      return observe(observe_url, observing);
    if (*jobs_stats)
      return job_stats(jobs_url);
    if (*jobs_list)
      return list_jobs(jobs_url, jobs_queue, jobs_state, jobs_limit);
    if (*jobs_retry)
      return retry_job(jobs_url, job_id);
    if (*jobs_cancel)
      return cancel_job(jobs_url, job_id);
    if (*toggle_set) {
      if (*actors_option)
        change.actors = actors_text;
      if (*groups_option)
        change.groups = groups_text;
      if (*percent_actors_option)
        change.percent_actors = percent_actors;
      if (*percent_time_option)
        change.percent_time = percent_time;
      return set_toggle(toggle_url, toggle_name, change);
    }
    if (*toggle_get)
      return get_toggle(toggle_url, toggle_name);
    if (*toggle_list)
      return list_toggles(toggle_url);
    if (*toggle_history_cmd)
      return toggle_history(toggle_url, toggle_name);
    if (*toggle_group)
      return set_toggle_group(toggle_url, group_name, group_keys);
  } catch (const std::exception& e) {
    fmt::print(stderr, "microlith: {}\n", e.what());
    return 1;
  }
  return 0;
}

} // namespace microlith::cli
