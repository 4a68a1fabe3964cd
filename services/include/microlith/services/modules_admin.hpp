// The gateway's admin operations on a node's installed modules (docs/admin.md, "Modules"),
// behind the admin token like every admin operation:
//   POST   /_microlith/modules?route_prefix=P&activate=true&node=N   body: the .mlm archive
//   GET    /_microlith/modules
//   POST   /_microlith/modules/NAME/activate?version=V&node=N
//   DELETE /_microlith/modules/NAME
// `node` (optional) names the node of a cluster that runs the module's groups
// (code_server::install, code_server::activate). Each runs on the code server's own thread
// (code_server::post) and answers JSON; a refusal answers the gateway's error body with the
// status of its kind.
#pragma once

#include "microlith/net/gateway/admin_operation.hpp"

#include <string_view>

namespace microlith {

class code_server;

/// The path prefix of the modules' admin operations.
inline constexpr std::string_view modules_admin_path = "/_microlith/modules";

/// The admin operation serving modules_admin_path for `modules` (which must outlive it).
gateway::admin_operation modules_admin_operation(code_server& modules);

} // namespace microlith
