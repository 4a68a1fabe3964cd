#include "microlith/services/code_server.hpp"
#include "microlith/actors/thread_name.hpp"

#include "modules/contract_check.hpp"
#include "modules/module_library.hpp"
#include "modules/module_replication.hpp"
#include "modules/modules_service.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/handover.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/module_manifest.hpp"
#include "microlith/supervision/child_operations.hpp"
#include "microlith/supervision/supervisor.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace microlith {

namespace {

constexpr std::string_view component = "modules";

// How long an old instance gets, once retired, to finish the calls and promises it has
// outstanding (and hand over its state): longer than the default call deadline (5 s).
constexpr auto drain_limit = std::chrono::seconds(10);

// How long a new instance gets to restore the state handed over.
constexpr auto import_limit = std::chrono::seconds(10);

// How long retired instances stay up after they left the registry, passing on requests from
// callers (on other nodes) that resolved them before the change reached them.
constexpr auto handover_quiet = std::chrono::milliseconds(50);

caf::expected<std::string> read_file(const std::filesystem::path& file) {
  std::ifstream in{file, std::ios::binary};
  if (!in)
    return make_error(errc::data_loss, fmt::format("cannot read {}", file.string()));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The kind of `err` when it is one of microlith's, else failed_precondition (a loader error).
errc kind_of(const caf::error& err) {
  return err.category() == error_category() ? code_of(err) : errc::failed_precondition;
}

std::string who_of(const std::string& name, const std::string& version) {
  return fmt::format("{} {}", name, version);
}

} // namespace

std::string prefixed_route_key(std::string_view key, std::string_view prefix) {
  if (prefix.empty())
    return std::string{key};
  auto space = key.find(' ');
  if (space == std::string_view::npos)
    return std::string{key};
  auto path = key.substr(space + 1);
  while (!path.empty() && path.front() == ' ')
    path.remove_prefix(1);
  return fmt::format("{} {}{}", key.substr(0, space), prefix, path == "/" ? "" : path);
}

caf::error check_route_prefix(std::string_view prefix) {
  if (prefix.empty())
    return {};
  auto refuse = [&](std::string_view why) {
    return make_error(errc::invalid_argument,
                      fmt::format("route prefix \"{}\" {}: expected \"/\" followed by segments of "
                                  "letters, digits, '.', '_', '-' or '~' separated by single '/', "
                                  "without a trailing '/' (e.g. /clients/acme)",
                                  prefix, why));
  };
  if (prefix.size() > 200)
    return refuse("is longer than 200 characters");
  if (prefix.front() != '/')
    return refuse("does not start with '/'");
  if (prefix.back() == '/')
    return refuse("ends with '/'");
  char previous = 0;
  for (char c : prefix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
              || c == '_' || c == '-' || c == '~' || c == '/';
    if (!ok)
      return refuse(fmt::format("holds '{}'", c));
    if (c == '/' && previous == '/')
      return refuse("holds an empty segment");
    previous = c;
  }
  return {};
}

// An old instance and the instance of the new version that takes its place (null when the new
// version does not serve that service, or when a module is stopped).
struct succession {
  std::string service;
  caf::actor old;  // null: a service only the new version has
  caf::actor next; // null: a service the new version drops (or no new version)
};

// One version whose groups run (or ran) on this node.
struct loaded_version {
  installed_module installed;
  module_manifest manifest;
  std::unique_ptr<module_definition> definition;
  std::deque<group_config> groups;         // the entries its groups were built from (kept alive)
  std::vector<std::string> child_ids;      // its groups' ids under the modules supervisor
  std::vector<std::string> services;       // the top-level children of its groups (service names)
  std::vector<gateway::route_spec> routes; // under its prefix
};

struct code_server::impl {
  node& n;
  std::unique_ptr<module_store> store;
  archive_limits limits;
  code_server* owner = nullptr;

  mutable std::mutex mutex; // guards what follows; operations hold op_mutex
  std::mutex op_mutex;      // one operation at a time
  caf::actor supervisor;    // the `modules` supervisor
  std::map<std::string, std::unique_ptr<loaded_version>> running; // by module name
  std::vector<std::string> activation_order;                      // module names
  std::map<std::string, std::string> problems;                    // name -> last load error
  std::map<std::string, loaded_routes_installer> installers;      // by gateway group
  bool loading_now = true;
  std::unique_ptr<detail::module_replication> replication; // in a cluster (join_cluster)

  // A thread running posted operations in order.
  struct operations_thread {
    std::mutex queue_mutex;
    std::condition_variable queue_changed;
    std::deque<std::function<void()>> queue;
    bool closing = false;
    std::thread worker;

    void start() {
      worker = std::thread{[this] {
        name_this_thread("ml.code_server");
        run();
      }};
    }

    void post(std::function<void()> operation) {
      {
        std::lock_guard<std::mutex> guard{queue_mutex};
        queue.push_back(std::move(operation));
      }
      queue_changed.notify_one();
    }

    // Runs what was posted, then returns.
    void close() {
      {
        std::lock_guard<std::mutex> guard{queue_mutex};
        closing = true;
      }
      queue_changed.notify_all();
      if (worker.joinable())
        worker.join();
    }

    void run() {
      for (;;) {
        std::function<void()> op;
        {
          std::unique_lock<std::mutex> guard{queue_mutex};
          queue_changed.wait(guard, [&] { return closing || !queue.empty(); });
          if (queue.empty())
            return;
          op = std::move(queue.front());
          queue.pop_front();
        }
        try {
          op();
        } catch (const std::exception& e) {
          log::error(component, "a module operation threw: {}", e.what());
        }
      }
    }
  };
  operations_thread operations; // post(): this node's operations, which may call other nodes
  operations_thread for_peers;  // post_for_peer(): other nodes' requests, which call none

  impl(node& host_node, std::unique_ptr<module_store> s, archive_limits l)
    : n(host_node), store(std::move(s)), limits(l) {}

  void ensure_supervisor() {
    if (supervisor)
      return;
    supervisor_spec spec{"modules"};
    spec.strategy(strategy::one_for_one).intensity(10, std::chrono::seconds(10));
    // Its first child: the built-in `modules` service (modules_service.hpp).
    group_config none;
    group_context ctx{n, none, nullptr};
    spec.child(ctx.service(detail::modules_service(*owner, n)));
    // In a cluster, then its replica service "modules@NODE" (module_replication.hpp).
    if (replication)
      spec.child(ctx.service(replication->replica_service(*owner)));
    auto sup = start_supervisor(n.system(), std::move(spec));
    if (!sup)
      throw std::runtime_error("the modules supervisor did not start: " + describe(sup.error()));
    supervisor = *sup;
  }

  // The routes of every running version, in activation order, with `name`'s replaced by
  // `replacement` (nullptr: without `name`'s).
  std::vector<gateway::route_spec> routes_with(const std::string& name,
                                               const loaded_version* replacement) const {
    std::vector<gateway::route_spec> out;
    bool placed = false;
    for (const auto& m : activation_order) {
      if (m == name) {
        if (replacement != nullptr)
          out.insert(out.end(), replacement->routes.begin(), replacement->routes.end());
        placed = true;
        continue;
      }
      auto i = running.find(m);
      if (i != running.end())
        out.insert(out.end(), i->second->routes.begin(), i->second->routes.end());
    }
    if (!placed && replacement != nullptr)
      out.insert(out.end(), replacement->routes.begin(), replacement->routes.end());
    return out;
  }

  // Installs `routes` on every gateway; on a refusal, puts `previous` back on the gateways
  // already changed and answers the refusal.
  caf::error install_routes(const std::vector<gateway::route_spec>& routes,
                            const std::vector<gateway::route_spec>& previous) {
    std::vector<std::pair<std::string, loaded_routes_installer>> gateways;
    {
      std::lock_guard<std::mutex> guard{mutex};
      gateways.assign(installers.begin(), installers.end());
    }
    for (std::size_t i = 0; i < gateways.size(); ++i) {
      if (auto err = gateways[i].second(routes)) {
        for (std::size_t j = 0; j < i; ++j)
          if (auto back = gateways[j].second(previous))
            log::error(component, "gateway group {} could not take its routes back: {}",
                       gateways[j].first, describe(back));
        return make_error(errc::failed_precondition,
                          fmt::format("gateway group {} refused the routes: {}", gateways[i].first,
                                      message_of(err)));
      }
    }
    return {};
  }

  // Checks and opens a stored version, starts its groups, and answers it running (its routes
  // not yet installed, the version it replaces untouched). `current` is the version it replaces
  // (may be null).
  caf::expected<std::unique_ptr<loaded_version>>
  start_version(const installed_module& m, const loaded_version* current,
                const std::map<std::string, std::vector<caf::actor>>& before) {
    auto who = who_of(m.name, m.version);
    auto folder = store->folder_of(m.name, m.version);
    auto manifest = detail::load_stored_contracts(folder, who, "nothing of it was loaded");
    if (!manifest)
      return manifest.error();
    auto definition = detail::open_module_library(folder / manifest->library, who);
    if (!definition)
      return definition.error();
    auto& def = **definition;
    if (def.name() != manifest->name)
      return make_error(errc::failed_precondition,
                        fmt::format("{}: its library defines module {}, its manifest says {}", who,
                                    def.name(), manifest->name));
    auto version = std::make_unique<loaded_version>();
    version->installed = m;
    version->manifest = *manifest;
    version->definition = std::move(*definition);
    for (const auto& r : manifest->routes) {
      auto spec = gateway::parse_route(prefixed_route_key(r.key, m.route_prefix), r.target);
      if (!spec)
        return make_error(errc::failed_precondition,
                          fmt::format("{}: route \"{}\" -> {} under prefix \"{}\": {}", who, r.key,
                                      r.target, m.route_prefix, message_of(spec.error())));
      spec->origin = fmt::format("module {}", who);
      version->routes.push_back(std::move(*spec));
    }
    // Build every group's children first: their ids are the services they register.
    std::vector<supervisor_spec> specs;
    for (const auto& g : manifest->groups) {
      const auto* gd = version->definition->find_group(g.name);
      if (gd == nullptr)
        return make_error(errc::failed_precondition,
                          fmt::format("{}: its manifest lists group {}, which its library does not "
                                      "define",
                                      who, g.name));
      auto& config = version->groups.emplace_back();
      config.name = g.name;
      config.module = manifest->name;
      config.restart = g.restart;
      config.strategy = g.strategy;
      config.intensity = g.intensity;
      config.period = g.period;
      group_context ctx{n, config, nullptr};
      supervisor_spec spec{fmt::format("{}@{}/{}", m.name, m.version, g.name)};
      spec.strategy(g.strategy).intensity(g.intensity, g.period);
      try {
        for (auto& c : gd->build(ctx)) {
          version->services.push_back(c.id());
          spec.child(std::move(c));
        }
      } catch (const std::exception& e) {
        return make_error(errc::failed_precondition,
                          fmt::format("{}: building group {} threw: {}", who, g.name, e.what()));
      }
      specs.push_back(std::move(spec));
    }
    // A service name already served, other than by the version replaced, is refused.
    auto snapshot = n.registry().snapshot();
    for (const auto& s : version->services) {
      bool replaced = current != nullptr
                      && std::find(current->services.begin(), current->services.end(), s)
                           != current->services.end();
      if (!replaced && snapshot->local_count(s) > 0)
        return make_error(errc::already_exists,
                          fmt::format("{}: service {} is already served on this node (by a group "
                                      "of the system or another module); a module's service "
                                      "names must be its own",
                                      who, s));
    }
    ensure_supervisor();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      auto id = specs[i].name();
      auto child = supervisor_child(std::move(specs[i])).restart(manifest->groups[i].restart);
      auto started =
        start_child(n.system(), supervisor, std::move(child), std::chrono::seconds(30));
      if (!started) {
        take_back(successions(before, version.get()));
        stop_groups(*version);
        return make_error(errc::failed_precondition,
                          fmt::format("{}: group {} failed to start: {}", who,
                                      manifest->groups[i].name, describe(started.error())));
      }
      version->child_ids.push_back(id);
    }
    return version;
  }

  // Stops a version's groups (newest first) and forgets their specs.
  void stop_groups(loaded_version& v) {
    for (auto i = v.child_ids.rbegin(); i != v.child_ids.rend(); ++i) {
      if (auto err = terminate_child(n.system(), supervisor, *i))
        log::warn(component, "stopping {}: {}", *i, describe(err));
      delete_child(n.system(), supervisor, *i);
    }
    v.child_ids.clear();
  }

  // The instances on this node serving `names` now.
  std::map<std::string, std::vector<caf::actor>>
  instances_of(const std::vector<std::string>& names) const {
    std::map<std::string, std::vector<caf::actor>> out;
    auto snapshot = n.registry().snapshot();
    auto here = n.system().node();
    for (const auto& s : names) {
      auto& local = out[s];
      for (const auto& a : snapshot->instances(s))
        if (a.node() == here)
          local.push_back(a);
    }
    return out;
  }

  // Pairs each old instance (`before`) with the instance of `next` that takes its place: the
  // new instances of the same service, in order (none when `next` is null); then lists each
  // instance of a service only `next` has, without a predecessor.
  std::vector<succession> successions(const std::map<std::string, std::vector<caf::actor>>& before,
                                      const loaded_version* next) const {
    std::map<std::string, std::vector<caf::actor>> after;
    if (next != nullptr)
      after = instances_of(next->services);
    std::vector<succession> out;
    for (const auto& [service, olds] : before) {
      std::vector<caf::actor> fresh;
      for (const auto& a : after[service])
        if (std::find(olds.begin(), olds.end(), a) == olds.end())
          fresh.push_back(a);
      for (std::size_t i = 0; i < olds.size(); ++i)
        out.push_back({service, olds[i], i < fresh.size() ? fresh[i] : caf::actor{}});
    }
    // The services only the new version has: no predecessor, but a rollback drains them too.
    for (const auto& [service, fresh] : after)
      if (before.find(service) == before.end())
        for (const auto& a : fresh)
          out.push_back({service, caf::actor{}, a});
    return out;
  }

  // Retires the old instances (handover.hpp): out of the registry at once, each then passing
  // later requests to its successor and handing over its state once it has nothing
  // outstanding; the successors restore those states, and serve once all did. An error when an
  // old instance with a successor does not finish within drain_limit, or a successor refuses
  // its state: nothing is committed then (take_back rolls back). Old instances without a
  // successor (a service the new version drops, or a module stopped) are waited for too, but
  // stop anyway.
  caf::error hand_over(const std::string& who, const std::vector<succession>& chain) {
    auto removed_at = std::chrono::steady_clock::now();
    for (const auto& link : chain)
      if (link.old)
        n.registry().remove(link.service, link.old.address());
    std::vector<handed_state> states(chain.size());
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const auto& link = chain[i];
      if (!link.old)
        continue;
      auto state = retire_instance(n, link.old, link.next, drain_limit);
      if (state) {
        states[i] = std::move(*state);
        continue;
      }
      if (link.next)
        return make_error(
          state.error().category() == error_category() ? code_of(state.error()) : errc::aborted,
          fmt::format("{}: the running {} did not hand over (it gets {} s to "
                      "finish its calls): {}",
                      who, link.service, drain_limit.count(), describe(state.error())));
      log::warn(component, "{}: {} stops with calls outstanding: {}", who, link.service,
                describe(state.error()));
    }
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const auto& link = chain[i];
      if (!link.old || !link.next)
        continue;
      auto taken = import_state(n, link.next, states[i], import_limit);
      if (!taken)
        return make_error(errc::failed_precondition,
                          fmt::format("{}: {}", who, describe_import_error(taken.error())));
      if (!*taken && !states[i].type.empty())
        log::info(component, "{}: {} keeps no state; the running version's {} is dropped", who,
                  link.service, states[i].type);
    }
    for (const auto& link : chain)
      if (link.old && link.next)
        commit_handover(link.next);
    std::this_thread::sleep_until(removed_at + handover_quiet);
    // The requests the old instances passed on are answered through them: wait for those.
    for (const auto& link : chain) {
      if (!link.old)
        continue;
      if (auto err = drain_instance(n, link.old, drain_limit))
        log::warn(component, "{}: {} stops with calls outstanding: {}", who, link.service,
                  describe(err));
    }
    return {};
  }

  static std::string describe_import_error(const caf::error& err) {
    auto text = message_of(err);
    return text.empty() ? describe(err) : text;
  }

  // Rolls a succession back before the new instances stop: each old instance serves again
  // (registered again) and gets what its successor held or receives; then the successors leave
  // the registry and are waited for until they have nothing outstanding (the requests they
  // passed on answered, their own too), so stopping the new version loses no request.
  void take_back(const std::vector<succession>& chain) {
    for (const auto& link : chain) {
      if (!link.old)
        continue; // nothing to give back to: it leaves the registry and is drained below
      if (link.next)
        abandon_handover(link.next, link.old);
      else
        resume_instance(link.old);
    }
    // A round trip through each successor (it sent its old instance the resume), then through
    // each old instance (it resumed and registered again).
    caf::scoped_actor self{n.system()};
    auto round_trip = [&](const caf::actor& a) {
      self->request(a, std::chrono::seconds(5), info_atom::value)
        .receive([](std::int64_t, std::vector<std::string>&) {}, [](caf::error&) {});
    };
    for (const auto& link : chain)
      if (link.old && link.next)
        round_trip(link.next);
    for (const auto& link : chain)
      if (link.old)
        round_trip(link.old);
    auto removed_at = std::chrono::steady_clock::now();
    for (const auto& link : chain)
      if (link.next)
        n.registry().remove(link.service, link.next.address());
    std::this_thread::sleep_until(removed_at + handover_quiet);
    for (const auto& link : chain)
      if (link.next)
        if (auto err = drain_instance(n, link.next, drain_limit))
          log::warn(component, "a new instance of {} stops with calls outstanding: {}",
                    link.service, describe(err));
  }

  // True when this node runs `m`'s groups: outside a cluster always; in one, when its row names
  // this node (or none).
  bool runs_here(const installed_module& m) const {
    return !replication || m.node.empty() || m.node == replication->self();
  }

  // A version that another node runs, as this node serves it: its contracts loaded and its
  // routes, no groups (module_replication.hpp).
  caf::expected<std::unique_ptr<loaded_version>> bind_version(const installed_module& m) {
    auto remote =
      detail::prepare_remote_version(store->folder_of(m.name, m.version), m, n.registry());
    if (!remote)
      return remote.error();
    auto version = std::make_unique<loaded_version>();
    version->installed = m;
    version->manifest = std::move(remote->manifest);
    version->routes = std::move(remote->routes);
    return version;
  }

  // Makes `m` the running version of its module (a load, or a replace of the running one).
  caf::error run_version(const installed_module& m) {
    loaded_version* current = nullptr;
    {
      std::lock_guard<std::mutex> guard{mutex};
      auto i = running.find(m.name);
      if (i != running.end())
        current = i->second.get();
    }
    if (current != nullptr && current->installed.version == m.version
        && current->installed.sha256 == m.sha256
        && current->installed.route_prefix == m.route_prefix && current->installed.node == m.node)
      return {};
    auto before = current != nullptr ? instances_of(current->services)
                                     : std::map<std::string, std::vector<caf::actor>>{};
    std::optional<expected_handover> expecting;
    if (current != nullptr && runs_here(m))
      expecting.emplace(n, current->services);
    auto started = runs_here(m) ? start_version(m, current, before) : bind_version(m);
    expecting.reset();
    if (!started) {
      std::lock_guard<std::mutex> guard{mutex};
      problems[m.name] = message_of(started.error());
      return started.error();
    }
    auto& next = *started;
    std::vector<gateway::route_spec> previous;
    std::vector<gateway::route_spec> routes;
    {
      std::lock_guard<std::mutex> guard{mutex};
      previous = routes_with(m.name, current);
      routes = routes_with(m.name, next.get());
    }
    if (auto err = install_routes(routes, previous)) {
      take_back(successions(before, next.get()));
      stop_groups(*next);
      std::lock_guard<std::mutex> guard{mutex};
      problems[m.name] = message_of(err);
      return make_error(errc::failed_precondition,
                        fmt::format("{}: {}", who_of(m.name, m.version), message_of(err)));
    }
    if (current != nullptr) {
      auto chain = successions(before, next.get());
      if (auto err = hand_over(who_of(m.name, m.version), chain)) {
        if (auto back = install_routes(previous, routes))
          log::error(component, "{}: the routes could not be put back: {}",
                     who_of(m.name, m.version), describe(back));
        take_back(chain);
        stop_groups(*next);
        log::error(component, "{} did not replace {} {}, which keeps serving: {}",
                   who_of(m.name, m.version), m.name, current->installed.version, message_of(err));
        std::lock_guard<std::mutex> guard{mutex};
        problems[m.name] = message_of(err);
        return make_error(code_of(err),
                          fmt::format("{} (the replace was rolled back: {} {} keeps serving)",
                                      message_of(err), m.name, current->installed.version));
      }
    }
    std::unique_ptr<loaded_version> old;
    {
      std::lock_guard<std::mutex> guard{mutex};
      auto& slot = running[m.name];
      old = std::move(slot);
      slot = std::move(next);
      if (std::find(activation_order.begin(), activation_order.end(), m.name)
          == activation_order.end())
        activation_order.push_back(m.name);
      problems.erase(m.name);
    }
    if (old) {
      stop_groups(*old);
      log::info(component, "{} replaced {} {}", who_of(m.name, m.version), m.name,
                old->installed.version);
    } else if (runs_here(m)) {
      log::info(component, "{} loaded", who_of(m.name, m.version));
    } else {
      log::info(component,
                "{} served here: its routes on this node's gateways, its groups on node {}",
                who_of(m.name, m.version), m.node);
    }
    return {};
  }

  // Stops the running version of `name`: routes first, then its groups.
  caf::error unload(const std::string& name) {
    std::vector<gateway::route_spec> previous;
    std::vector<gateway::route_spec> routes;
    {
      std::lock_guard<std::mutex> guard{mutex};
      if (running.find(name) == running.end())
        return {};
      previous = routes_with(name, running[name].get());
      routes = routes_with(name, nullptr);
    }
    if (auto err = install_routes(routes, previous))
      return err;
    std::unique_ptr<loaded_version> old;
    {
      std::lock_guard<std::mutex> guard{mutex};
      old = std::move(running[name]);
      running.erase(name);
      activation_order.erase(std::remove(activation_order.begin(), activation_order.end(), name),
                             activation_order.end());
    }
    hand_over(who_of(old->installed.name, old->installed.version),
              successions(instances_of(old->services), nullptr));
    stop_groups(*old);
    log::info(component, "{} stopped", who_of(old->installed.name, old->installed.version));
    return {};
  }

  // Checks an archive (its package, ABI and contracts) and stores it as `row` (route prefix and
  // node; sha256 when not empty, else the archive's), not active.
  caf::expected<installed_module> store_package(std::string_view archive,
                                                const installed_module& row) {
    if (auto err = check_route_prefix(row.route_prefix))
      return err;
    auto package = open_package(archive, "the uploaded archive", limits);
    if (!package)
      return package.error();
    const auto& manifest = package->manifest;
    auto who = who_of(manifest.name, manifest.version);
    if (auto diff = abi_differences(manifest.abi, running_abi()); !diff.empty())
      return make_error(errc::failed_precondition,
                        fmt::format("{} was built for another ABI than this process; nothing was "
                                    "installed: {}",
                                    who, fmt::join(diff, "; ")));
    auto descriptors =
      std::find_if(package->entries.begin(), package->entries.end(),
                   [&](const archive_entry& e) { return e.name == manifest.contracts; });
    if (descriptors == package->entries.end())
      return make_error(errc::invalid_argument,
                        fmt::format("{}: the archive has no {}", who, manifest.contracts));
    if (auto plan = detail::check_contracts(manifest, descriptors->bytes, who); !plan)
      return make_error(errc::failed_precondition,
                        message_of(plan.error()) + "; nothing was installed");
    installed_module m = row;
    m.name = manifest.name;
    m.version = manifest.version;
    if (m.sha256.empty())
      m.sha256 = package->sha256;
    m.active = false;
    // Without a prefix, a new version goes where the module's active version is served, so that
    // activating it replaces the routes rather than moving them.
    if (m.route_prefix.empty())
      if (auto current = store->active(m.name))
        m.route_prefix = current->route_prefix;
    auto stored = store->add(m, package->entries);
    if (!stored)
      return stored.error();
    log::info(component, "{} installed (sha256 {})", who, stored->sha256);
    return stored;
  }

  // The refusal of a node chosen outside a cluster.
  static caf::error alone(const std::string& node) {
    return make_error(errc::invalid_argument,
                      fmt::format("node \"{}\" was chosen, but this system runs in one process "
                                  "(microlith run without --node): its modules run here; leave "
                                  "the node out",
                                  node));
  }

  module_status status_of(const installed_module& m) const {
    module_status s;
    s.installed = m;
    auto i = running.find(m.name);
    s.loaded = i != running.end() && i->second->installed.version == m.version
               && i->second->installed.node == m.node;
    if (m.active && !s.loaded) {
      auto p = problems.find(m.name);
      if (p != problems.end())
        s.problem = p->second;
    }
    return s;
  }
};

code_server::code_server(node& n, std::unique_ptr<module_store> store, archive_limits limits)
  : impl_(std::make_unique<impl>(n, std::move(store), limits)) {
  impl_->owner = this;
  impl_->operations.start();
  impl_->for_peers.start();
}

code_server::~code_server() {
  if (impl_->replication)
    impl_->replication->stop_watching(); // posts nothing more
  impl_->operations.close();
  impl_->for_peers.close();
  stop();
}

void code_server::post(std::function<void()> operation) {
  impl_->operations.post(std::move(operation));
}

void code_server::post_for_peer(std::function<void()> operation) {
  impl_->for_peers.post(std::move(operation));
}

void code_server::join_cluster(module_cluster cluster) {
  impl_->replication = std::make_unique<detail::module_replication>(impl_->n, std::move(cluster));
}

std::vector<std::pair<std::string, caf::error>> code_server::load_active() {
  auto& d = *impl_;
  if (d.replication) {
    // The replica service first (the other nodes reach this one through it), then what this
    // node missed while it was down.
    {
      std::lock_guard<std::mutex> op{d.op_mutex};
      try {
        d.ensure_supervisor();
      } catch (const std::exception&) {
        // Reported below, where it is tried again.
      }
    }
    d.replication->catch_up(*this, true);
  }
  std::lock_guard<std::mutex> op{d.op_mutex};
  std::vector<std::pair<std::string, caf::error>> failed;
  try {
    d.ensure_supervisor();
  } catch (const std::exception& e) {
    failed.emplace_back("modules", make_error(errc::internal, e.what()));
  }
  if (failed.empty())
    for (const auto& m : d.store->list()) {
      if (!m.active)
        continue;
      if (auto err = d.run_version(m)) {
        log::error(component, "{} did not load: {}", who_of(m.name, m.version), message_of(err));
        failed.emplace_back(m.name, err);
      }
    }
  if (d.replication)
    d.replication->watch(*this);
  std::lock_guard<std::mutex> guard{d.mutex};
  d.loading_now = false;
  return failed;
}

caf::expected<module_status> code_server::install(std::string_view archive,
                                                  const install_options& options) {
  auto& d = *impl_;
  if (d.replication)
    return d.replication->install(*this, archive, options);
  if (!options.node.empty())
    return d.alone(options.node);
  std::lock_guard<std::mutex> op{d.op_mutex};
  installed_module row;
  row.route_prefix = options.route_prefix;
  auto stored = d.store_package(archive, row);
  if (!stored)
    return stored.error();
  auto who = who_of(stored->name, stored->version);
  if (!options.activate) {
    std::lock_guard<std::mutex> guard{d.mutex};
    return d.status_of(*stored);
  }
  if (auto err = d.run_version(*stored))
    return make_error(kind_of(err),
                      fmt::format("{} was installed but not activated: {}", who, message_of(err)));
  if (auto err = d.store->activate(stored->name, stored->version))
    return err;
  auto now = d.store->find(stored->name, stored->version);
  std::lock_guard<std::mutex> guard{d.mutex};
  return d.status_of(now ? *now : *stored);
}

caf::expected<module_status> code_server::activate(const std::string& name,
                                                   const std::string& version,
                                                   const std::string& node) {
  auto& d = *impl_;
  if (d.replication)
    return d.replication->activate(*this, name, version, node);
  if (!node.empty())
    return d.alone(node);
  std::lock_guard<std::mutex> op{d.op_mutex};
  auto m = d.store->find(name, version);
  if (!m)
    return make_error(errc::not_found,
                      fmt::format("{} is not installed (microlith modules list shows what is)",
                                  who_of(name, version)));
  if (auto err = d.run_version(*m))
    return err;
  if (auto err = d.store->activate(name, version))
    return err;
  auto now = d.store->find(name, version);
  std::lock_guard<std::mutex> guard{d.mutex};
  return d.status_of(now ? *now : *m);
}

caf::error code_server::remove(const std::string& name) {
  auto& d = *impl_;
  if (d.replication)
    return d.replication->remove(*this, name);
  return remove_here(name);
}

caf::error code_server::remove_here(const std::string& name) {
  auto& d = *impl_;
  std::lock_guard<std::mutex> op{d.op_mutex};
  auto installed = d.store->list();
  if (std::none_of(installed.begin(), installed.end(),
                   [&](const installed_module& m) { return m.name == name; }))
    return make_error(errc::not_found, fmt::format("module {} is not installed", name));
  if (auto err = d.unload(name))
    return err;
  {
    std::lock_guard<std::mutex> guard{d.mutex};
    d.problems.erase(name);
  }
  return d.store->remove(name);
}

caf::expected<module_status> code_server::store_here(std::string_view archive,
                                                     const installed_module& row) {
  auto& d = *impl_;
  std::lock_guard<std::mutex> op{d.op_mutex};
  auto stored = d.store_package(archive, row);
  if (!stored)
    return stored.error();
  std::lock_guard<std::mutex> guard{d.mutex};
  return d.status_of(*stored);
}

caf::expected<module_status> code_server::activate_here(const std::string& name,
                                                        const std::string& version,
                                                        const std::string& node) {
  auto& d = *impl_;
  std::lock_guard<std::mutex> op{d.op_mutex};
  auto m = d.store->find(name, version);
  if (!m)
    return make_error(errc::not_found,
                      fmt::format("{} is not installed on node {}", who_of(name, version),
                                  d.replication ? d.replication->self() : std::string{"this"}));
  m->node = node;
  if (d.runs_here(*m)) {
    if (auto err = d.run_version(*m))
      return err;
    if (auto err = d.store->activate(name, version, node))
      return err;
  } else {
    // Decided already (the node that runs it runs it): recorded, then served here.
    if (auto err = d.store->activate(name, version, node))
      return err;
    m->active = true;
    if (auto err = d.run_version(*m))
      log::warn(component, "{} runs on node {}; not served here yet: {}", who_of(name, version),
                node, message_of(err));
  }
  auto now = d.store->find(name, version);
  std::lock_guard<std::mutex> guard{d.mutex};
  return d.status_of(now ? *now : *m);
}

caf::expected<std::string> code_server::archive_of(const std::string& name,
                                                   const std::string& version) const {
  auto& d = *impl_;
  if (!d.store->find(name, version))
    return make_error(errc::not_found, fmt::format("{} is not installed", who_of(name, version)));
  auto folder = d.store->folder_of(name, version);
  auto manifest_bytes = read_file(folder / "manifest.toml");
  if (!manifest_bytes)
    return manifest_bytes.error();
  auto manifest = parse_manifest(*manifest_bytes, (folder / "manifest.toml").string());
  if (!manifest)
    return manifest.error();
  auto note_bytes = read_file(folder / "abi.toml");
  if (!note_bytes)
    return note_bytes.error();
  std::vector<archive_entry> entries{{"manifest.toml", std::move(*manifest_bytes)},
                                     {"abi.toml", std::move(*note_bytes)}};
  for (const auto& f : manifest->files) {
    auto bytes = read_file(folder / f.name);
    if (!bytes)
      return bytes.error();
    entries.push_back({f.name, std::move(*bytes)});
  }
  return write_archive(entries);
}

void code_server::retry_unloaded() {
  auto& d = *impl_;
  std::lock_guard<std::mutex> op{d.op_mutex};
  for (const auto& m : d.store->list()) {
    if (!m.active || d.runs_here(m))
      continue;
    {
      std::lock_guard<std::mutex> guard{d.mutex};
      auto i = d.running.find(m.name);
      if (i != d.running.end() && i->second->installed.version == m.version
          && i->second->installed.node == m.node)
        continue;
    }
    d.run_version(m); // a failure stays its problem, until the next try
  }
}

std::vector<module_status> code_server::list() const {
  auto installed = impl_->store->list();
  std::lock_guard<std::mutex> guard{impl_->mutex};
  std::vector<module_status> out;
  for (const auto& m : installed)
    out.push_back(impl_->status_of(m));
  return out;
}

std::vector<gateway::route_spec> code_server::routes() const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->routes_with({}, nullptr);
}

void code_server::on_routes(const std::string& group, loaded_routes_installer install) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  if (install)
    impl_->installers[group] = std::move(install);
  else
    impl_->installers.erase(group);
}

bool code_server::loading() const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->loading_now;
}

const archive_limits& code_server::limits() const noexcept {
  return impl_->limits;
}

void code_server::stop() {
  auto& d = *impl_;
  if (d.replication)
    d.replication->stop_watching();
  std::lock_guard<std::mutex> op{d.op_mutex};
  std::vector<std::unique_ptr<loaded_version>> versions;
  caf::actor sup;
  {
    std::lock_guard<std::mutex> guard{d.mutex};
    for (auto i = d.activation_order.rbegin(); i != d.activation_order.rend(); ++i) {
      auto r = d.running.find(*i);
      if (r != d.running.end())
        versions.push_back(std::move(r->second));
    }
    d.running.clear();
    d.activation_order.clear();
    d.installers.clear();
    sup = d.supervisor;
  }
  for (auto& v : versions)
    d.stop_groups(*v);
  if (sup) {
    caf::scoped_actor self{d.n.system()};
    self->monitor(sup);
    signal_exit(sup, caf::exit_reason::user_shutdown, self.ptr());
    self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(30)) >> [] {});
    std::lock_guard<std::mutex> guard{d.mutex};
    d.supervisor = nullptr;
  }
}

} // namespace microlith
