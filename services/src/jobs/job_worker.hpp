// A worker of one job queue (docs/jobs.md, "The runner"): a supervised actor that claims one
// due job at a time, calls the queue's method with the job's message (rebuilt from the stored
// type name and bytes) and `job_id` / `attempt` in the call's metadata, under the attempt's
// timeout as the call's deadline, then answers the store:
// - the call succeeded: complete;
// - the handler crashed (it threw, answered as remote_error "S.M threw: ..." before its instance
//   dies, or service_down: the instance died with the call in flight, seen by the call's
//   monitor): rescue, so the job is due again at once, with attempt + 1 at its next claim;
// - any other error: fail, retried after backoff_delay (jobs_config.hpp) or discarded after its
//   last attempt, every error kept.
// Every answer names the epoch of the claim, so a stale one is refused. It claims only while the
// queue's service has an instance (none while it restarts after a crash). When idle it waits for
// the store's poll interval (or until the queue's next scheduled job, if sooner) or until woken
// by an enqueue on this node (job_runtime::wake). A worker that crashes with a job in hand
// rescues that job as it exits; one stopped by its supervisor leaves it executing, for the
// rescue when the node starts again (or, in a cluster, by the other nodes: job_rescuer.hpp).
#pragma once

#include "microlith/supervision/child_spec.hpp"

#include <caf/atom.hpp>

#include <memory>
#include <string>

namespace microlith {

struct job_queue_config;

namespace detail {

class job_runtime;

/// Wakes an idle worker: a job may be due.
using job_wake_atom = caf::atom_constant<caf::atom("jobwake")>;

/// The child spec of worker number `index` (1..concurrency) of `queue`.
child_spec job_worker_child(std::shared_ptr<job_runtime> runtime, const job_queue_config& queue,
                            int index);

} // namespace detail

} // namespace microlith
