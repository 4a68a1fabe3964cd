// The gateway as a supervised worker: its state starts a gateway_server when the worker
// starts and stops it when the worker stops, so a gateway crash or restart follows its group's
// supervision like any other child. The calls go from the I/O threads straight to the services
// (an async_caller named after the worker), not through the worker's actor. The route
// switch outlives restarts: a restarted gateway serves the table installed last.
#pragma once

#include "microlith/actors/service.hpp"
#include "microlith/net/gateway/gateway.hpp"

#include <functional>
#include <memory>
#include <string>

namespace microlith::gateway {

/// Called with the running server once it listens (e.g. to learn its port), and with nullptr
/// when it stops.
using server_observer = std::function<void(gateway_server*)>;

/// A worker called `name` that runs a gateway with `options` on `host_node`, serving the table
/// in `routes`. Failing to listen fails the worker's start.
service_definition gateway_worker(std::string name, node& host_node, gateway_options options,
                                  std::shared_ptr<route_switch> routes,
                                  gateway_server::readiness ready = {},
                                  server_observer observer = {});

} // namespace microlith::gateway
