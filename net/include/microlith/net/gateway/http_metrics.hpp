// Per-route HTTP metrics: what the gateway's I/O threads count for every request they answer,
// and a snapshot of it for the observer (services/proto/microlith_observer.proto, RouteStats)
// and Prometheus.
//
// What is counted, per route:
// - a request that a route of the table matched (its verb and path) counts under that route, as
//   declared ("POST /accounts/{account_id}/deposit", target "accounts.Deposit"), whatever
//   answered it: the service, a binding error (400), a timeout (504);
// - every other request answered with a status counts under the route "" (target ""): no route
//   (404), a path routed for other verbs (405), and what the gateway refused before routing (a
//   bad Host or X-Request-Id, 413, 431, a malformed request, 503 over max_connections);
// - the gateway's own paths are not counted: /healthz, /readyz, /metrics, the admin reload and
//   admin operations, admin feeds and WebSocket upgrades (a session is not a request).
//
// Per route: the responses by HTTP status, and the durations from the request's first byte to
// its response written (or its write failing) in the shared buckets of duration_histogram.hpp.
//
// Counts are kept by route and target: a reload that keeps a route's template and target keeps
// its counts; a route that is gone keeps its last counts in snapshots. The hot path takes no lock:
// a table's counters are resolved once per route table (by route_table::id) and a request adds
// to atomic counters of its route.
#pragma once

#include "microlith/actors/duration_histogram.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace microlith::gateway {

class route_table;
struct route;

/// One route's counts, as read.
struct route_metrics {
  std::string route;  ///< "POST /accounts/{account_id}/deposit"; "" for requests of no route
  std::string target; ///< "accounts.Deposit"; "" for requests of no route
  /// (status, responses), by status; only statuses that were answered.
  std::vector<std::pair<unsigned, std::uint64_t>> statuses;
  duration_histogram durations; ///< first byte read -> response written
};

/// The table the gateway's I/O threads write (thread-safe; see above).
class http_metrics {
public:
  /// One route's counters. Lives as long as the http_metrics.
  class counters {
  public:
    counters(std::string route, std::string target);

    /// Counts one answered request (any thread, no lock). A status outside 100..599, or beyond
    /// the 32 distinct statuses a route can hold, counts under status 0.
    void record(unsigned status, std::chrono::nanoseconds took) noexcept;

    /// What it counted so far.
    route_metrics read() const;

  private:
    struct slot {
      std::atomic<unsigned> status{0}; // 0: free
      std::atomic<std::uint64_t> count{0};
    };

    std::string route_;
    std::string target_;
    std::array<slot, 32> statuses_;
    std::atomic<std::uint64_t> other_{0}; // no slot left, or not an HTTP status
    duration_recorder durations_;
  };

  http_metrics();
  ~http_metrics();
  http_metrics(const http_metrics&) = delete;
  http_metrics& operator=(const http_metrics&) = delete;

  /// The counters of `r`, a route of `table` (no lock once the table is resolved: the first
  /// request on a new table resolves all of its routes).
  counters& of(const route_table& table, const route& r);

  /// The counters of requests that matched no route.
  counters& unrouted() noexcept { return *unrouted_; }

  /// Every route's counts now, sorted by route then target; the route "" first.
  std::vector<route_metrics> snapshot() const;

private:
  struct resolved {
    std::uint64_t table_id = 0;
    std::vector<counters*> by_index; // the table's routes, in its order
  };

  const resolved* resolve(const route_table& table);

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<counters>> by_route_; // mutex_
  // Every table resolved so far, by id; never shrinks, so that a resolution read without the
  // lock stays valid (a table costs a pointer per route).
  std::map<std::uint64_t, std::unique_ptr<resolved>> tables_; // requires mutex_
  std::atomic<const resolved*> last_{nullptr};                // the last table resolved
  counters* unrouted_ = nullptr;
};

} // namespace microlith::gateway
