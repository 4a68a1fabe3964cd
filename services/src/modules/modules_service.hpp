// The built-in `modules` service (contract microlith.modules.v1.Modules): install, list, activate
// and remove a node's modules by name, from any code. Each operation runs on the code server's
// thread; its outcome comes back to the service's actor through a topic of the node that only
// this instance subscribes to, and answers the caller's promise there.
#pragma once

#include "microlith/actors/service_definition.hpp"

namespace microlith {

class code_server;
class node;

namespace detail {

/// The `modules` service of `modules` on `host_node` (both must outlive every instance).
service_definition modules_service(code_server& modules, node& host_node);

} // namespace detail

} // namespace microlith
