#include "toggles/toggles_service.hpp"

#include "microlith/actors/service.hpp"
#include "toggles/toggle_board.hpp"

#include <string>

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

class toggles_state {
public:
  explicit toggles_state(toggle_board* board) : board_(board) {}

  reply<pb::Toggle> get(call_context&, const pb::GetRequest& req) {
    return answer(board_->get(req.name()));
  }

  reply<pb::ToggleList> list(call_context&, const pb::ListRequest&) { return board_->list(); }

  reply<pb::Toggle> set(call_context& ctx, const pb::SetRequest& req) {
    return answer(board_->set(req, who_called(ctx)));
  }

  reply<pb::GroupSet> set_group(call_context& ctx, const pb::SetGroupRequest& req) {
    return answer(board_->set_group(req, who_called(ctx)));
  }

  reply<pb::ChangeList> history(call_context&, const pb::HistoryRequest& req) {
    return answer(board_->history(req));
  }

private:
  toggle_board* board_;
};

} // namespace

service_definition toggles_service(toggle_board& board) {
  return service<toggles_state>("toggles", "microlith.toggles.v1.Toggles", &board)
    .handle("Get", &toggles_state::get)
    .handle("List", &toggles_state::list)
    .handle("Set", &toggles_state::set)
    .handle("SetGroup", &toggles_state::set_group)
    .handle("History", &toggles_state::history);
}

} // namespace microlith::detail
