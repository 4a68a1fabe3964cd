// A handler's answer with its type erased: what `reply<Resp>` hands to the actor that runs the
// handler (actors/src/endpoint_actor.cpp), which sends it to the caller.
#pragma once

#include "microlith/actors/envelope.hpp"

#include <caf/error.hpp>

namespace microlith::detail {

/// A handler's answer with its type erased: a body, an error, or "answered later by a promise".
struct erased_reply {
  message_ptr value;
  caf::error error;
  bool deferred = false;
};

} // namespace microlith::detail
