// The gateway's admin operations on a node's background jobs (docs/admin.md, "Jobs";
// docs/jobs.md), behind the admin token like every admin operation:
//   GET  /_microlith/jobs                                   counts by queue and state
//   GET  /_microlith/jobs/list?queue=Q&state=S&limit=N      jobs, newest first, with their errors
//   POST /_microlith/jobs/ID/retry                          a finished job due again at once
//   POST /_microlith/jobs/ID/cancel                         a waiting or executing job cancelled
//   POST /_microlith/jobs/enqueue?queue=Q&type=T[&unique_key=K&unique_period_ms=N&delay_ms=N]
//        with the job's message as JSON (type T, the queue's request type) in the body
// Each is a call to the node's `jobs` service, whose answer is the JSON of its Protobuf reply
// (field names as in services/proto/microlith_jobs.proto); a refusal answers the gateway's error
// body with the status of its kind.
#pragma once

#include "microlith/net/gateway/admin_operation.hpp"

#include <string_view>

namespace microlith {

class node;

/// The path prefix of the jobs' admin operations.
inline constexpr std::string_view jobs_admin_path = "/_microlith/jobs";

/// The admin operation serving jobs_admin_path on `host_node` (which must outlive it).
gateway::admin_operation jobs_admin_operation(node& host_node);

} // namespace microlith
