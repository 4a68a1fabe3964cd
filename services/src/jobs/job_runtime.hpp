// The jobs of one node (docs/jobs.md): the open job store, the system's queues, and the idle
// workers of each queue to wake when this node enqueues, and the group commit of its writes. Shared
// by the built-in `jobs` service and the worker actors (which hold it until they exit), owned by
// the host.
#pragma once

#include "jobs/job_batcher.hpp"
#include "microlith/services/job_store.hpp"
#include "microlith/services/jobs_config.hpp"

#include <caf/actor_addr.hpp>
#include <caf/atom.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace microlith {

class node;

namespace detail {

/// Tells the rescuer (job_rescuer.hpp) that a holder is lost: (node, instance, seen at in ms,
/// why).
using job_lost_atom = caf::atom_constant<caf::atom("joblost")>;

class job_runtime {
public:
  /// `queues`: every queue of the system file (an enqueue may name any of them); `poll`: how
  /// often an idle worker looks for due jobs.
  job_runtime(node& n, std::unique_ptr<job_store> store, std::vector<job_queue_config> queues,
              std::chrono::milliseconds poll);

  node& host_node() const noexcept { return node_; }
  job_store& store() const noexcept { return *store_; }

  /// The group commit of this node's enqueues and its workers' completions and claims.
  job_batcher& batcher() const noexcept { return *batcher_; }

  /// Waits until the batcher has run every write submitted so far and told its outcome. The host
  /// calls it once the jobs' actors have stopped, before it lets the runtime go: the last
  /// reference to a worker (and so, through it, to this runtime) is then never dropped on the
  /// batcher's own thread, which could not join itself.
  void drain() const { batcher_->drain(); }
  std::chrono::milliseconds poll_interval() const noexcept { return poll_; }

  /// The queue called `name`, or null.
  const job_queue_config* queue(const std::string& name) const;

  /// The names of every queue, in file order.
  std::vector<std::string> queue_names() const;

  /// A worker of `queue` is running (it is woken by wake()); remove_worker when it exits.
  void add_worker(const std::string& queue, const caf::actor_addr& worker);
  void remove_worker(const std::string& queue, const caf::actor_addr& worker);

  /// Tells idle workers of `queue` on this node that `jobs` jobs may be due (after an enqueue,
  /// a retry, a rescue), so that they claim at once rather than at their next poll: wakes up to
  /// that many of the workers that said they are idle (worker_idle), the longest idle first.
  /// A worker whose claim is on its way learns of it through wakes().
  void wake(const std::string& queue, std::size_t jobs = all_idle);
  static constexpr std::size_t all_idle = static_cast<std::size_t>(-1);

  /// How many times wake() has been called for `queue`: a worker reads it before it claims.
  std::uint64_t wakes(const std::string& queue) const;

  /// `worker` waits for jobs of `queue`: a wake() is for it. With `unless_woken_since` (what
  /// wakes() answered before its last claim), refused (false) when a wake came since, for the
  /// claim may have missed the job that wake was for: the worker should claim again.
  bool worker_idle(const std::string& queue, const caf::actor_addr& worker,
                   std::optional<std::uint64_t> unless_woken_since = std::nullopt);

  /// `worker` claims now (its poll came): no wake() is for it until worker_idle again.
  void worker_busy(const std::string& queue, const caf::actor_addr& worker);

  /// The rescuer of this node (job_rescuer.hpp) runs at `rescuer`; cleared when it exits.
  void set_rescuer(const caf::actor_addr& rescuer);
  void clear_rescuer(const caf::actor_addr& rescuer);

  /// The cluster lost `holder`'s node at `seen_at` (ms): has the rescuer rescue the attempts
  /// it claimed until then. Does not block (called on the cluster agent's thread).
  void holder_lost(const job_holder& holder, std::int64_t seen_at, const std::string& why) const;

private:
  node& node_;
  std::unique_ptr<job_store> store_;
  std::vector<job_queue_config> queues_;
  std::chrono::milliseconds poll_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<caf::actor_addr>> workers_; // requires mutex_
  struct idle_workers {
    std::deque<caf::actor_addr> waiting; // the longest idle first
    std::uint64_t wakes = 0;
  };
  std::map<std::string, idle_workers> idle_; // requires mutex_
  caf::actor_addr rescuer_;                  // requires mutex_
  // Last, so that it is destroyed first: it runs the writes still waiting, whose outcomes may
  // wake workers, while the store and the rest are still there.
  std::unique_ptr<job_batcher> batcher_;
};

} // namespace detail

} // namespace microlith
