// A promise: how a handler answers its call later, e.g. when a call it made answers. A handler
// takes one with `ctx.make_promise<Resp>()` and returns it in place of the answer.
#pragma once

#include "microlith/actors/detail/reply_slot.hpp"

#include <caf/error.hpp>

#include <memory>
#include <utility>

namespace microlith {

/// A handle for answering a call later. Copyable; the first `deliver` answers, later ones are
/// ignored; when the last copy goes away unanswered, the caller gets remote_error. A promise
/// belongs to the actor that made it: deliver it from that actor's handlers and continuations,
/// never from another thread or actor. Errors delivered are passed to the caller as they are
/// (an error of a nested call keeps its code; add context to its message when that helps).
template <class Resp>
class promise {
public:
  explicit promise(std::shared_ptr<detail::reply_slot> slot) : slot_(std::move(slot)) {}

  /// Answers with a response.
  void deliver(Resp value) {
    detail::deliver(*slot_, std::make_shared<const Resp>(std::move(value)), {});
  }

  /// Answers with an error.
  void deliver(caf::error err) { detail::deliver(*slot_, nullptr, std::move(err)); }

private:
  std::shared_ptr<detail::reply_slot> slot_;
};

} // namespace microlith
