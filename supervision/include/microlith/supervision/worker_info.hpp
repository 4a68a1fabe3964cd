// What a worker written as a plain CAF actor answers when its supervisor takes a snapshot: the
// supervisor asks each worker child `info_atom` for its mailbox size and the services it
// registered (a service's actor answers by itself). A plain actor that does not handle it shows no
// mailbox in the tree and makes CAF print "unexpected message"; one line in its behavior answers:
//
//     [this](info_atom) { return worker_info(*this); },
#pragma once

#include "microlith/actors/atoms.hpp"

#include <caf/message.hpp>
#include <caf/scheduled_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace microlith {

/// The answer to info_atom of a worker that registers no service: its mailbox size.
inline caf::message worker_info(caf::scheduled_actor& self) {
  return caf::make_message(static_cast<std::int64_t>(self.mailbox().size()),
                           std::vector<std::string>{});
}

} // namespace microlith
