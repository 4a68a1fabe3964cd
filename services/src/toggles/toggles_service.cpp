#include "toggles/toggles_service.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/service.hpp"
#include "toggles/toggle_board.hpp"
#include "toggles/toggle_replication.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

namespace microlith::detail {

namespace {

namespace pb = microlith::toggles::v1;

std::string who_called(const call_context& ctx) {
  return ctx.meta().caller == toggles_admin_caller ? "admin" : "code";
}

template <class T>
reply<T> answer(caf::expected<T> done) {
  if (!done)
    return std::move(done.error());
  return std::move(*done);
}

// A change's answer while the other nodes' acknowledgements come in: answered once every node
// pushed to has answered or timed out.
template <class Resp>
struct pushed_change {
  Resp answer;
  promise<Resp> done;
  std::size_t waiting = 0;

  void settle() {
    if (--waiting == 0)
      done.deliver(std::move(answer));
  }
};

class toggles_state {
public:
  toggles_state(toggle_board* board, toggle_replication* cluster)
    : board_(board), cluster_(cluster) {}

  reply<pb::Toggle> get(call_context&, const pb::GetRequest& req) {
    return answer(board_->get(req.name()));
  }

  reply<pb::ToggleList> list(call_context&, const pb::ListRequest&) { return board_->list(); }

  reply<pb::Toggle> set(call_context& ctx, const pb::SetRequest& req) {
    auto who = who_called(ctx);
    auto done = board_->set(req, who);
    if (!done || cluster_ == nullptr)
      return answer(std::move(done));
    pb::ReplicaChange change;
    change.set_from(cluster_->self());
    change.set_who(who);
    auto* value = change.mutable_value();
    value->set_name(done->name());
    *value->mutable_gates() = done->gates();
    *value->mutable_version() = done->version();
    return push(ctx, std::move(*done), std::move(change));
  }

  reply<pb::GroupSet> set_group(call_context& ctx, const pb::SetGroupRequest& req) {
    auto who = who_called(ctx);
    auto done = board_->set_group(req, who);
    if (!done || cluster_ == nullptr)
      return answer(std::move(done));
    pb::ReplicaChange change;
    change.set_from(cluster_->self());
    change.set_who(who);
    auto* group = change.mutable_group();
    group->set_group(done->group());
    *group->mutable_keys() = done->keys();
    *group->mutable_version() = done->version();
    return push(ctx, std::move(*done), std::move(change));
  }

  reply<pb::ChangeList> history(call_context&, const pb::HistoryRequest& req) {
    return answer(board_->history(req));
  }

private:
  // Sends `change` (made and in force here) to every other node reached, and answers `made`
  // with its propagation once each has acknowledged it or failed to within the bound. Nothing
  // here waits: the acknowledgements come back as continuations of this actor.
  template <class Resp>
  reply<Resp> push(call_context& ctx, Resp made, pb::ReplicaChange change) {
    auto* propagation = made.mutable_propagation();
    propagation->add_applied_on(cluster_->self());
    auto reached = cluster_->reachable();
    for (const auto& other : cluster_->others())
      if (std::find(reached.begin(), reached.end(), other) == reached.end()) {
        auto* problem = propagation->add_not_answered();
        problem->set_node(other);
        problem->set_reason(fmt::format("not reachable: node {} is not joined with node {} now",
                                        other, cluster_->self()));
      }
    if (reached.empty())
      return made;
    auto pushed = std::make_shared<pushed_change<Resp>>(
      pushed_change<Resp>{std::move(made), ctx.make_promise<Resp>(), reached.size()});
    auto shared_change = std::make_shared<const pb::ReplicaChange>(std::move(change));
    call_options options;
    options.timeout = toggle_push_timeout;
    for (const auto& peer : reached) {
      ctx
        .call_shared<pb::ReplicaApplied>(toggle_replica_name(peer), "Apply", shared_change, options)
        .then(
          [pushed, peer](const pb::ReplicaApplied& applied) {
            auto* p = pushed->answer.mutable_propagation();
            if (applied.outcome() == pb::ReplicaApplied::NEWER)
              p->add_newer_on(peer);
            else
              p->add_applied_on(peer);
            pushed->settle();
          },
          [pushed, peer](const caf::error& err) {
            auto* problem = pushed->answer.mutable_propagation()->add_not_answered();
            problem->set_node(peer);
            problem->set_reason(
              err.category() == error_category() && code_of(err) == errc::timeout
                ? fmt::format("did not answer within {} ms", toggle_push_timeout.count())
                : message_of(err));
            pushed->settle();
          });
    }
    return pushed->done;
  }

  toggle_board* board_;
  toggle_replication* cluster_;
};

} // namespace

service_definition toggles_service(toggle_board& board, toggle_replication* cluster) {
  return service<toggles_state>("toggles", "microlith.toggles.v1.Toggles", &board, cluster)
    .handle("Get", &toggles_state::get)
    .handle("List", &toggles_state::list)
    .handle("Set", &toggles_state::set)
    .handle("SetGroup", &toggles_state::set_group)
    .handle("History", &toggles_state::history);
}

} // namespace microlith::detail
