#include "modules/module_replication.hpp"

#include "modules/contract_check.hpp"
#include "modules/module_library.hpp"
#include "modules/module_message.hpp"
#include "modules/posted_operations.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/actors/thread_name.hpp"
#include "proto/microlith_modules.pb.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

namespace microlith::detail {

namespace {

namespace pb = microlith::modules::v1;

constexpr std::string_view component = "modules";

// How long a call to another node's code server may take: storing or activating a version
// reads, checks and writes its files there, and starts its groups (each within 30 s).
constexpr auto operation_timeout = std::chrono::seconds(60);
constexpr auto list_timeout = std::chrono::seconds(10);

// How long the node that received an activation waits for the services of a version another
// node has just started to reach its registry (they travel apart from that node's answer).
constexpr auto announce_wait = std::chrono::seconds(10);

constexpr auto watch_interval = std::chrono::milliseconds(250);

std::string who_of(const std::string& name, const std::string& version) {
  return fmt::format("{} {}", name, version);
}

// The kind of `err` when it is one of microlith's, else failed_precondition.
errc kind_of(const caf::error& err) {
  return err.category() == error_category() ? code_of(err) : errc::failed_precondition;
}

// The replica service's state: each request runs on the code server's thread for other nodes'
// requests (post_for_peer), never behind an operation of this node that waits on another node.
class replica_state {
public:
  replica_state(call_context& ctx, code_server* here, node* host_node)
    : operations_(ctx, here, host_node, posted_operations::thread::for_peers) {}

  reply<pb::Module> store(call_context& ctx, const pb::ReplicaArchive& req) {
    auto row = module_status_of(req.module()).installed;
    return operations_.run<pb::Module>(ctx, [archive = req.archive(), row](code_server& m) {
      auto done = m.store_here(archive, row);
      return done ? done_with(module_message(*done)) : done_with(done.error());
    });
  }

  reply<pb::Module> activate(call_context& ctx, const pb::ReplicaActivate& req) {
    return operations_.run<pb::Module>(
      ctx, [name = req.name(), version = req.version(), node = req.node()](code_server& m) {
        auto done = m.activate_here(name, version, node);
        return done ? done_with(module_message(*done)) : done_with(done.error());
      });
  }

  reply<pb::Removed> remove(call_context& ctx, const pb::RemoveRequest& req) {
    return operations_.run<pb::Removed>(ctx, [name = req.name()](code_server& m) {
      if (auto err = m.remove_here(name))
        return done_with(err);
      pb::Removed removed;
      removed.set_name(name);
      return done_with(removed);
    });
  }

  reply<pb::ModuleList> list(call_context& ctx, const pb::ListRequest&) {
    return operations_.run<pb::ModuleList>(ctx, [](code_server& m) {
      pb::ModuleList all;
      for (const auto& s : m.list())
        *all.add_modules() = module_message(s);
      return done_with(all);
    });
  }

  reply<pb::ReplicaArchive> fetch(call_context& ctx, const pb::FetchRequest& req) {
    return operations_.run<pb::ReplicaArchive>(
      ctx, [name = req.name(), version = req.version()](code_server& m) {
        auto archive = m.archive_of(name, version);
        if (!archive)
          return done_with(archive.error());
        pb::ReplicaArchive out;
        for (const auto& s : m.list())
          if (s.installed.name == name && s.installed.version == version)
            *out.mutable_module() = module_message(s);
        out.set_archive(std::move(*archive));
        return done_with(out);
      });
  }

private:
  posted_operations operations_;
};

} // namespace

caf::expected<remote_version> prepare_remote_version(const std::filesystem::path& folder,
                                                     const installed_module& m,
                                                     const service_registry& registry) {
  auto who = who_of(m.name, m.version);
  auto manifest = load_stored_contracts(folder, who, "its contracts were not loaded");
  if (!manifest)
    return manifest.error();
  remote_version out;
  for (const auto& r : manifest->routes) {
    auto spec = gateway::parse_route(prefixed_route_key(r.key, m.route_prefix), r.target);
    if (!spec)
      return make_error(errc::failed_precondition,
                        fmt::format("{}: route \"{}\" -> {} under prefix \"{}\": {}", who, r.key,
                                    r.target, m.route_prefix, message_of(spec.error())));
    if (registry.contract_of(spec->service).empty())
      return make_error(errc::service_unavailable,
                        fmt::format("{} runs on node {}, which has not announced its service {} "
                                    "to this node yet (is node {} up?)",
                                    who, m.node, spec->service, m.node));
    spec->origin = fmt::format("module {} (its groups run on node {})", who, m.node);
    out.routes.push_back(std::move(*spec));
  }
  out.manifest = std::move(*manifest);
  return out;
}

std::string replica_service_name(std::string_view node) {
  return fmt::format("modules@{}", node);
}

module_replication::module_replication(node& n, module_cluster cluster)
  : node_(n), cluster_(std::move(cluster)) {}

module_replication::~module_replication() {
  stop_watching();
}

caf::expected<std::string> module_replication::node_named(const std::string& requested) const {
  if (requested.empty())
    return cluster_.node;
  if (std::find(cluster_.nodes.begin(), cluster_.nodes.end(), requested) != cluster_.nodes.end())
    return requested;
  return make_error(errc::invalid_argument,
                    fmt::format("node \"{}\" is not a node of this system; its nodes are: {}",
                                requested, fmt::join(cluster_.nodes, ", ")));
}

std::vector<std::string> module_replication::reachable() const {
  std::vector<std::string> out;
  auto snapshot = node_.registry().snapshot();
  for (const auto& other : cluster_.nodes)
    if (other != cluster_.node && !snapshot->instances(replica_service_name(other)).empty())
      out.push_back(other);
  return out;
}

service_definition module_replication::replica_service(code_server& here) {
  return service<replica_state>(replica_service_name(cluster_.node),
                                "microlith.modules.v1.ModuleReplica", &here, &node_)
    .handle("Store", &replica_state::store)
    .handle("Activate", &replica_state::activate)
    .handle("Remove", &replica_state::remove)
    .handle("List", &replica_state::list)
    .handle("Fetch", &replica_state::fetch);
}

template <class Resp, class Req>
caf::expected<Resp> module_replication::call(const std::string& peer, const char* method,
                                             const Req& request,
                                             std::chrono::milliseconds timeout) const {
  blocking_call_options options;
  options.timeout = timeout;
  options.caller = replica_service_name(cluster_.node);
  return node_.call<Resp>(replica_service_name(peer), method, request, std::move(options));
}

caf::expected<module_status> module_replication::activate_on(code_server& here,
                                                             const std::string& peer,
                                                             const installed_module& m,
                                                             const std::string& node) {
  pb::ReplicaActivate req;
  req.set_name(m.name);
  req.set_version(m.version);
  req.set_node(node);
  auto done = call<pb::Module>(peer, "Activate", req, operation_timeout);
  if (!done && kind_of(done.error()) == errc::not_found) {
    // It was down when the version was stored: it gets a copy first.
    auto archive = here.archive_of(m.name, m.version);
    if (!archive)
      return archive.error();
    pb::ReplicaArchive copy;
    module_status row;
    row.installed = m;
    *copy.mutable_module() = module_message(row);
    copy.set_archive(std::move(*archive));
    auto stored = call<pb::Module>(peer, "Store", copy, operation_timeout);
    if (!stored)
      return stored.error();
    done = call<pb::Module>(peer, "Activate", req, operation_timeout);
  }
  if (!done)
    return done.error();
  return module_status_of(*done);
}

caf::expected<module_status> module_replication::install(code_server& here,
                                                         std::string_view archive,
                                                         const install_options& options) {
  auto node = node_named(options.node);
  if (!node)
    return node.error();
  installed_module row;
  row.route_prefix = options.route_prefix;
  row.node = *node;
  auto stored = here.store_here(archive, row);
  if (!stored)
    return stored.error();
  const auto& m = stored->installed;
  auto who = who_of(m.name, m.version);
  for (const auto& peer : reachable()) {
    pb::ReplicaArchive copy;
    *copy.mutable_module() = module_message(*stored);
    copy.set_archive(std::string{archive});
    if (auto done = call<pb::Module>(peer, "Store", copy, operation_timeout); !done)
      log::warn(component, "node {} did not store {}: {}", peer, who, message_of(done.error()));
  }
  if (!options.activate)
    return stored;
  auto done = activate(here, m.name, m.version, *node);
  if (!done)
    return make_error(kind_of(done.error()), fmt::format("{} was installed but not activated: {}",
                                                         who, message_of(done.error())));
  return done;
}

caf::expected<module_status> module_replication::activate(code_server& here,
                                                          const std::string& name,
                                                          const std::string& version,
                                                          const std::string& requested) {
  auto who = who_of(name, version);
  std::optional<installed_module> m;
  std::string running_node;
  for (const auto& s : here.list()) {
    if (s.installed.name != name)
      continue;
    if (s.installed.version == version)
      m = s.installed;
    if (s.installed.active)
      running_node = s.installed.node;
  }
  if (!m)
    return make_error(
      errc::not_found,
      fmt::format("{} is not installed (microlith modules list shows what is)", who));
  std::string node;
  if (!requested.empty()) {
    auto named = node_named(requested);
    if (!named)
      return named.error();
    node = *named;
  } else {
    node = running_node.empty() ? self() : running_node;
  }
  auto peers = reachable();
  if (node != self()) {
    // The node that runs it first: when it cannot, nothing is activated anywhere.
    if (std::find(peers.begin(), peers.end(), node) == peers.end())
      return make_error(errc::service_unavailable,
                        fmt::format("node {} does not answer, so it cannot run {} (the nodes "
                                    "node {} reaches now: {})",
                                    node, who, self(),
                                    peers.empty() ? std::string{"none"}
                                                  : fmt::format("{}", fmt::join(peers, ", "))));
    auto there = activate_on(here, node, *m, node);
    if (!there)
      return make_error(kind_of(there.error()), fmt::format("node {} did not run {}: {}", node, who,
                                                            message_of(there.error())));
    if (!there->loaded)
      return make_error(errc::failed_precondition,
                        fmt::format("node {} did not run {}: {}", node, who, there->problem));
  }
  auto local = here.activate_here(name, version, node);
  if (!local)
    return local.error();
  // Its services reach this node's registry apart from the answer of the node that runs it.
  auto until = std::chrono::steady_clock::now() + announce_wait;
  while (!local->loaded && node != self() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    here.retry_unloaded();
    for (const auto& s : here.list())
      if (s.installed.name == name && s.installed.version == version)
        local = s;
  }
  for (const auto& peer : peers) {
    if (peer == node)
      continue;
    auto done = activate_on(here, peer, *m, node);
    if (!done)
      log::warn(component, "node {} did not take the activation of {} (run by node {}): {}", peer,
                who, node, message_of(done.error()));
    else if (!done->loaded)
      log::warn(component, "node {} does not serve {} (run by node {}) yet: {}", peer, who, node,
                done->problem);
  }
  return local;
}

caf::error module_replication::remove(code_server& here, const std::string& name) {
  if (auto err = here.remove_here(name))
    return err;
  for (const auto& peer : reachable()) {
    pb::RemoveRequest req;
    req.set_name(name);
    auto done = call<pb::Removed>(peer, "Remove", req, operation_timeout);
    if (!done && kind_of(done.error()) != errc::not_found)
      log::warn(component, "node {} did not remove {}: {}", peer, name, message_of(done.error()));
  }
  return {};
}

void module_replication::catch_up(code_server& here, bool wait) {
  auto peers = reachable();
  if (peers.empty() && wait && cluster_.nodes.size() > 1) {
    auto until = std::chrono::steady_clock::now() + cluster_.catch_up_wait;
    while (peers.empty() && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      peers = reachable();
    }
  }
  if (peers.empty()) {
    if (cluster_.nodes.size() > 1)
      log::info(component,
                "node {} reaches no other node yet: it starts with the modules it has, and "
                "catches up with the first node it reaches",
                self());
    caught_up_ = cluster_.nodes.size() <= 1;
    return;
  }
  for (const auto& peer : peers) {
    auto theirs = call<pb::ModuleList>(peer, "List", pb::ListRequest{}, list_timeout);
    if (!theirs) {
      log::warn(component, "node {} did not list its modules: {}", peer,
                message_of(theirs.error()));
      continue;
    }
    auto has = [&](const std::vector<module_status>& all, const installed_module& x) {
      return std::any_of(all.begin(), all.end(), [&](const module_status& s) {
        return s.installed.name == x.name && s.installed.version == x.version;
      });
    };
    auto mine = here.list();
    int fetched = 0;
    for (const auto& theirs_one : theirs->modules()) {
      auto row = module_status_of(theirs_one).installed;
      if (has(mine, row))
        continue;
      pb::FetchRequest req;
      req.set_name(row.name);
      req.set_version(row.version);
      auto copy = call<pb::ReplicaArchive>(peer, "Fetch", req, operation_timeout);
      if (!copy) {
        log::warn(component, "node {} did not send {}: {}", peer, who_of(row.name, row.version),
                  message_of(copy.error()));
        continue;
      }
      if (auto stored = here.store_here(copy->archive(), row); !stored)
        log::warn(component, "{} from node {} was not stored: {}", who_of(row.name, row.version),
                  peer, message_of(stored.error()));
      else
        ++fetched;
    }
    mine = here.list();
    int taken = 0;
    for (const auto& theirs_one : theirs->modules()) {
      if (!theirs_one.active())
        continue;
      auto same = std::any_of(mine.begin(), mine.end(), [&](const module_status& s) {
        return s.installed.active && s.installed.name == theirs_one.name()
               && s.installed.version == theirs_one.version()
               && s.installed.node == theirs_one.node();
      });
      if (same)
        continue;
      auto who = who_of(theirs_one.name(), theirs_one.version());
      auto done = here.activate_here(theirs_one.name(), theirs_one.version(), theirs_one.node());
      if (!done)
        log::warn(component, "{}, active on node {} and run by node {}, is not active here: {}",
                  who, peer, theirs_one.node(), message_of(done.error()));
      else
        ++taken;
    }
    log::info(component,
              "node {} caught up with node {}: {} version(s) fetched, {} activation(s) taken",
              self(), peer, fetched, taken);
    caught_up_ = true;
    return;
  }
}

void module_replication::watch(code_server& here) {
  std::lock_guard<std::mutex> guard{watch_mutex_};
  if (watcher_.joinable() || watch_stopping_)
    return;
  watcher_ = std::thread{[this, target = &here] {
    name_this_thread("ml.modules_sync");
    watch_loop(target);
  }};
}

void module_replication::stop_watching() {
  {
    std::lock_guard<std::mutex> guard{watch_mutex_};
    watch_stopping_ = true;
  }
  watch_changed_.notify_all();
  if (watcher_.joinable() && watcher_.get_id() != std::this_thread::get_id())
    watcher_.join();
}

bool module_replication::stopping() {
  std::lock_guard<std::mutex> guard{watch_mutex_};
  return watch_stopping_;
}

void module_replication::watch_loop(code_server* here) {
  auto seen = node_.registry().version();
  std::unique_lock<std::mutex> guard{watch_mutex_};
  for (;;) {
    if (watch_changed_.wait_for(guard, watch_interval, [&] { return watch_stopping_; }))
      return;
    guard.unlock();
    if (!caught_up_ && !catch_up_posted_ && !reachable().empty()) {
      catch_up_posted_ = true;
      here->post([this, here] {
        if (stopping())
          return; // the node stops: no more calls to other nodes
        catch_up(*here, false);
        here->retry_unloaded();
        catch_up_posted_ = false;
      });
    }
    auto now = node_.registry().version();
    if (now != seen && !retry_posted_) {
      seen = now;
      auto all = here->list();
      bool unserved = std::any_of(all.begin(), all.end(), [&](const module_status& s) {
        return s.installed.active && !s.loaded && s.installed.node != self();
      });
      if (unserved) {
        retry_posted_ = true;
        here->post([this, here] {
          if (!stopping())
            here->retry_unloaded();
          retry_posted_ = false;
        });
      }
    }
    guard.lock();
  }
}

} // namespace microlith::detail
