// The built-in `jobs` service (contract microlith.jobs.v1.Jobs,
// services/proto/microlith_jobs.proto): enqueue a job (what call_context::enqueue and
// enqueue_job call), count the jobs by queue and state, list them with their errors, retry or
// cancel one by hand. Each operation is one statement or transaction of the job store, run in
// the handler.
#pragma once

#include "microlith/actors/service_definition.hpp"

#include <memory>

namespace microlith::detail {

class job_runtime;

/// The `jobs` service of `runtime`.
service_definition jobs_service(std::shared_ptr<job_runtime> runtime);

} // namespace microlith::detail
