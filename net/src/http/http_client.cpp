#include "microlith/net/http/http_client.hpp"

#include "http/client_core.hpp"

#include "microlith/actors/call_context.hpp"
#include "microlith/actors/detail/outside_calls.hpp"

#include <caf/event_based_actor.hpp>

#include <future>
#include <stdexcept>
#include <utility>

namespace microlith::http {

namespace {

/// How long after its own deadline the calling actor's table gives up on a request whose
/// outcome never came (the I/O thread always sends one; this only bounds a lost one).
constexpr std::chrono::seconds backstop{1};

/// When a request starts, and its deadline: its own timeout (else the default), never past
/// `parent`'s.
struct request_time {
  clock::time_point started;
  clock::time_point deadline;
};

request_time time_for(clock::time_point parent, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds default_timeout) {
  auto now = clock::now();
  if (parent != clock::time_point{} && timeout.count() <= 0)
    return {now, parent};
  auto own = now + (timeout.count() > 0 ? timeout : default_timeout);
  return {now, parent != clock::time_point{} && parent < own ? parent : own};
}

} // namespace

http_client::http_client(http_client_options options)
  : core_(std::make_shared<detail::client_core>(std::move(options))) {
  core_->start();
}

http_client::~http_client() {
  core_->stop();
}

pending_http http_client::request(const call_context& ctx, http_request request) {
  auto* self = microlith::detail::endpoint_of(ctx.self());
  if (self == nullptr)
    throw std::logic_error("http_client::request(ctx, ...) takes the context of a service or "
                           "worker; from a plain thread use async_request or request_blocking");
  auto time = time_for(ctx.meta().deadline, request.timeout, core_->options.default_timeout);
  auto box = std::make_shared<detail::response_box>();
  auto id = microlith::detail::expect_outside(self, "http", request.method + " " + request.url,
                                              time.deadline + backstop);
  core_->submit(std::move(request), time.started, time.deadline,
                [box, id, actor = ctx.self()->address()](http_outcome outcome) {
                  if (!outcome.error)
                    box->response = std::move(outcome.response);
                  microlith::detail::end_outside(actor, id, std::move(outcome.error));
                });
  return pending_http{self, id, std::move(box)};
}

void http_client::async_request(http_request request, std::function<void(http_outcome)> done) {
  auto time = time_for({}, request.timeout, core_->options.default_timeout);
  core_->submit(std::move(request), time.started, time.deadline, std::move(done));
}

http_outcome http_client::request_blocking(http_request request) {
  auto answered = std::make_shared<std::promise<http_outcome>>();
  auto outcome = answered->get_future();
  async_request(std::move(request),
                [answered](http_outcome result) { answered->set_value(std::move(result)); });
  return outcome.get();
}

http_client_stats http_client::stats() const {
  http_client_stats s;
  s.connections_opened = core_->connections_opened.load();
  s.requests_completed = core_->requests_completed.load();
  return s;
}

} // namespace microlith::http
