// The subject of the gateway benchmark (bench/gateway_bench.sh): a microlith node with
// 2 scheduler threads, a trivial service "echo" (contract bench.Http) and the HTTP gateway as a
// worker (gateway_worker), serving one route:
//
//   GET /echo/{text}  ->  echo.Echo      answers 200 {"text":"<text>"}
//
// GET, with the text in the path, so that a request carries no body, like the requests wrk sends
// to the floor (bench/http_floor.cpp); the answer to GET /echo/hello has the floor's body. Each
// request goes the gateway's whole way: Beast parse, request id, route match, binding of the
// path parameter into a bench::EchoRequest, a non-blocking call from the io thread straight to
// the service (the answer comes back through the gateway's inbox), the reply's JSON, the write. The
// gateway listens on 127.0.0.1 on a port the OS chooses; the program prints `port=<n>` on stdout
// and serves until SIGTERM or SIGINT, then shuts the node down, which stops the gateway worker (the
// newest actor) before the service.
//
//   gateway_target [--threads N]     N gateway io threads, default 1
//
// MICROLITH_BENCH_IDLE_SPIN_POLLS and MICROLITH_BENCH_IDLE_NAP_POLLS set the node's idle policy,
// as for the other benchmarks;
// MICROLITH_BENCH_SCHEDULER_THREADS its scheduler threads (default 2).
#include "idle_policy.hpp"
#include "proto/bench.pb.h"
#include "server_args.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/net/gateway/gateway.hpp"
#include "microlith/net/gateway/gateway_worker.hpp"
#include "microlith/net/gateway/route_table.hpp"

#include <google/protobuf/descriptor.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

/// Scheduler threads of the node.
constexpr int k_scheduler_threads = 2;

/// Answers at once with the request's text.
class echo_service {
public:
  microlith::reply<bench::EchoReply> echo(microlith::call_context&,
                                          const bench::EchoRequest& request) {
    bench::EchoReply reply;
    reply.set_text(request.text());
    return reply;
  }
};

/// The benchmark's route table, checked against the contracts of the node's services.
caf::expected<std::shared_ptr<const microlith::gateway::route_table>>
build_routes(microlith::node& n, const microlith::gateway::gateway_options& options) {
  std::vector<microlith::gateway::route_spec> specs{
    {"GET", "/echo/{text}", "echo", "Echo", "gateway_target"}};
  return microlith::gateway::route_table::build(
    std::move(specs), microlith::gateway::registered_contracts(n.registry()),
    microlith::gateway::reserved_paths(options.websocket_path, false));
}

} // namespace

int main(int argc, char** argv) {
  const int io_threads = bench::parse_threads(argc, argv, "gateway_target");

  // Blocked here, before any thread starts, so that every thread inherits the mask and the
  // signals wait for sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  microlith::node_options node_opts;
  node_opts.name = "gateway-bench";
  node_opts.threads = k_scheduler_threads;
  if (const char* text = std::getenv("MICROLITH_BENCH_SCHEDULER_THREADS"))
    node_opts.threads = std::atoi(text);
  bench::apply_idle_policy(node_opts);
  microlith::node n{node_opts};

  auto echo = n.spawn(
    microlith::service<echo_service>("echo", "bench.Http").handle("Echo", &echo_service::echo));
  if (!echo) {
    std::cerr << "gateway_target: echo failed to start: " << microlith::describe(echo.error())
              << '\n';
    return 1;
  }

  microlith::gateway::gateway_options options;
  options.host = "127.0.0.1";
  options.port = 0;
  options.io_threads = io_threads;
  auto table = build_routes(n, options);
  if (!table) {
    std::cerr << "gateway_target: routes: " << microlith::message_of(table.error()) << '\n';
    return 1;
  }
  auto routes = std::make_shared<microlith::gateway::route_switch>();
  routes->install(std::move(*table));

  // The observer runs in the worker's actor while its state is built, before spawn answers.
  auto port = std::make_shared<std::atomic<std::uint16_t>>(0);
  auto gateway = n.spawn(microlith::gateway::gateway_worker(
    "http", n, options, routes, {}, [port](microlith::gateway::gateway_server* server) {
      if (server != nullptr)
        port->store(server->port());
    }));
  if (!gateway) {
    std::cerr << "gateway_target: the gateway failed to start: "
              << microlith::describe(gateway.error()) << '\n';
    return 1;
  }
  std::cout << "port=" << port->load() << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  n.shutdown();
  return 0;
}
