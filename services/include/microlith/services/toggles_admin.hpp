// The gateway's admin operations on a node's feature toggles (docs/admin.md, "Toggles";
// docs/toggles.md), behind the admin token like every admin operation:
//   GET  /_microlith/toggles                        every toggle, and the groups
//   GET  /_microlith/toggles/NAME                   one toggle
//   POST
//   /_microlith/toggles/NAME?boolean=on|off&actors=a,b&groups=g&percent_actors=N&percent_time=N GET
//   /_microlith/toggles/_history?name=NAME&limit=N POST /_microlith/toggles/_groups/GROUP?keys=a,b
//   (no keys: removes the group)
// Each is a call to the node's `toggles` service, whose answer is the JSON of its Protobuf
// reply (field names as in services/proto/microlith_toggles.proto); a refusal answers the
// gateway's error body with the status of its kind. Changes are recorded as made by "admin".
#pragma once

#include "microlith/net/gateway/admin_operation.hpp"

#include <string_view>

namespace microlith {

class node;

/// The path prefix of the toggles' admin operations.
inline constexpr std::string_view toggles_admin_path = "/_microlith/toggles";

/// The admin operation serving toggles_admin_path on `host_node` (which must outlive it).
gateway::admin_operation toggles_admin_operation(node& host_node);

} // namespace microlith
