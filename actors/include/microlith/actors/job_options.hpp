// Enqueueing durable background jobs from a handler (docs/jobs.md): the options of a job, what
// an enqueue answers, and the enqueue in flight that call_context::enqueue returns. An enqueue is
// a call to the built-in `jobs` service (services/proto/microlith_jobs.proto), answered once the
// job's row is committed; the request and the reply are made and read by the services library
// (services/src/jobs/job_enqueue.cpp), so code that enqueues links microlith_services, as every
// module does.
#pragma once

#include "microlith/actors/detail/endpoint_calls.hpp"
#include "microlith/actors/envelope.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

namespace microlith {

/// How a job is enqueued. Every field has a default: a job runs at once, priority 0, with its
/// queue's max_attempts and timeout, not unique.
struct job_options {
  /// When it may run first; the epoch (default) = at once, or after `delay`.
  std::chrono::system_clock::time_point run_at{};
  /// Runs no sooner than this from now (ignored when run_at is set).
  std::chrono::milliseconds delay{0};
  /// Lower runs first among due jobs, 0 .. 9.
  int priority = 0;
  /// How many attempts at most; 0 = the queue's max_attempts (default 20).
  int max_attempts = 0;
  /// Empty = not unique. While an earlier job with the same key is inside its period, the
  /// enqueue adds nothing and answers the earlier job's id (duplicate = true).
  std::string unique_key;
  /// How long the key stays taken from this enqueue on (> 0 with a key).
  std::chrono::milliseconds unique_period{0};
  /// An attempt's deadline; zero = the queue's timeout.
  std::chrono::milliseconds timeout{0};
  /// How long the enqueue itself may take; zero = the node's default call timeout.
  std::chrono::milliseconds enqueue_timeout{0};
};

/// What an enqueue answers.
struct enqueued_job {
  std::int64_t id = 0;
  bool duplicate = false; ///< true: the unique key was taken; `id` is the existing job's
};

namespace detail {

/// The `jobs.Enqueue` request for `message` on `queue` (services/src/jobs/job_enqueue.cpp).
message_ptr make_enqueue_request(const std::string& queue, const google::protobuf::Message& message,
                                 const job_options& options);

/// The answer of a `jobs.Enqueue` call.
caf::expected<enqueued_job> read_enqueue_reply(const message_ptr& body);

} // namespace detail

/// An enqueue in flight from an actor (call_context::enqueue); `then` says what happens when
/// the job is committed, or refused.
class [[nodiscard]] pending_job {
public:
  pending_job(detail::endpoint_actor* self, std::uint64_t id) : self_(self), id_(id) {}

  /// Runs `on_enqueued(const enqueued_job&)` once the job is committed, or
  /// `on_error(const caf::error&)`, in the calling actor, later, exactly once.
  template <class OnEnqueued, class OnError>
  void then(OnEnqueued on_enqueued, OnError on_error) && {
    detail::set_continuation(self_, id_,
                             [on_enqueued = std::move(on_enqueued), on_error = std::move(on_error)](
                               const message_ptr& body, const caf::error& err) mutable {
                               if (err) {
                                 on_error(err);
                                 return;
                               }
                               auto job = detail::read_enqueue_reply(body);
                               if (job)
                                 on_enqueued(*job);
                               else
                                 on_error(job.error());
                             });
  }

private:
  detail::endpoint_actor* self_;
  std::uint64_t id_;
};

} // namespace microlith
