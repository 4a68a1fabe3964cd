// The observer of one node (docs/observer.md): what the node reports of itself — its supervision
// tree, the calls its services served, its gateways' routes, its jobs, toggles and modules, its
// process — and the runtime operations an operator asks of it (restart or stop a child).
//
// Taking a report reads the tree from the supervisors (which may take a while) and asks the
// node's built-in services: it runs on the observer's own thread, never on a scheduler thread;
// the `observer` service hands its requests to that thread and answers through a promise. The
// same thread samples the counters once a second, so that rates and percentiles describe the
// last few seconds (the sampling window) whoever asks. Counters and histograms are read, never
// written, here: the services and gateways count their own work.
#pragma once

#include "proto/microlith_observer.pb.h"

#include "microlith/actors/duration_histogram.hpp"
#include "microlith/net/cluster/cluster.hpp"
#include "microlith/supervision/snapshot.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace microlith {

class node;
class toggle_board;
class code_server;
namespace gateway {
class http_metrics;
}
namespace observer {
class scheduler_sampler;
}

namespace detail {

struct counter_sample; // the counters at one instant (observer_counters.hpp)

/// What a node's observer reads besides its node: given by the host.
struct observer_sources {
  std::string system;                  ///< the system's name
  std::string node_name;               ///< the placement ("" = the whole system here)
  std::vector<std::string> peers;      ///< the file's other nodes
  std::function<tree_snapshot()> tree; ///< the node's supervision tree (blocking)
  std::function<caf::actor(const std::string&)> group_supervisor; ///< a running group's
  std::function<toggle_board*()> toggles;                         ///< null answer = no toggles
  std::function<code_server*()> modules;                          ///< null answer = no module store
  std::function<bool()> runs_jobs; ///< the node runs the `jobs` service
  /// The nodes joined now (membership::members()); unset on a system in one process.
  std::function<std::vector<cluster::member_info>()> members;
};

class observer_runtime {
public:
  /// How often the counters are sampled, and how many samples the window keeps.
  static constexpr std::chrono::milliseconds sample_interval{1000};
  static constexpr std::size_t window_samples = 10;

  observer_runtime(node& n, observer_sources sources);

  /// stop()s.
  ~observer_runtime();

  /// Stops the thread (tasks not run yet are dropped) and waits for it; later posts are dropped.
  /// Idempotent; not from the observer's own thread.
  void stop();

  observer_runtime(const observer_runtime&) = delete;
  observer_runtime& operator=(const observer_runtime&) = delete;

  /// How many tasks may wait for the thread; post() refuses more.
  static constexpr std::size_t max_waiting = 64;

  /// Runs `task` on the observer's thread (in order); false (and `task` dropped) when the
  /// thread is stopped or max_waiting tasks wait already. Safe from any thread.
  bool post(std::function<void()> task);

  /// The gateway of group `group` on this node counts its requests in `metrics` (a gateway
  /// registers when it starts; registering a group again replaces it).
  void add_gateway(const std::string& group, std::shared_ptr<gateway::http_metrics> metrics);

  /// How long a report is answered again to whoever asks next (a scraper, several pages).
  static constexpr std::chrono::milliseconds report_reuse{500};

  /// The node's report now (or the one taken less than report_reuse ago). Blocking: call on
  /// the observer's thread (post()).
  observer::v1::NodeReport report();

  /// Restarts or stops (`action`) the child named by `path` (its group, then the ids down to
  /// it), logged with `who`. Blocking: call on the observer's thread. An error names what is
  /// wrong with the request (invalid_argument, not_found, failed_precondition).
  caf::expected<std::string> child_action(const std::vector<std::string>& path,
                                          const std::string& action, const std::string& who);

  /// When this process started (ms since the Unix epoch).
  std::int64_t started_unix_ms() const noexcept { return started_unix_ms_; }

  /// A collection had a report from `node` at `unix_ms` (the page's "down since").
  void seen(const std::string& node, std::int64_t unix_ms);
  /// When a collection last had a report from `node` (0 = never).
  std::int64_t last_seen(const std::string& node) const;

  node& host_node() noexcept { return node_; }
  const observer_sources& sources() const noexcept { return sources_; }

private:
  void run();
  void take_sample();
  std::map<std::string, std::shared_ptr<gateway::http_metrics>> gateways() const;

  node& node_;
  observer_sources sources_;
  std::int64_t started_unix_ms_;

  mutable std::mutex mutex_; // guards tasks_, stop_, gateways_, last_seen_
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::map<std::string, std::shared_ptr<gateway::http_metrics>> gateways_;
  std::map<std::string, std::int64_t> last_seen_;

  // Touched only on the observer's thread.
  std::deque<std::shared_ptr<const counter_sample>> window_;
  std::unique_ptr<observer::scheduler_sampler> scheduler_;
  std::optional<observer::v1::NodeReport> last_report_;
  std::chrono::steady_clock::time_point last_report_at_;

  std::thread thread_;
};

/// A tree_snapshot as the observer's TreeEntry.
void to_entry(const tree_snapshot& tree, observer::v1::TreeEntry& out);

/// A histogram as the observer's Histogram (bounds in seconds, counts per bucket).
void to_proto(const duration_histogram& h, observer::v1::Histogram& out);

} // namespace detail
} // namespace microlith
