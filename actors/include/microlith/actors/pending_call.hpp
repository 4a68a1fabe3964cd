// A call in flight from an actor: what `call_context::call` returns, and where the caller says
// what happens with the answer.
#pragma once

#include "microlith/actors/detail/endpoint_calls.hpp"
#include "microlith/actors/detail/message_cast.hpp"
#include "microlith/actors/envelope.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <utility>

namespace microlith {

/// A call in flight from an actor; `then` says what happens when it completes.
template <class Resp>
class [[nodiscard]] pending_call {
public:
  pending_call(detail::endpoint_actor* self, std::uint64_t id) : self_(self), id_(id) {}

  /// Runs `on_reply(const Resp&)` or `on_error(const caf::error&)` in the calling actor, later,
  /// exactly once. Without `then`, the answer is dropped.
  template <class OnReply, class OnError>
  void then(OnReply on_reply, OnError on_error) && {
    detail::set_continuation(self_, id_,
                             [on_reply = std::move(on_reply), on_error = std::move(on_error)](
                               const message_ptr& body, const caf::error& err) mutable {
                               if (err) {
                                 on_error(err);
                               } else if (auto* typed = detail::message_cast<Resp>(body)) {
                                 on_reply(*typed);
                               } else {
                                 on_error(detail::wrong_reply_type(Resp::descriptor(), body));
                               }
                             });
  }

private:
  detail::endpoint_actor* self_;
  std::uint64_t id_;
};

} // namespace microlith
