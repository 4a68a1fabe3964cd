// The counters an observer reads at each sample, and how a report turns two readings into
// totals, rates and recent percentiles (observer_runtime.hpp).
#pragma once

#include "proto/microlith_observer.pb.h"

#include "microlith/actors/call_metrics.hpp"
#include "microlith/actors/duration_histogram.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace microlith {

class node;
namespace gateway {
class http_metrics;
}

namespace detail {

/// One reading of the node's counters.
struct counter_sample {
  std::chrono::steady_clock::time_point at;
  /// The calls the node's services served (node::call_metrics).
  std::vector<method_metrics> methods;
  /// The requests each gateway group of the node answered, by route.
  struct route {
    std::string group;
    std::string route;
    std::string target;
    std::vector<std::pair<std::string, std::uint64_t>> statuses;
    duration_histogram duration;
  };
  std::vector<route> routes;
};

/// Reads the counters now.
counter_sample
read_counters(node& n,
              const std::map<std::string, std::shared_ptr<gateway::http_metrics>>& gateways);

/// Fills `out`'s methods and routes from the reading `now`: totals as read, rates and percentiles
/// over what was counted since `base` (an earlier reading of the window; null = none yet: rates
/// 0).
void fill_counters(const counter_sample& now, const counter_sample* base,
                   observer::v1::NodeReport& out);

} // namespace detail
} // namespace microlith
