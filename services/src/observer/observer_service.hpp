// The built-in `observer` service (contract microlith.observer.v1.Observer,
// services/proto/microlith_observer.proto): this node's report, the spans of its traced
// requests, and the restart or stop of a child. Every node runs one, as "observer" and, in a
// cluster, as "observer@NODE" too, so that the node serving the admin paths reaches each node's
// own. The work runs on the observer's thread (observer_runtime.hpp); a handler answers through
// a promise and never blocks a scheduler thread.
#pragma once

#include "microlith/actors/service_definition.hpp"

#include <memory>
#include <string>

namespace microlith::detail {

class observer_runtime;

/// The name of node `node`'s observer service: "observer@NODE" ("observer" for "").
std::string observer_service_name(const std::string& node);

/// The observer service of `runtime`, registered as `name`.
service_definition observer_service(std::shared_ptr<observer_runtime> runtime, std::string name);

} // namespace microlith::detail
