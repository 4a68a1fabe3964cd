// The service the call benchmarks call: "echo" (contract bench.Echo), answering Ping with the
// request's value. call_bench runs it in the driver's process, cluster_bench on the child node.
#pragma once

#include "proto/bench.pb.h"

#include <microlith/actors/service.hpp>

namespace bench {

/// The echo service "echo" (bench.Echo): answers Ping with the request's value.
class echo_service {
public:
  microlith::reply<bench::PingReply> ping(microlith::call_context&,
                                          const bench::PingRequest& request) {
    bench::PingReply out;
    out.set_value(request.value());
    return out;
  }
};

/// The echo service's definition, called "echo".
inline microlith::service_definition echo_definition() {
  return microlith::service<echo_service>("echo", "bench.Echo").handle("Ping", &echo_service::ping);
}

} // namespace bench
