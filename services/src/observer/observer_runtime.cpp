#include "observer/observer_runtime.hpp"

#include "observer/observer_counters.hpp"
#include "observer/process_stats.hpp"
#include "toggles/toggle_board.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/thread_name.hpp"
#include "microlith/services/code_server.hpp"
#include "microlith/supervision/child_operations.hpp"
#include "proto/microlith_jobs.pb.h"

#include <fmt/format.h>

#include <algorithm>

namespace microlith::detail {

namespace {

constexpr const char* component = "observer";

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// A toggle's gates as one short text: "on", "off", "25% of actors", plus its actor and group
// gates when it has any.
std::string gates_text(const toggles::v1::Toggle& t) {
  const auto& g = t.gates();
  std::vector<std::string> parts;
  parts.push_back(g.boolean() ? "on" : "off");
  if (g.percent_actors() > 0)
    parts.push_back(fmt::format("{}% of actors", g.percent_actors()));
  if (g.percent_time() > 0)
    parts.push_back(fmt::format("{}% of the time", g.percent_time()));
  for (const auto& [key, on] : g.actors())
    parts.push_back(fmt::format("actor {} {}", key, on ? "on" : "off"));
  for (const auto& [group, on] : g.groups())
    parts.push_back(fmt::format("group {} {}", group, on ? "on" : "off"));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// `text` with its control characters as \xNN, for a log line (a child's path comes from a
// request's query).
std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

} // namespace

void to_entry(const tree_snapshot& tree, observer::v1::TreeEntry& out) {
  out.set_id(tree.id);
  out.set_kind(tree.kind);
  out.set_state(tree.state);
  out.set_restarts(tree.restarts);
  out.set_actor(tree.actor);
  out.set_node(tree.node);
  out.set_mailbox(tree.mailbox);
  for (const auto& s : tree.services)
    out.add_services(s);
  out.set_last_exit_reason(tree.last_exit_reason);
  out.set_last_exit_unix_ms(tree.last_exit_unix_ms);
  for (const auto& child : tree.children)
    to_entry(child, *out.add_children());
}

void to_proto(const duration_histogram& h, observer::v1::Histogram& out) {
  for (auto bound : duration_bounds_seconds)
    out.add_bounds(bound);
  for (auto count : h.counts)
    out.add_counts(count);
  out.set_sum_seconds(h.sum_seconds);
  out.set_count(h.count);
}

observer_runtime::observer_runtime(node& n, observer_sources sources)
  : node_(n), sources_(std::move(sources)), started_unix_ms_(unix_ms_now()) {
  // The process's start (the node may be made a while after it), when /proc tells it.
  if (auto started = observer::process_start_unix_seconds(); started > 0)
    started_unix_ms_ = static_cast<std::int64_t>(started * 1000);
  thread_ = std::thread([this] {
    name_this_thread("ml.observer");
    run();
  });
}

observer_runtime::~observer_runtime() {
  stop();
}

void observer_runtime::stop() {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    stop_ = true;
    tasks_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

bool observer_runtime::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> guard{mutex_};
    if (stop_ || tasks_.size() >= max_waiting)
      return false;
    tasks_.push_back(std::move(task));
  }
  wake_.notify_one();
  return true;
}

void observer_runtime::add_gateway(const std::string& group,
                                   std::shared_ptr<gateway::http_metrics> metrics) {
  std::lock_guard<std::mutex> guard{mutex_};
  gateways_[group] = std::move(metrics);
}

std::map<std::string, std::shared_ptr<gateway::http_metrics>> observer_runtime::gateways() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return gateways_;
}

void observer_runtime::seen(const std::string& node, std::int64_t unix_ms) {
  std::lock_guard<std::mutex> guard{mutex_};
  last_seen_[node] = unix_ms;
}

std::int64_t observer_runtime::last_seen(const std::string& node) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = last_seen_.find(node);
  return i == last_seen_.end() ? 0 : i->second;
}

void observer_runtime::run() {
  // Asks the middleman which thread is its own (up to 1 s): on this thread, not the host's.
  scheduler_ = std::make_unique<observer::scheduler_sampler>(node_.system());
  auto next_sample = std::chrono::steady_clock::now();
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock{mutex_};
      wake_.wait_until(lock, next_sample, [this] { return stop_ || !tasks_.empty(); });
      if (stop_)
        return;
      if (!tasks_.empty()) {
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
    }
    if (task) {
      try {
        task();
      } catch (const std::exception& e) {
        log::error(component, "an observer task failed: {}", e.what());
      }
    }
    if (std::chrono::steady_clock::now() >= next_sample) {
      take_sample();
      next_sample = std::chrono::steady_clock::now() + sample_interval;
    }
  }
}

void observer_runtime::take_sample() {
  scheduler_->sample();
  auto s = std::make_shared<const counter_sample>(read_counters(node_, gateways()));
  window_.push_back(std::move(s));
  while (window_.size() > window_samples + 1)
    window_.pop_front();
}

observer::v1::NodeReport observer_runtime::report() {
  auto began = std::chrono::steady_clock::now();
  if (last_report_ && began - last_report_at_ < report_reuse)
    return *last_report_;
  observer::v1::NodeReport out;
  out.set_node(sources_.node_name);
  out.set_system(sources_.system);
  out.set_started_unix_ms(started_unix_ms_);
  out.set_taken_unix_ms(unix_ms_now());
  if (sources_.tree)
    to_entry(sources_.tree(), *out.mutable_tree());
  auto now = read_counters(node_, gateways());
  const counter_sample* base = window_.empty() ? nullptr : window_.front().get();
  fill_counters(now, base, out);
  out.set_cpu_seconds(observer::process_cpu_seconds());
  out.set_resident_bytes(observer::resident_bytes());
  // The scheduler's own count: the threads found by name (what the utilisation is measured on)
  // are fewer until every worker has started and named itself.
  out.set_scheduler_threads(static_cast<std::uint32_t>(node_.system().scheduler().num_workers()));
  out.set_scheduler_utilisation(scheduler_->utilisation());
  if (sources_.members) {
    auto joined = sources_.members();
    for (const auto& peer : sources_.peers) {
      auto* link = out.add_links();
      link->set_node(peer);
      auto m = std::find_if(joined.begin(), joined.end(),
                            [&](const cluster::member_info& x) { return x.name == peer; });
      if (m == joined.end())
        continue;
      link->set_joined(true);
      link->set_joined_unix_ms(m->joined_unix_ms);
      link->set_round_trip_seconds(std::chrono::duration<double>(m->round_trip).count());
    }
  }
  if (sources_.runs_jobs && sources_.runs_jobs()) {
    blocking_call_options options;
    options.timeout = std::chrono::seconds(2);
    options.caller = "observer";
    auto stats = node_.call<jobs::v1::JobStats>("jobs", "Stats", jobs::v1::StatsRequest{}, options);
    if (stats) {
      for (const auto& q : stats->queues()) {
        auto* counts = out.add_queues();
        counts->set_queue(q.queue());
        for (const auto& [state, n] : q.states()) {
          auto* c = counts->add_states();
          c->set_name(state);
          c->set_value(static_cast<std::uint64_t>(n));
        }
        std::sort(counts->mutable_states()->begin(), counts->mutable_states()->end(),
                  [](const auto& a, const auto& b) { return a.name() < b.name(); });
      }
    } else {
      log::debug(component, "jobs' counts not read: {}", describe(stats.error()));
    }
  }
  if (auto* board = sources_.toggles ? sources_.toggles() : nullptr) {
    auto list = board->list();
    for (const auto& t : list.toggles()) {
      auto* v = out.add_toggles();
      v->set_name(t.name());
      v->set_value(gates_text(t));
    }
  }
  if (auto* modules = sources_.modules ? sources_.modules() : nullptr) {
    for (const auto& m : modules->list()) {
      auto* v = out.add_modules();
      v->set_name(m.installed.name);
      v->set_version(m.installed.version);
      v->set_active(m.installed.active);
    }
  }
  out.set_build_seconds(
    std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  last_report_ = out;
  last_report_at_ = began;
  return out;
}

caf::expected<std::string> observer_runtime::child_action(const std::vector<std::string>& path,
                                                          const std::string& action,
                                                          const std::string& who) {
  last_report_.reset(); // the next report shows what the action did
  if (action != "restart" && action != "stop")
    return make_error(errc::invalid_argument,
                      fmt::format("action \"{}\": expected restart or stop", action));
  if (path.size() < 2
      || std::any_of(path.begin(), path.end(), [](const std::string& p) { return p.empty(); }))
    return make_error(errc::invalid_argument,
                      fmt::format("child \"{}\": expected GROUP/CHILD[/CHILD...], a child of a "
                                  "group's supervisor (a group itself is restarted with its node)",
                                  fmt::join(path, "/")));
  if (path[0] == "observer")
    return make_error(errc::failed_precondition,
                      fmt::format("child \"{}\": the observer's own group is not restarted or "
                                  "stopped through the observer (its service answers this "
                                  "action); restart the node instead",
                                  printable(fmt::format("{}", fmt::join(path, "/")))));
  auto& sys = node_.system();
  caf::actor sup = sources_.group_supervisor ? sources_.group_supervisor(path[0]) : caf::actor{};
  if (!sup)
    return make_error(errc::not_found, fmt::format("group {} does not run on this node", path[0]));
  auto name = printable(fmt::format("{}", fmt::join(path, "/")));
  // Down the nested supervisors to the child's parent. A child whose id holds '/' (a job
  // worker's "jobs/QUEUE/N") is named by the rest of the path.
  std::string id;
  for (std::size_t i = 1;; ++i) {
    auto children = which_children(sys, sup);
    if (!children)
      return make_error(
        errc::service_unavailable,
        fmt::format("{} did not answer: {}",
                    printable(fmt::format("{}", fmt::join(path.begin(), path.begin() + i, "/"))),
                    describe(children.error())));
    auto rest = fmt::format("{}", fmt::join(path.begin() + i, path.end(), "/"));
    if (std::any_of(children->begin(), children->end(),
                    [&](const child_info& ci) { return ci.id == rest; })) {
      id = rest;
      break;
    }
    if (i + 1 == path.size())
      return make_error(errc::not_found, fmt::format("{} is not a child of its supervisor", name));
    auto c = std::find_if(children->begin(), children->end(),
                          [&](const child_info& ci) { return ci.id == path[i]; });
    if (c == children->end())
      return make_error(
        errc::not_found,
        printable(fmt::format("{} has no child {}", fmt::join(path.begin(), path.begin() + i, "/"),
                              path[i])));
    if (c->kind != child_kind::supervisor || !c->actor)
      return make_error(errc::failed_precondition,
                        printable(fmt::format("{} is not a running supervisor",
                                              fmt::join(path.begin(), path.begin() + i + 1, "/"))));
    sup = c->actor;
  }
  log::warn(component, "{} of {} requested by {}", action, name, printable(who));
  if (auto err = terminate_child(sys, sup, id)) {
    // A dynamic supervisor's children are stopped by handle.
    auto children = which_children(sys, sup);
    auto c = children ? std::find_if(children->begin(), children->end(),
                                     [&](const child_info& ci) { return ci.id == id; })
                      : std::vector<child_info>::iterator{};
    if (!children || c == children->end() || !c->actor)
      return make_error(errc::not_found, fmt::format("{}: {}", name, describe(err)));
    if (action == "restart")
      return make_error(errc::failed_precondition,
                        fmt::format("{} is a child of a dynamic supervisor, started with its "
                                    "arguments by code: stop it instead",
                                    name));
    if (auto e2 = terminate_child(sys, sup, c->actor))
      return make_error(errc::internal, fmt::format("{}: {}", name, describe(e2)));
    return fmt::format("{} stopped", name);
  }
  if (action == "stop")
    return fmt::format("{} stopped (it stays stopped until restarted)", name);
  auto started = restart_child(sys, sup, id);
  if (!started)
    return make_error(errc::internal, fmt::format("{} stopped but did not start again: {}", name,
                                                  describe(started.error())));
  return fmt::format("{} restarted", name);
}

} // namespace microlith::detail
