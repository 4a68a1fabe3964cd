#include "observer/observer_service.hpp"

#include "observer/observer_runtime.hpp"

#include "microlith/actors/detail/outside_calls.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/actors/trace.hpp"
#include "proto/microlith_observer.pb.h"

#include <fmt/format.h>

#include <vector>

namespace microlith::detail {

namespace {

namespace pb = microlith::observer::v1;

// How long a request waits for the observer's thread (a tree that takes longer is unresponsive
// anyway: each group's supervisor gets 5 s).
constexpr auto unbounded_wait = std::chrono::seconds(30);

class observer_state {
public:
  explicit observer_state(std::shared_ptr<observer_runtime> runtime) : rt_(std::move(runtime)) {}

  reply<pb::NodeReport> report(call_context& ctx, const pb::ReportRequest&) {
    return on_thread<pb::NodeReport>(
      ctx, "Report", [rt = rt_.get()]() -> caf::expected<pb::NodeReport> { return rt->report(); });
  }

  reply<pb::SpansReply> spans(call_context&, const pb::SpansRequest& req) {
    std::vector<std::string> ids(req.correlation_ids().begin(), req.correlation_ids().end());
    auto found = rt_->host_node().spans(ids, req.limit());
    pb::SpansReply out;
    for (const auto& s : found.spans) {
      auto* span = out.add_spans();
      span->set_correlation_id(s.correlation_id);
      span->set_span(s.span);
      span->set_parent_span(s.parent_span);
      span->set_service(s.service);
      span->set_method(s.method);
      span->set_node(s.node);
      span->set_start_unix_us(s.start_unix_us);
      span->set_duration_seconds(std::chrono::duration<double>(s.duration).count());
      span->set_outcome(s.outcome);
      span->set_caller(s.caller);
    }
    for (const auto& id : found.forced)
      out.add_forced(id);
    return out;
  }

  reply<pb::ChildActionReply> child_action(call_context& ctx, const pb::ChildActionRequest& req) {
    std::vector<std::string> path(req.path().begin(), req.path().end());
    return on_thread<pb::ChildActionReply>(
      ctx, "ChildAction",
      [rt = rt_.get(), path = std::move(path), action = req.action(),
       who = req.requested_by().empty()
               ? ctx.meta().caller
               : req.requested_by()]() -> caf::expected<pb::ChildActionReply> {
        auto done = rt->child_action(path, action, who);
        if (!done)
          return done.error();
        pb::ChildActionReply out;
        out.set_message(*done);
        return out;
      });
  }

private:
  // Runs `work` on the observer's thread and answers its outcome through a promise.
  template <class Reply, class Work>
  reply<Reply> on_thread(call_context& ctx, const char* method, Work work) {
    auto* self = endpoint_of(ctx.self());
    if (self == nullptr)
      return make_error(errc::internal, fmt::format("observer.{} ran outside a service", method));
    auto promise = ctx.make_promise<Reply>();
    auto deadline = ctx.meta().deadline;
    if (deadline == clock::time_point{})
      deadline = clock::now() + unbounded_wait;
    auto outcome = std::make_shared<caf::expected<Reply>>(Reply{});
    auto id = expect_outside(self, "observer", method, deadline);
    set_continuation(self, id,
                     [promise, outcome](const message_ptr&, const caf::error& err) mutable {
                       if (err)
                         promise.deliver(err);
                       else if (!*outcome)
                         promise.deliver(outcome->error());
                       else
                         promise.deliver(std::move(**outcome));
                     });
    auto posted = rt_->post([outcome, id, deadline, method, actor = ctx.self()->address(),
                             work = std::move(work)]() mutable {
      if (clock::now() >= deadline) // its caller gave up while it waited: not worth doing
        *outcome = make_error(errc::timeout,
                              fmt::format("observer.{}: the observer was busy until the call's "
                                          "deadline",
                                          method));
      else
        *outcome = work();
      end_outside(actor, id, caf::error{});
    });
    if (!posted)
      end_outside(ctx.self()->address(), id,
                  make_error(errc::resource_exhausted,
                             fmt::format("observer.{}: the observer has {} requests waiting "
                                         "already; try again shortly",
                                         method, observer_runtime::max_waiting)));
    return promise;
  }

  std::shared_ptr<observer_runtime> rt_;
};

} // namespace

std::string observer_service_name(const std::string& node) {
  return node.empty() ? std::string{"observer"} : fmt::format("observer@{}", node);
}

service_definition observer_service(std::shared_ptr<observer_runtime> runtime, std::string name) {
  return service<observer_state>(std::move(name), "microlith.observer.v1.Observer",
                                 std::move(runtime))
    .handle("Report", &observer_state::report)
    .handle("Spans", &observer_state::spans)
    .handle("ChildAction", &observer_state::child_action);
}

} // namespace microlith::detail
