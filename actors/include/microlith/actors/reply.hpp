// What a handler returns: a response, an error of a kind the caller can act on, or a promise to
// answer later.
#pragma once

#include "microlith/actors/detail/erased_reply.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/promise.hpp"

#include <caf/error.hpp>

#include <memory>
#include <utility>

namespace microlith {

/// What a handler returns: a response, an error, or a promise to answer later.
template <class Resp>
class reply {
public:
  /// Answers with `value`.
  reply(Resp value) { erased_.value = std::make_shared<const Resp>(std::move(value)); }

  /// Answers with `err` (use microlith::fail("...") for a handler failure).
  reply(caf::error err) {
    erased_.error = std::move(err);
    if (!erased_.error)
      erased_.error = make_error(errc::remote_error, "handler returned an empty error");
  }

  /// Answers later, through `p`.
  reply(const promise<Resp>&) { erased_.deferred = true; }

  /// The answer with its type erased.
  detail::erased_reply release() && { return std::move(erased_); }

private:
  detail::erased_reply erased_;
};

} // namespace microlith
