// What a node shares with its actors: the actor system, the registry, the topics and the call
// defaults.
#pragma once

#include "microlith/actors/registry.hpp"
#include "microlith/actors/topics.hpp"

#include <caf/fwd.hpp>

#include <chrono>
#include <string>

namespace microlith::detail {

struct node_core {
  caf::actor_system* system = nullptr;
  service_registry registry;
  topic_registry topics;
  std::string node_name;
  std::chrono::milliseconds default_timeout{5000};
};

} // namespace microlith::detail
