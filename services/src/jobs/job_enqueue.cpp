// The request and reply of `jobs.Enqueue` for call_context::enqueue (job_options.hpp), and its
// blocking form enqueue_job (jobs_client.hpp).
#include "microlith/services/jobs_client.hpp"

#include "microlith/actors/detail/message_cast.hpp"
#include "microlith/actors/node.hpp"
#include "proto/microlith_jobs.pb.h"

#include <memory>

namespace microlith {

namespace detail {

message_ptr make_enqueue_request(const std::string& queue, const google::protobuf::Message& message,
                                 const job_options& options) {
  auto req = std::make_shared<jobs::v1::EnqueueRequest>();
  req->set_queue(queue);
  req->set_message_type(message.GetDescriptor()->full_name());
  message.SerializeToString(req->mutable_message());
  if (options.run_at != std::chrono::system_clock::time_point{})
    req->set_run_at_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(options.run_at.time_since_epoch())
        .count());
  req->set_delay_ms(options.delay.count());
  req->set_priority(options.priority);
  req->set_max_attempts(options.max_attempts);
  req->set_unique_key(options.unique_key);
  req->set_unique_period_ms(options.unique_period.count());
  req->set_timeout_ms(options.timeout.count());
  return req;
}

caf::expected<enqueued_job> read_enqueue_reply(const message_ptr& body) {
  const auto* reply = message_cast<jobs::v1::EnqueueReply>(body);
  if (reply == nullptr)
    return wrong_reply_type(jobs::v1::EnqueueReply::descriptor(), body);
  return enqueued_job{reply->id(), reply->duplicate()};
}

} // namespace detail

caf::expected<enqueued_job> enqueue_job(node& n, const std::string& queue,
                                        const google::protobuf::Message& message,
                                        const job_options& options) {
  blocking_call_options call;
  call.timeout = options.enqueue_timeout;
  call.caller = "jobs client";
  auto body = n.call_shared("jobs", "Enqueue",
                            detail::make_enqueue_request(queue, message, options), std::move(call));
  if (!body)
    return std::move(body.error());
  return detail::read_enqueue_reply(*body);
}

} // namespace microlith
