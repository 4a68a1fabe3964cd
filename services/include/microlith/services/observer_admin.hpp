// The gateway's observer paths (docs/observer.md), behind the admin token like every admin
// operation:
//   GET  /_microlith/observer[?requests=N]                  the system view (SystemView as JSON)
//   POST /_microlith/observer/children/restart?node=N&child=GROUP/CHILD[/...]
//   POST /_microlith/observer/children/stop?node=N&child=GROUP/CHILD[/...]
//   GET  /admin/observer                                     the live page
//   WebSocket /admin/observer/feed                           the system view, once a second
// and GET /metrics (Prometheus' text format: this node, or with ?nodes=all every node), whose
// access the gateway's [http] metrics setting decides. The view is collected from every node's
// `observer` service (observer_service.hpp) at once; a node that does not answer within the
// collection's deadline is reported down with why.
#pragma once

#include "microlith/net/gateway/admin_operation.hpp"
#include "microlith/net/gateway/gateway.hpp"

#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace microlith {

class node;

namespace detail {
class observer_runtime;
}

/// The path prefix of the observer's admin operations.
inline constexpr std::string_view observer_admin_path = "/_microlith/observer";
/// The live page, and the WebSocket that feeds it.
inline constexpr std::string_view observer_page_path = "/admin/observer";
inline constexpr std::string_view observer_feed_path = "/admin/observer/feed";

/// The admin operation serving observer_admin_path on `host_node` (which, with `runtime`, must
/// outlive it).
gateway::admin_operation
observer_admin_operation(node& host_node, std::shared_ptr<detail::observer_runtime> runtime);

/// The live page (HTML with its script and style inline: no other asset, no CDN).
const std::string& observer_page();

/// What answers GET /metrics on `host_node` (which, with `runtime`, must outlive it): the query
/// `nodes=all` asks every node, none this node only; the body is Prometheus' text format, with a
/// comment line for each node that did not answer.
gateway::metrics_renderer
observer_metrics_renderer(node& host_node, std::shared_ptr<detail::observer_runtime> runtime);

} // namespace microlith
