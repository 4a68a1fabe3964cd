// What a job must have to be enqueued: one check for job_store::enqueue and
// enqueue_in_transaction (job_outbox.hpp), which write the same rows.
#pragma once

#include "microlith/actors/error.hpp"
#include "microlith/services/job_store.hpp"

#include <caf/error.hpp>

#include <fmt/format.h>

namespace microlith::detail {

/// An invalid_argument error naming what `job` lacks; none when it can be enqueued.
inline caf::error check_new_job(const new_job& job) {
  if (job.queue.empty())
    return make_error(errc::invalid_argument, "a job needs a queue");
  if (job.message_type.empty())
    return make_error(errc::invalid_argument, "a job needs its message's type name");
  if (job.max_attempts < 1)
    return make_error(errc::invalid_argument,
                      fmt::format("max attempts must be at least 1, got {}", job.max_attempts));
  if (!job.unique_key.empty() && job.unique_period_ms <= 0)
    return make_error(errc::invalid_argument,
                      fmt::format("unique key {:?} needs a period greater than 0", job.unique_key));
  return {};
}

} // namespace microlith::detail
