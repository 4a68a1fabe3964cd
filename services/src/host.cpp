#include "microlith/services/host.hpp"

#include "microlith/services/code_server.hpp"
#include "microlith/services/gateway_module.hpp"
#include "microlith/services/module_store.hpp"
#include "microlith/services/observer_admin.hpp"

#include "jobs/cron_ticker.hpp"
#include "jobs/job_rescuer.hpp"
#include "jobs/job_runtime.hpp"
#include "jobs/job_worker.hpp"
#include "jobs/jobs_service.hpp"
#include "observer/observer_runtime.hpp"
#include "observer/observer_service.hpp"
#include "toggles/toggle_board.hpp"
#include "toggles/toggle_replication.hpp"
#include "toggles/toggles_service.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/exit.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/net/gateway/gateway_worker.hpp"
#include "microlith/supervision/supervisor.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace microlith {

namespace {

constexpr std::string_view component = "host";

// Watches the group supervisors and tells the host when one exits. (A class, not a function
// actor: CAF 0.17 spawning an argument-less function actor binds a null reference.)
class group_watcher final : public caf::event_based_actor {
public:
  using on_exit_fn = std::function<void(const caf::actor_addr&, const caf::error&)>;

  group_watcher(caf::actor_config& cfg, on_exit_fn on_exit)
    : caf::event_based_actor(cfg), on_exit_(std::move(on_exit)) {}

  const char* name() const override { return "group-watcher"; }

  caf::behavior make_behavior() override {
    set_down_handler([this](caf::down_msg& msg) { on_exit_(msg.source, msg.reason); });
    return {
      [this](const caf::actor& group) { monitor(group); },
    };
  }

private:
  on_exit_fn on_exit_;
};

} // namespace

struct host::impl : group_host {
  node& n;
  system_config config;
  const module_catalogue& catalogue;
  struct running_group {
    running_group(const group_config* c, caf::actor s) : config(c), supervisor(std::move(s)) {}
    const group_config* config;
    caf::actor supervisor;
    // Its supervisor's exit, when it exited on its own abnormally (for snapshots).
    std::string last_exit_reason;
    std::int64_t last_exit_unix_ms = 0;
  };
  std::vector<running_group> running;
  caf::actor watcher;
  mutable std::mutex mutex;
  std::condition_variable changed;
  bool stop_requested = false;
  bool stopping = false;
  int failure_code = 0;

  std::map<std::string, reload_handler> reload_handlers; // requires mutex
  std::map<std::string, std::uint16_t> http_ports;       // requires mutex
  host* owner = nullptr;
  std::string placement;
  std::vector<const group_config*> local_groups;     // placed on this node, in start order
  std::unique_ptr<cluster::membership> membership;   // written under mutex (start, stop)
  std::vector<const group_config*> permanent_groups; // of the whole system, in start order
  std::string admin; // admin_token_for(config) when the host was made; never logged
  std::unique_ptr<code_server> loaded; // with [modules] dir, from start() on (set under mutex)
  std::unique_ptr<toggle_board> toggle_values;                // from start() on (set under mutex)
  std::unique_ptr<detail::toggle_replication> toggle_cluster; // on a node of a cluster
  group_config toggles_group; // the built-in toggles group: its name
  running_group toggles_running{&toggles_group, nullptr};
  std::shared_ptr<detail::job_runtime> job_runtime; // with [jobs] database, from start() on
  group_config jobs_group;                          // the built-in jobs group: its name
  running_group jobs_running{&jobs_group, nullptr};
  group_config job_workers_group; // the workers of this node's queues
  running_group job_workers_running{&job_workers_group, nullptr};
  group_config job_cron_group; // the cron ticker of this node's queues' schedules
  running_group job_cron_running{&job_cron_group, nullptr};
  std::shared_ptr<detail::observer_runtime> observer_rt; // from start() on (set under mutex)
  group_config observer_group;                           // the built-in observer group: its name
  running_group observer_running{&observer_group, nullptr};

  impl(node& host_node, system_config cfg, const module_catalogue& cat, std::string where)
    : n(host_node), config(std::move(cfg)), catalogue(cat), placement(std::move(where)),
      admin(admin_token_for(config)) {
    for (const auto* g : config.start_order())
      if (g->restart == restart_type::permanent)
        permanent_groups.push_back(g);
    try {
      local_groups = groups_on(config, placement);
    } catch (const system_file_errors&) {
      // start() reports the unknown node.
    }
  }

  // Sets the supervisor of a built-in group (under mutex: snapshot() reads them from the
  // observer's thread; the host's start and stop, which write them, read them without it).
  void set_supervisor(running_group& g, caf::actor sup) {
    std::lock_guard<std::mutex> guard{mutex};
    g.supervisor = std::move(sup);
  }

  // The built-in groups running on this node (requires mutex): with `first`, those started
  // before the file's groups (observer, toggles, jobs), else those started after them (the job
  // workers and the cron ticker), each in start order.
  std::vector<running_group> builtin_groups(bool first) const {
    std::vector<running_group> out;
    const running_group* before[] = {&observer_running, &toggles_running, &jobs_running};
    const running_group* after[] = {&job_workers_running, &job_cron_running};
    auto add = [&](const running_group* g) {
      if (g->supervisor)
        out.push_back(*g);
    };
    if (first)
      std::for_each(std::begin(before), std::end(before), add);
    else
      std::for_each(std::begin(after), std::end(after), add);
    return out;
  }

  // True when group `name` runs on this node (requires mutex).
  bool running_here(const std::string& name) const {
    return std::any_of(running.begin(), running.end(), [&](const running_group& r) {
      return r.config->name == name && r.supervisor;
    });
  }

  std::vector<unready_group> unready_groups() const override {
    std::lock_guard<std::mutex> guard{mutex};
    std::vector<cluster::member_info> members;
    bool members_read = false;
    std::vector<unready_group> out;
    if (loaded && loaded->loading())
      out.push_back({"modules", "the node is loading its installed modules"});
    for (const auto* g : permanent_groups) {
      if (running_here(g->name))
        continue;
      if (placement.empty()) {
        out.push_back({g->name, fmt::format("permanent group {} is not running", g->name)});
        continue;
      }
      // Up while some node the file places it on is joined and announces it.
      if (!members_read && membership)
        members = membership->members();
      members_read = true;
      std::vector<std::string> places;
      bool up = false;
      for (const auto& where : config.nodes) {
        if (std::find(where.groups.begin(), where.groups.end(), g->name) == where.groups.end())
          continue;
        if (where.name == placement) {
          places.push_back(fmt::format("{}: this node, not running it", where.name));
          continue;
        }
        auto m = std::find_if(members.begin(), members.end(),
                              [&](const cluster::member_info& x) { return x.name == where.name; });
        if (m == members.end()) {
          places.push_back(fmt::format("{}: not joined", where.name));
        } else if (std::find(m->groups.begin(), m->groups.end(), g->name) == m->groups.end()) {
          places.push_back(fmt::format("{}: joined, not running it", where.name));
        } else {
          up = true;
          break;
        }
      }
      if (!up)
        out.push_back({g->name, fmt::format("permanent group {} runs on no reachable node "
                                            "(placed on {})",
                                            g->name, fmt::join(places, ", "))});
    }
    return out;
  }

  // Tells the other nodes which groups run here (requires mutex).
  void announce_groups() {
    if (!membership)
      return;
    std::vector<std::string> names;
    for (const auto& r : running)
      if (r.supervisor)
        names.push_back(r.config->name);
    membership->set_local_groups(std::move(names));
  }

  // Waits until every group `g` needs that is not placed here runs on a joined node; false when
  // the host was asked to stop first (also during an earlier part of the start).
  bool await_remote_needs(const group_config& g) {
    {
      std::lock_guard<std::mutex> guard{mutex};
      if (stop_requested)
        return false;
    }
    if (!membership)
      return true;
    std::vector<std::string> remote;
    for (const auto& need : g.all_needs()) {
      bool here = std::any_of(local_groups.begin(), local_groups.end(),
                              [&](const group_config* x) { return x->name == need; });
      if (!here)
        remote.push_back(need);
    }
    bool logged = false;
    std::unique_lock<std::mutex> guard{mutex};
    for (;;) {
      std::vector<std::string> missing;
      for (const auto& need : remote)
        if (!membership->group_running(need))
          missing.push_back(need);
      if (missing.empty())
        return true;
      if (!logged) {
        log::info(component, "group {} waits for group(s) {} on other nodes", g.name,
                  fmt::join(missing, ", "));
        logged = true;
      }
      if (changed.wait_for(guard, std::chrono::milliseconds(20), [&] { return stop_requested; }))
        return false;
    }
  }

  caf::error reload_file() override;

  std::string admin_token() const override { return admin; }

  code_server* modules() const override {
    std::lock_guard<std::mutex> guard{mutex};
    return loaded.get();
  }

  toggle_board* toggles() const override {
    std::lock_guard<std::mutex> guard{mutex};
    return toggle_values.get();
  }

  // Reads the declared toggles and their saved values ([toggles] database) and publishes them
  // on the node, then starts the built-in toggles group (its `toggles` service): before the
  // file's groups, so they start with the saved values in force and the node reports ready only
  // after. A database that does not open or read fails the start. On a node of a cluster, the
  // group also runs the replica service "toggles@NODE", and the node takes the values it lacks
  // from the other nodes it reaches before its groups start (toggle_replication.hpp).
  caf::error open_toggles() {
    if (toggles_running.supervisor)
      return {};
    if (!toggle_values) {
      auto board = toggle_board::open(n, config, catalogue, placement);
      if (!board)
        return make_error(code_of(board.error()),
                          fmt::format("the toggles did not open: {}", message_of(board.error())));
      std::lock_guard<std::mutex> guard{mutex};
      toggle_values = std::move(*board);
    }
    if (!placement.empty() && !toggle_cluster) {
      detail::toggle_cluster cluster;
      cluster.node = placement;
      for (const auto& where : config.nodes)
        if (where.name != placement)
          cluster.others.push_back({where.name, where.host, where.port});
      toggle_cluster =
        std::make_unique<detail::toggle_replication>(n, *toggle_values, std::move(cluster));
    }
    toggles_group.name = "toggles";
    supervisor_spec spec{"toggles"};
    spec.strategy(strategy::one_for_one).intensity(10, std::chrono::seconds(10));
    group_context ctx{n, toggles_group, this};
    spec.child(ctx.service(detail::toggles_service(*toggle_values, toggle_cluster.get())));
    if (toggle_cluster)
      spec.child(ctx.service(toggle_cluster->replica_service()));
    auto sup = start_supervisor(n.system(), std::move(spec));
    if (!sup)
      return make_error(errc::service_unavailable,
                        fmt::format("the toggles group did not start: {}", describe(sup.error())));
    set_supervisor(toggles_running, *sup);
    log::info(component, "toggles: {} declared{}", toggle_values->list().toggles_size(),
              config.toggles.database.empty()
                ? std::string{", values kept in memory (no [toggles] database)"}
                : ", values saved in " + config.toggles.database);
    if (toggle_cluster)
      toggle_cluster->catch_up_at_start([this] {
        std::lock_guard<std::mutex> guard{mutex};
        return stop_requested;
      });
    return {};
  }

  std::shared_ptr<detail::observer_runtime> observer() const override {
    std::lock_guard<std::mutex> guard{mutex};
    return observer_rt;
  }

  // Starts the built-in observer group (its `observer` service, "observer@NODE" on a node of a
  // cluster: docs/observer.md) first of all, so that it reports the node while the rest starts.
  caf::error open_observer() {
    if (observer_running.supervisor)
      return {};
    if (!observer_rt) {
      detail::observer_sources sources;
      sources.system = config.name;
      sources.node_name = placement;
      for (const auto& where : config.nodes)
        if (where.name != placement)
          sources.peers.push_back(where.name);
      sources.tree = [this] { return owner->snapshot(); };
      sources.group_supervisor = [this](const std::string& name) {
        return owner->group_supervisor(name);
      };
      sources.toggles = [this] { return toggles(); };
      sources.modules = [this] { return modules(); };
      sources.runs_jobs = [this] { return runs_jobs(); };
      if (!placement.empty())
        sources.members = [this] {
          std::lock_guard<std::mutex> guard{mutex};
          return membership ? membership->members() : std::vector<cluster::member_info>{};
        };
      auto rt = std::make_shared<detail::observer_runtime>(n, std::move(sources));
      std::lock_guard<std::mutex> guard{mutex};
      observer_rt = std::move(rt);
    }
    observer_group.name = "observer";
    supervisor_spec spec{"observer"};
    spec.strategy(strategy::one_for_one).intensity(10, std::chrono::seconds(10));
    group_context ctx{n, observer_group, this};
    spec.child(
      ctx.service(detail::observer_service(observer_rt, detail::observer_service_name(placement))));
    if (const auto* listen = config.observer.metrics_of(placement))
      spec.child(ctx.worker(metrics_listener(*listen)));
    auto sup = start_supervisor(n.system(), std::move(spec));
    if (!sup)
      return make_error(errc::service_unavailable,
                        fmt::format("the observer group did not start: {}", describe(sup.error())));
    set_supervisor(observer_running, *sup);
    return {};
  }

  // The worker `metrics` of the observer group: a gateway with no routes that answers this
  // node's GET /metrics (and /healthz, /readyz) where [observer] metrics or
  // [observer.nodes.NAME] metrics says, so that a node without a gateway group is scraped
  // directly (docs/observer.md, "A node's own metrics").
  service_definition metrics_listener(const observer_metrics_listen& listen) {
    gateway::gateway_options options;
    options.host = listen.host;
    options.port = listen.port;
    options.websocket_path.clear();
    options.render_metrics = observer_metrics_renderer(n, observer_rt);
    if (config.observer.metrics_need_token) {
      options.metrics_endpoint = gateway::metrics_access::admin;
      options.admin_token = admin; // check_system refused the file without one
    }
    auto where = placement.empty() ? std::string{"this process"} : "node " + placement;
    return gateway::gateway_worker(
      "metrics", n, std::move(options), std::make_shared<gateway::route_switch>(),
      readiness_of(*this), [this, where](gateway::gateway_server* server) {
        on_listening("observer", server != nullptr ? server->port() : std::uint16_t{0});
        if (server != nullptr)
          log::info(component, "observer: metrics of {} on http://{}:{}/metrics", where,
                    config.observer.metrics_of(placement)->host, server->port());
      });
  }

  bool runs_jobs() const override {
    std::lock_guard<std::mutex> guard{mutex};
    return job_runtime != nullptr;
  }

  // Opens the job store of [jobs] database (a file that does not open fails the start, naming
  // it and the reason), makes the jobs this node's killed process left executing due again,
  // and starts the built-in jobs group (its `jobs` service) before the file's groups, so that
  // they can enqueue as they start. Nothing without a database.
  //
  // Who rescues what (docs/jobs.md): a system run in one process is the file's only runner and
  // rescues every executing job at start. A node of a cluster records itself (its name and its
  // process's id) on each claim and rescues at start only its own previous process's jobs; its
  // jobs group's rescuer then rescues the jobs of each node the cluster loses, and once, a
  // connection cycle after the start, those of every holder that is not joined.
  caf::error open_jobs() {
    if (config.jobs.database.empty() || jobs_running.supervisor)
      return {};
    if (!job_runtime) {
      job_holder me{placement, caf::to_string(n.system().node())};
      auto store = job_store::open_database(
        config.jobs.database, config.jobs.synchronous_full ? job_sync::full : job_sync::normal, me);
      if (!store)
        return make_error(code_of(store.error()),
                          fmt::format("the jobs did not open: {}", message_of(store.error())));
      auto rescued = placement.empty() ? (*store)->rescue_executing(job_clock_now())
                                       : (*store)->rescue_previous_instances(job_clock_now());
      if (!rescued)
        return make_error(code_of(rescued.error()),
                          fmt::format("the jobs did not open: {}", message_of(rescued.error())));
      if (*rescued > 0)
        log::info(component, "jobs: {} job(s) left executing by the last run are due again",
                  *rescued);
      std::vector<job_queue_config> queues;
      for (const auto& g : config.groups)
        queues.insert(queues.end(), g.job_queues.begin(), g.job_queues.end());
      auto runtime = std::make_shared<detail::job_runtime>(n, std::move(*store), std::move(queues),
                                                           config.jobs.poll_interval);
      std::lock_guard<std::mutex> guard{mutex};
      job_runtime = std::move(runtime);
    }
    jobs_group.name = "jobs";
    supervisor_spec spec{"jobs"};
    spec.strategy(strategy::one_for_one).intensity(10, std::chrono::seconds(10));
    group_context ctx{n, jobs_group, this};
    spec.child(ctx.service(detail::jobs_service(job_runtime)));
    if (membership) {
      auto* joined = membership.get();
      spec.child(detail::job_rescuer_child(
        job_runtime,
        [joined] {
          std::vector<job_holder> out;
          for (const auto& m : joined->members())
            out.push_back(job_holder{m.name, m.node_id});
          return out;
        },
        detail::job_rescue_bounds{2 * joined->options().heartbeat_timeout,
                                  joined->options().connect_timeout
                                    + joined->options().reconnect_max}));
      joined->watch_lost([runtime = std::weak_ptr<detail::job_runtime>{job_runtime}](
                           const cluster::lost_member& lost) {
        if (auto r = runtime.lock())
          r->holder_lost(job_holder{lost.name, lost.node_id}, job_clock_now(), lost.why);
      });
    }
    auto sup = start_supervisor(n.system(), std::move(spec));
    if (!sup)
      return make_error(errc::service_unavailable,
                        fmt::format("the jobs group did not start: {}", describe(sup.error())));
    set_supervisor(jobs_running, *sup);
    log::info(component, "jobs: store {}", job_runtime->store().where()); // no password
    return {};
  }

  // Starts the workers of the queues of the groups placed on this node, after those groups (a
  // worker's first claim calls their services at once).
  caf::error start_job_workers() {
    if (!job_runtime || job_workers_running.supervisor)
      return {};
    job_workers_group.name = "jobs.workers";
    supervisor_spec spec{"jobs.workers"};
    // A worker that crashes has its job rescued as it exits and is started again.
    spec.strategy(strategy::one_for_one).intensity(100, std::chrono::seconds(10));
    std::size_t workers = 0;
    for (const auto* g : local_groups)
      for (const auto& declared : g->job_queues) {
        const auto* queue = job_runtime->queue(declared.name);
        for (int i = 1; i <= queue->concurrency; ++i, ++workers)
          spec.child(detail::job_worker_child(job_runtime, *queue, i));
      }
    if (workers == 0)
      return {};
    auto sup = start_supervisor(n.system(), std::move(spec));
    if (!sup)
      return make_error(errc::service_unavailable,
                        fmt::format("the job workers did not start: {}", describe(sup.error())));
    set_supervisor(job_workers_running, *sup);
    log::info(component, "jobs: {} worker(s) started", workers);
    return {};
  }

  // Starts the cron ticker (group jobs.cron) for the [jobs.cron.NAME] schedules whose queue a
  // group placed on this node declares: after those groups, whose services' contracts give the
  // request type each schedule's message is checked against (a message that is not one stops
  // the start, naming the schedule). Several nodes with the queue all tick; the store's
  // cron_ticks makes each tick one job.
  caf::error start_cron() {
    if (!job_runtime || job_cron_running.supervisor || config.jobs.cron.empty())
      return {};
    std::vector<detail::cron_plan> plans;
    for (const auto& cron : config.jobs.cron) {
      const job_queue_config* queue = nullptr;
      for (const auto* g : local_groups)
        for (const auto& declared : g->job_queues)
          if (declared.name == cron.queue)
            queue = job_runtime->queue(declared.name);
      if (queue == nullptr)
        continue; // ticked by the nodes that run its queue
      const google::protobuf::Descriptor* request_type = nullptr;
      const auto contract = n.registry().contract_of(queue->service);
      if (const auto* service =
            google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(contract))
        if (const auto* method = service->FindMethodByName(queue->method))
          request_type = method->input_type();
      auto plan = detail::make_cron_plan(cron, *queue, request_type);
      if (!plan)
        return make_error(code_of(plan.error()), fmt::format("the cron schedules did not start: {}",
                                                             message_of(plan.error())));
      plans.push_back(std::move(*plan));
    }
    if (plans.empty())
      return {};
    job_cron_group.name = "jobs.cron";
    supervisor_spec spec{"jobs.cron"};
    spec.strategy(strategy::one_for_one).intensity(10, std::chrono::seconds(10));
    const auto count = plans.size();
    spec.child(detail::cron_ticker_child(job_runtime, std::move(plans)));
    auto sup = start_supervisor(n.system(), std::move(spec));
    if (!sup)
      return make_error(errc::service_unavailable,
                        fmt::format("the cron ticker did not start: {}", describe(sup.error())));
    set_supervisor(job_cron_running, *sup);
    log::info(component, "jobs: {} cron schedule(s) ticking", count);
    return {};
  }

  // The folder of this node's module store: [modules] dir for a system in one process; DIR/NODE
  // for a node of a cluster (each node keeps its own copy of every installed version, and a store
  // is held by one process: docs/modules.md, "Modules in a cluster").
  std::string modules_dir() const {
    if (placement.empty())
      return config.modules.dir;
    return (std::filesystem::path{config.modules.dir} / placement).string();
  }

  // Opens the module store of [modules] dir and makes the code server (before the groups start,
  // so that gateway groups serve its routes); nothing without a dir. On a node of a cluster, the
  // code server joins the other nodes' (module_cluster).
  caf::error open_modules() {
    if (config.modules.dir.empty() || loaded)
      return {};
    if (placement == "." || placement == ".." || placement.find('/') != std::string::npos)
      return make_error(errc::bad_request,
                        fmt::format("node \"{}\" cannot keep installed modules: its name is "
                                    "the name of its folder under [modules] dir, and cannot be "
                                    "\".\", \"..\" or hold '/'",
                                    placement));
    auto dir = modules_dir();
    auto store = module_store::open(dir);
    if (!store)
      return make_error(
        errc::service_unavailable,
        fmt::format("the module store in {} did not open: {}", dir, describe(store.error())));
    archive_limits limits;
    limits.max_bytes = config.modules.max_archive_bytes;
    auto server = std::make_unique<code_server>(n, std::move(*store), limits);
    if (!placement.empty()) {
      module_cluster cluster;
      cluster.node = placement;
      for (const auto& where : config.nodes)
        cluster.nodes.push_back(where.name);
      server->join_cluster(std::move(cluster));
    }
    std::lock_guard<std::mutex> guard{mutex};
    loaded = std::move(server);
    return {};
  }

  // Loads the active version of every installed module; a failure of a module that
  // [modules] required names fails the start.
  caf::error load_modules() {
    if (!loaded)
      return {};
    std::vector<std::string> fatal;
    for (auto& [name, err] : loaded->load_active()) {
      const auto& required = config.modules.required;
      if (std::find(required.begin(), required.end(), name) != required.end())
        fatal.push_back(fmt::format("{}: {}", name, message_of(err)));
    }
    if (!fatal.empty())
      return make_error(errc::service_unavailable,
                        fmt::format("required module(s) did not load ([modules] required):\n{}",
                                    fmt::join(fatal, "\n")));
    for (const auto& name : config.modules.required) {
      auto all = loaded->list();
      if (std::none_of(all.begin(), all.end(), [&](const module_status& m) {
            return m.installed.name == name && m.loaded;
          }))
        return make_error(errc::service_unavailable,
                          fmt::format("required module {} ([modules] required) is not installed "
                                      "and active in {}",
                                      name, modules_dir()));
    }
    return {};
  }

  void on_reload(const std::string& group, reload_handler handler) override {
    std::lock_guard<std::mutex> guard{mutex};
    reload_handlers[group] = std::move(handler);
  }

  void on_listening(const std::string& group, std::uint16_t port) override {
    std::lock_guard<std::mutex> guard{mutex};
    if (port == 0)
      http_ports.erase(group);
    else
      http_ports[group] = port;
  }

  // A group's supervisor exited on its own: apply the group's policy.
  void on_group_exit(const caf::actor_addr& who, const caf::error& reason) {
    std::unique_lock<std::mutex> guard{mutex};
    if (stopping)
      return;
    for (auto& g : running) {
      if (!g.supervisor || g.supervisor.address() != who)
        continue;
      g.supervisor = nullptr;
      announce_groups();
      auto why = reason ? describe(reason) : std::string{"normal exit"};
      const auto policy = g.config->restart;
      bool abnormal = reason && reason != caf::exit_reason::normal;
      if (abnormal) {
        g.last_exit_reason = exit_text(reason);
        g.last_exit_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
      }
      if (policy == restart_type::permanent) {
        log::error(component, "permanent group {} exited ({}): stopping the node", g.config->name,
                   why);
        failure_code = 1;
        stop_requested = true;
        changed.notify_all();
      } else if (policy == restart_type::transient && abnormal) {
        log::error(component, "transient group {} failed ({}); the other groups keep running",
                   g.config->name, why);
      } else {
        log::warn(component, "{} group {} exited ({}); the other groups keep running",
                  to_string(policy), g.config->name, why);
      }
      return;
    }
  }

  caf::actor make_watcher() {
    return n.system().spawn<group_watcher>(
      [this](const caf::actor_addr& who, const caf::error& reason) { on_group_exit(who, reason); });
  }

  supervisor_spec spec_for(const group_config& g) {
    const auto* m = catalogue.find(g.module);
    const auto* def = m->find_group(g.name);
    group_context ctx{n, g, this};
    supervisor_spec spec{g.name};
    spec.strategy(g.strategy).intensity(g.intensity, g.period);
    if (g.backoff)
      spec.backoff(
        backoff_spec{g.backoff->min, g.backoff->max, g.backoff->jitter, g.backoff->reset_after});
    for (auto& c : def->build(ctx))
      spec.child(std::move(c));
    return spec;
  }

  // `label` names it in the log ("group web"; the built-in toggles group is not a group of the
  // file, and says so).
  void stop_group(caf::scoped_actor& self, running_group& g, std::string label = {}) {
    if (label.empty())
      label = "group " + g.config->name;
    if (!g.supervisor)
      return;
    auto sup = g.supervisor;
    set_supervisor(g, nullptr);
    self->monitor(sup);
    const auto& setting = g.config->shutdown;
    if (setting.k == shutdown_setting::kind::brutal_kill) {
      signal_exit(sup, caf::exit_reason::kill, self.ptr());
    } else {
      signal_exit(sup, caf::exit_reason::user_shutdown, self.ptr());
    }
    auto grace =
      setting.k == shutdown_setting::kind::timeout ? setting.timeout : config.shutdown_timeout;
    bool down = false;
    self->receive([&](caf::down_msg& msg) { down = msg.source == sup.address(); },
                  caf::after(grace) >> [] {});
    if (!down) {
      log::warn(component, "{} did not stop within {} ms: killing it", label, grace.count());
      signal_exit(sup, caf::exit_reason::kill, self.ptr());
      self->receive([](caf::down_msg&) {}, caf::after(std::chrono::seconds(5)) >> [] {});
    }
    log::info(component, "{} stopped", label);
  }
};

host::host(node& n, system_config config, const module_catalogue& catalogue, std::string placement)
  : impl_(std::make_unique<impl>(n, std::move(config), catalogue, std::move(placement))) {
  impl_->owner = this;
}

host::~host() {
  stop();
}

const system_config& host::config() const noexcept {
  return impl_->config;
}

const std::string& host::placement() const noexcept {
  return impl_->placement;
}

cluster::membership* host::membership() const noexcept {
  return impl_->membership.get();
}

caf::error host::start() {
  auto& d = *impl_;
  auto problems = check_system(d.config, d.catalogue);
  if (!problems.empty())
    return make_error(errc::bad_request, system_file_errors{std::move(problems)}.what());
  try {
    d.local_groups = groups_on(d.config, d.placement);
  } catch (const system_file_errors& e) {
    return make_error(errc::bad_request, e.what());
  }
  if (!d.placement.empty() && !d.membership) {
    auto joined = cluster::membership::join(d.n, cluster_options_for(d.config, d.placement));
    if (!joined) {
      log::error(component, "node {} cannot join system {}: {}", d.placement, d.config.name,
                 describe(joined.error()));
      return joined.error();
    }
    std::lock_guard<std::mutex> guard{d.mutex};
    d.membership = std::move(*joined);
  }
  if (!d.watcher)
    d.watcher = d.make_watcher();
  if (auto err = d.open_observer()) {
    log::error(component, "{}", message_of(err));
    stop();
    return err;
  }
  if (auto err = d.open_modules()) {
    log::error(component, "{}", message_of(err));
    stop();
    return err;
  }
  if (auto err = d.open_toggles()) {
    log::error(component, "{}", message_of(err));
    stop();
    return err;
  }
  if (auto err = d.open_jobs()) {
    log::error(component, "{}", message_of(err));
    stop();
    return err;
  }
  for (const auto* g : d.local_groups) {
    if (!d.await_remote_needs(*g)) {
      auto err = make_error(errc::service_unavailable,
                            fmt::format("group {} did not start: the node was asked to stop while "
                                        "it waited for the groups it needs",
                                        g->name));
      stop();
      return err;
    }
    log::info(component, "starting group {} (module {}, {})", g->name, g->module,
              to_string(g->strategy));
    caf::expected<caf::actor> sup = caf::error{};
    try {
      sup = start_supervisor(d.n.system(), d.spec_for(*g));
    } catch (const std::exception& e) {
      sup = make_error(errc::service_unavailable, e.what());
    }
    if (!sup) {
      auto err = make_error(errc::service_unavailable, fmt::format("group {} failed to start: {}",
                                                                   g->name, describe(sup.error())));
      log::error(component, "{}", message_of(err));
      stop();
      return err;
    }
    {
      std::lock_guard<std::mutex> guard{d.mutex};
      d.running.push_back(impl::running_group{g, *sup});
      d.announce_groups();
    }
    caf::anon_send(d.watcher, *sup);
    log::info(component, "group {} started", g->name);
  }
  if (auto err = d.start_job_workers()) {
    log::error(component, "{}", message_of(err));
    stop();
    return err;
  }
  if (auto err = d.start_cron()) {
    log::error(component, "{}", message_of(err));
    stop();
    return err;
  }
  if (auto err = d.load_modules()) {
    log::error(component, "{}", message_of(err));
    stop();
    return err;
  }
  return {};
}

void host::stop() {
  auto& d = *impl_;
  // No more exchanges with other nodes while the groups stop.
  if (d.toggle_cluster)
    d.toggle_cluster->stop();
  // The loaded modules' groups started last: they stop first.
  if (auto* modules = d.modules())
    modules->stop();
  std::vector<impl::running_group> groups;
  {
    std::lock_guard<std::mutex> guard{d.mutex};
    d.stopping = true;
    groups.swap(d.running);
    d.reload_handlers.clear();
  }
  if (!groups.empty() || d.toggles_running.supervisor || d.jobs_running.supervisor
      || d.job_workers_running.supervisor || d.job_cron_running.supervisor
      || d.observer_running.supervisor) {
    caf::scoped_actor self{d.n.system()};
    // The cron ticker started last: it stops first.
    d.stop_group(self, d.job_cron_running, "the cron ticker");
    // The job workers started after the groups: they stop first, leaving the jobs they hold
    // executing (rescued when the node starts again).
    d.stop_group(self, d.job_workers_running, "the job workers");
    for (auto i = groups.rbegin(); i != groups.rend(); ++i)
      d.stop_group(self, *i);
    d.stop_group(self, d.jobs_running, "the built-in jobs group");
    if (d.job_runtime)
      d.job_runtime->drain();
    // The toggles group started first: it stops last. The board stays (host's lifetime).
    d.stop_group(self, d.toggles_running, "the built-in toggles group");
    // The observer group started before all: it stops after all.
    d.stop_group(self, d.observer_running, "the built-in observer group");
  }
  // Its thread reads the host (the tree, the toggles, the modules): stopped with the groups,
  // and a new one made by the next start().
  if (auto rt = d.observer()) {
    rt->stop();
    std::lock_guard<std::mutex> guard{d.mutex};
    d.observer_rt.reset();
  }
  std::unique_ptr<cluster::membership> leaving;
  {
    std::lock_guard<std::mutex> guard{d.mutex};
    leaving = std::move(d.membership);
  }
  if (leaving) {
    leaving->watch_lost({});
    // After the groups: their services' removals reach the other nodes first.
    leaving->leave();
    leaving.reset();
  }
  std::unique_ptr<code_server> loaded;
  {
    std::lock_guard<std::mutex> guard{d.mutex};
    loaded = std::move(d.loaded);
  }
  loaded.reset();
  if (d.watcher) {
    // Wait for the watcher, so that it never calls into a host that is gone.
    caf::scoped_actor self{d.n.system()};
    self->monitor(d.watcher);
    signal_exit(d.watcher, caf::exit_reason::user_shutdown, self.ptr());
    self->receive([](caf::down_msg&) {});
    d.watcher = nullptr;
  }
  std::lock_guard<std::mutex> guard{d.mutex};
  d.stopping = false;
}

int host::wait() {
  auto& d = *impl_;
  std::unique_lock<std::mutex> guard{d.mutex};
  d.changed.wait(guard, [&] { return d.stop_requested; });
  return d.failure_code;
}

caf::error host::reload(const system_config& next) {
  auto& d = *impl_;
  auto problems = check_system(next, d.catalogue);
  if (!problems.empty())
    return make_error(errc::bad_request, system_file_errors{std::move(problems)}.what());
  std::vector<std::pair<std::string, group_host::reload_handler>> handlers;
  {
    std::lock_guard<std::mutex> guard{d.mutex};
    for (const auto& r : d.running) {
      auto h = d.reload_handlers.find(r.config->name);
      if (r.supervisor && h != d.reload_handlers.end())
        handlers.emplace_back(h->first, h->second);
    }
  }
  std::vector<std::string> refused;
  for (auto& [name, handler] : handlers) {
    const auto* group = next.find_group(name);
    if (group == nullptr) {
      refused.push_back(fmt::format("group {} is running but not in {}: removing a group needs "
                                    "a restart",
                                    name, next.path));
      continue;
    }
    if (auto err = handler(*group))
      refused.push_back(message_of(err));
  }
  if (!refused.empty()) {
    auto err = make_error(errc::bad_request,
                          fmt::format("reload of {} refused, the running settings stay:\n{}",
                                      next.path, fmt::join(refused, "\n")));
    log::error(component, "{}", message_of(err));
    return err;
  }
  log::info(component, "reloaded {} ({} group(s) applied new settings)", next.path,
            handlers.size());
  return {};
}

caf::error host::reload_file() {
  return impl_->reload_file();
}

caf::error host::impl::reload_file() {
  if (config.path.empty())
    return make_error(errc::bad_request, "this system was not started from a file");
  try {
    auto next = load_system_file(config.path, catalogue);
    return owner->reload(next);
  } catch (const system_file_errors& e) {
    auto err = make_error(
      errc::bad_request,
      fmt::format("reload of {} refused, the running settings stay:\n{}", config.path, e.what()));
    log::error(component, "{}", message_of(err));
    return err;
  }
}

std::vector<unready_group> host::unready_groups() const {
  return impl_->unready_groups();
}

bool host::ready() const {
  return impl_->unready_groups().empty();
}

void host::request_stop() {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl_->stop_requested = true;
  impl_->changed.notify_all();
}

namespace {

// Names the node on every entry of `tree` (its actors all run on this node).
void stamp_node(tree_snapshot& tree, const std::string& node_name) {
  tree.node = node_name;
  for (auto& c : tree.children)
    stamp_node(c, node_name);
}

} // namespace

tree_snapshot host::snapshot(std::chrono::milliseconds timeout) const {
  tree_snapshot root;
  root.id = impl_->config.name;
  root.kind = "system";
  root.state = "running";
  std::vector<impl::running_group> groups;
  {
    std::lock_guard<std::mutex> guard{impl_->mutex};
    groups = impl_->builtin_groups(true);
    groups.insert(groups.end(), impl_->running.begin(), impl_->running.end());
    auto after = impl_->builtin_groups(false);
    groups.insert(groups.end(), after.begin(), after.end());
  }
  for (const auto& g : groups) {
    if (!g.supervisor) {
      tree_snapshot gone;
      gone.id = g.config->name;
      gone.kind = "supervisor";
      gone.state = "stopped";
      gone.last_exit_reason = g.last_exit_reason;
      gone.last_exit_unix_ms = g.last_exit_unix_ms;
      root.children.push_back(std::move(gone));
      continue;
    }
    auto tree = snapshot_of(impl_->n.system(), g.supervisor, timeout);
    if (tree) {
      root.children.push_back(std::move(*tree));
    } else {
      tree_snapshot unknown;
      unknown.id = g.config->name;
      unknown.kind = "supervisor";
      unknown.state = "unresponsive: " + describe(tree.error());
      root.children.push_back(std::move(unknown));
    }
  }
  if (!impl_->placement.empty())
    stamp_node(root, impl_->placement);
  return root;
}

std::vector<std::string> host::running_groups() const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  std::vector<std::string> out;
  for (const auto& g : impl_->running)
    if (g.supervisor)
      out.push_back(g.config->name);
  return out;
}

std::uint16_t host::http_port(const std::string& group) const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto i = impl_->http_ports.find(group);
  return i == impl_->http_ports.end() ? 0 : i->second;
}

caf::actor host::group_supervisor(const std::string& name) const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  for (const auto& g : impl_->running)
    if (g.config->name == name)
      return g.supervisor;
  for (bool first : {true, false})
    for (const auto& g : impl_->builtin_groups(first))
      if (g.config->name == name)
        return g.supervisor;
  return {};
}

} // namespace microlith
