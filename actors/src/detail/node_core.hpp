// What a node shares with its actors: the actor system, the registry, the topics and the call
// defaults.
#pragma once

#include "microlith/actors/registry.hpp"
#include "microlith/actors/topics.hpp"

#include "detail/call_metrics_table.hpp"
#include "detail/override_gate.hpp"
#include "detail/span_log.hpp"
#include "detail/toggle_holder.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace microlith::detail {

/// The services whose new instances, while a replace is starting them, wait for the state their
/// predecessors hand over (expected_handover in handover.hpp). Counted: two expectations of one
/// name end separately.
class handover_board {
public:
  void expect(const std::string& service) {
    std::lock_guard<std::mutex> guard{mutex_};
    ++expected_[service];
  }

  void forget(const std::string& service) {
    std::lock_guard<std::mutex> guard{mutex_};
    auto i = expected_.find(service);
    if (i != expected_.end() && --i->second <= 0)
      expected_.erase(i);
  }

  bool expects(const std::string& service) const {
    std::lock_guard<std::mutex> guard{mutex_};
    return expected_.count(service) > 0;
  }

private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, int> expected_;
};

struct node_core {
  caf::actor_system* system = nullptr;
  service_registry registry;
  topic_registry topics;
  std::string node_name;
  std::chrono::milliseconds default_timeout{5000};
  handover_board handovers;
  toggle_holder toggles;
  override_gate overrides;
  call_metrics_table metrics;
  span_log spans;
};

} // namespace microlith::detail
