#include "observer/observer_counters.hpp"

#include "observer/observer_runtime.hpp"

#include "microlith/actors/node.hpp"
#include "microlith/net/gateway/http_metrics.hpp"

#include <algorithm>
#include <tuple>

namespace microlith::detail {

namespace {

double seconds_between(std::chrono::steady_clock::time_point a,
                       std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

template <class T>
void add_counts(const std::vector<std::pair<std::string, std::uint64_t>>& counts, T* out) {
  for (const auto& [name, value] : counts) {
    auto* c = out->Add();
    c->set_name(name);
    c->set_value(value);
  }
}

} // namespace

counter_sample
read_counters(node& n,
              const std::map<std::string, std::shared_ptr<gateway::http_metrics>>& gateways) {
  counter_sample out;
  out.at = std::chrono::steady_clock::now();
  out.methods = n.call_metrics();
  for (const auto& [group, metrics] : gateways) {
    if (!metrics)
      continue;
    for (auto& r : metrics->snapshot()) {
      counter_sample::route route;
      route.group = group;
      route.route = std::move(r.route);
      route.target = std::move(r.target);
      for (const auto& [status, count] : r.statuses)
        route.statuses.emplace_back(std::to_string(status), count);
      route.duration = r.durations;
      out.routes.push_back(std::move(route));
    }
  }
  return out;
}

void fill_counters(const counter_sample& now, const counter_sample* base,
                   observer::v1::NodeReport& out) {
  const double window = base != nullptr ? seconds_between(base->at, now.at) : 0.0;
  for (const auto& m : now.methods) {
    auto* stats = out.add_methods();
    stats->set_service(m.service);
    stats->set_method(m.method);
    stats->set_calls(m.calls);
    add_counts(m.errors, stats->mutable_errors());
    to_proto(m.duration, *stats->mutable_duration());
    if (base == nullptr || window <= 0)
      continue;
    auto before = std::find_if(base->methods.begin(), base->methods.end(), [&](const auto& b) {
      return b.service == m.service && b.method == m.method;
    });
    auto recent = before != base->methods.end() ? m.duration - before->duration : m.duration;
    stats->set_calls_per_second(static_cast<double>(recent.count) / window);
    stats->set_p50_seconds(recent.quantile(0.5));
    stats->set_p99_seconds(recent.quantile(0.99));
  }
  for (const auto& r : now.routes) {
    auto* stats = out.add_routes();
    stats->set_group(r.group);
    stats->set_route(r.route);
    stats->set_target(r.target);
    add_counts(r.statuses, stats->mutable_statuses());
    to_proto(r.duration, *stats->mutable_duration());
    if (base == nullptr || window <= 0)
      continue;
    auto before = std::find_if(base->routes.begin(), base->routes.end(), [&](const auto& b) {
      return b.group == r.group && b.route == r.route && b.target == r.target;
    });
    auto recent = before != base->routes.end() ? r.duration - before->duration : r.duration;
    stats->set_requests_per_second(static_cast<double>(recent.count) / window);
    stats->set_p50_seconds(recent.quantile(0.5));
    stats->set_p99_seconds(recent.quantile(0.99));
  }
}

} // namespace microlith::detail
