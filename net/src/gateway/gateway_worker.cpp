#include "microlith/net/gateway/gateway_worker.hpp"

#include "microlith/actors/error.hpp"

#include <functional>
#include <stdexcept>

namespace microlith::gateway {

namespace {

// The worker's state: the server lives exactly as long as the worker's actor.
class gateway_state {
public:
  gateway_state(call_context& ctx, node& host_node, const gateway_options& options,
                std::shared_ptr<route_switch> routes, gateway_server::readiness ready,
                server_observer observer)
    : observer_(std::move(observer)) {
    // Calls go from the I/O threads straight to the services, named after this worker.
    auto started = gateway_server::start(host_node, options, std::move(routes),
                                         async_caller{host_node, ctx.name()}, std::move(ready));
    if (!started)
      throw std::runtime_error(message_of(started.error()));
    server_ = std::move(*started);
    if (observer_)
      observer_(server_.get());
  }

  ~gateway_state() {
    if (observer_)
      observer_(nullptr);
  }

  gateway_state(const gateway_state&) = delete;
  gateway_state& operator=(const gateway_state&) = delete;

private:
  server_observer observer_;
  std::unique_ptr<gateway_server> server_;
};

} // namespace

service_definition gateway_worker(std::string name, node& host_node, gateway_options options,
                                  std::shared_ptr<route_switch> routes,
                                  gateway_server::readiness ready, server_observer observer) {
  return worker<gateway_state>(std::move(name), std::ref(host_node), std::move(options),
                               std::move(routes), std::move(ready), std::move(observer));
}

} // namespace microlith::gateway
