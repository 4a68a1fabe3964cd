// The contracts the gateway's fuzz targets route to, as a running gateway finds them: a registry
// where "binder" (microlith.test.gateway.Binder, test/proto/gateway_test.proto: a request with a
// field of every scalar kind) and "echo" (microlith.test.Echo) recorded their contracts.
#pragma once

#include "proto/gateway_test.pb.h"
#include "proto/test.pb.h"

#include <microlith/actors/registry.hpp>
#include <microlith/net/gateway/gateway.hpp>
#include <microlith/net/gateway/route_table.hpp>

#include <string>
#include <vector>

namespace microlith::fuzz {

/// The lookup of "binder" and "echo"'s contracts.
inline gateway::contract_lookup fuzz_contracts() {
  static const auto* registry = [] {
    auto* r = new service_registry;
    r->record_contract("binder", "microlith.test.gateway.Binder");
    r->record_contract("echo", "microlith.test.Echo");
    return r;
  }();
  return gateway::registered_contracts(*registry);
}

/// The paths a gateway with a WebSocket endpoint, the admin reload, an admin prefix and
/// /metrics serves itself.
inline const std::vector<std::string>& fuzz_reserved_paths() {
  static const auto paths =
    gateway::reserved_paths("/ws", true, {"/_microlith/modules"}, {"/metrics"});
  return paths;
}

} // namespace microlith::fuzz
