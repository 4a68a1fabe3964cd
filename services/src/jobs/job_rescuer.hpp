// The rescuer of a node's jobs runner (docs/jobs.md, "Who rescues what"): a supervised actor of
// the built-in `jobs` group, on each node of a cluster that opens the job store. It makes the
// jobs held by a holder that cannot answer any more due again (job_store::rescue_holder), so a
// live node runs them with attempt + 1, and wakes this node's workers:
// - when the cluster loses a joined node (declared down, left, or replaced by a new process of
//   it; cluster::membership::watch_lost, through job_runtime::holder_lost) and that same process
//   has not joined again `rejoin` later: the attempts it claimed up to the loss. The wait is
//   for the side that was frozen: when it resumes, it finds its connections closed and sees
//   the others "down" too, while they were alive; they rejoin within the wait, so it rescues
//   nothing of theirs;
// - `unjoined` after it starts: the attempts of every holder that is neither this node's
//   process nor a joined node's (a node that has not come back, a file's jobs from before
//   holders were recorded); then every `unjoined` bound, those of a holder found not joined by
//   two sweeps in a row (a node whose loss was handled but that claimed more before it died, so
//   that its later claims are not left executing forever).
// A node that was frozen itself (SIGSTOP, a stalled virtual machine) sees the others "down" when
// it resumes, and its reconnections may take longer than `rejoin`. The rescuer notices the gap
// in its own 100 ms tick and then decides nothing for one `unjoined` bound (a whole reconnect
// cycle) from the resume: a loss is confirmed only after it, and the sweeps in it are skipped.
// Rescues are fenced by the epoch and idempotent, so every node sharing the file may rescue the
// same holder at once; a late answer of a rescued attempt is refused by the store.
#pragma once

#include "microlith/services/job_store.hpp"
#include "microlith/supervision/child_spec.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

namespace microlith::detail {

class job_runtime;

/// How long the rescuer waits (above).
struct job_rescue_bounds {
  std::chrono::milliseconds rejoin;   ///< after a loss, for the same process to join again
  std::chrono::milliseconds unjoined; ///< after the start, before the sweep
  /// A gap in the rescuer's own 100 ms tick longer than this is a freeze of this node.
  std::chrono::milliseconds frozen{1000};
};

/// The child spec of the rescuer; `members` answers the holders of the joined nodes now.
child_spec job_rescuer_child(std::shared_ptr<job_runtime> runtime,
                             std::function<std::vector<job_holder>()> members,
                             job_rescue_bounds bounds);

} // namespace microlith::detail
