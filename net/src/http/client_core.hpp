// What an http_client shares with its requests in flight: the I/O context and its one thread,
// the TLS context, the connection pools, the options, the counters, and the requests in flight
// (failed with client_closed when the client closes).
#pragma once

#include "http/connection_pool.hpp"

#include "microlith/actors/envelope.hpp"
#include "microlith/net/http/http_client.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <thread>
#include <unordered_set>

namespace microlith::http::detail {

class http_exchange;

class client_core {
public:
  explicit client_core(http_client_options options);

  /// Starts the I/O thread.
  void start();

  /// Fails what is in flight, closes the connections and joins the I/O thread.
  void stop();

  /// Sends `request`, made at `started` and due by `deadline`; `done` runs once on the I/O
  /// thread.
  void submit(http_request request, clock::time_point started, clock::time_point deadline,
              std::function<void(http_outcome)> done);

  const http_client_options options;
  boost::asio::io_context io;
  boost::asio::ssl::context tls{boost::asio::ssl::context::tls_client};
  connection_pool pool;
  std::atomic<std::size_t> connections_opened{0};
  std::atomic<std::size_t> requests_completed{0};
  // I/O thread only:
  std::unordered_set<http_exchange*> in_flight;

private:
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<bool> closed_{false};
};

} // namespace microlith::http::detail
