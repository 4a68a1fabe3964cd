// What a running gateway's sessions share: options, routes, the call path, counters, the topic
// hub, and the gate that keeps late completions (from actor threads) away from a gateway that
// is stopping. Members are declared so that the io_context is destroyed first: the sessions
// it still holds may use everything declared before it.
#pragma once

#include "microlith/net/gateway/gateway.hpp"

#include "gateway/topic_hub.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <memory>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace microlith::gateway {

/// Open while the gateway runs. Code running outside the I/O threads (call completions,
/// topic deliveries) holds it shared while it posts into the io_context; stopping takes it
/// exclusively and closes it, after which nothing more is posted.
struct post_gate {
  std::shared_mutex mutex;
  bool open = true;
};

struct gateway_server::state {
  node* host = nullptr;
  gateway_options options;
  std::shared_ptr<route_switch> routes;
  async_caller caller;
  readiness ready;
  std::shared_ptr<post_gate> gate = std::make_shared<post_gate>();

  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> websocket_sessions{0};
  std::atomic<std::uint64_t> websocket_dropped{0};
  std::atomic<std::size_t> open_connections{0};

  std::unique_ptr<topic_hub> hub;
  std::vector<std::thread> threads;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor{ioc};
  std::uint16_t port = 0;

  void do_accept();
};

} // namespace microlith::gateway
