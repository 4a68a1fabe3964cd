// Enqueueing background jobs from C++ code outside a handler (main(), a test, a thread of one's
// own): the blocking form of call_context::enqueue (docs/jobs.md). Both call the built-in `jobs`
// service's Enqueue and answer once the job's row is committed.
#pragma once

#include "microlith/actors/job_options.hpp"

#include <caf/expected.hpp>

#include <string>

namespace google::protobuf {
class Message;
} // namespace google::protobuf

namespace microlith {

class node;

/// Enqueues `message` on `queue` through `n`'s `jobs` service and waits until the job is
/// committed (never past options.enqueue_timeout, or the node's default call timeout). Blocks
/// the calling thread: never call it from an actor (handlers use ctx.enqueue).
caf::expected<enqueued_job> enqueue_job(node& n, const std::string& queue,
                                        const google::protobuf::Message& message,
                                        const job_options& options = {});

} // namespace microlith
