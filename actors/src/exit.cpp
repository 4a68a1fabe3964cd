#include "microlith/actors/exit.hpp"

#include <caf/all.hpp>

namespace microlith {

void signal_exit(const caf::actor& dest, caf::error reason, caf::local_actor* from) {
  if (!dest)
    return;
  auto source = from != nullptr ? from->address() : dest.address();
  caf::strong_actor_ptr sender;
  if (from != nullptr)
    sender = caf::actor_cast<caf::strong_actor_ptr>(from->address());
  dest->enqueue(std::move(sender), caf::make_message_id(caf::message_priority::high),
                caf::make_message(caf::exit_msg{std::move(source), std::move(reason)}),
                from != nullptr ? from->context() : nullptr);
}

} // namespace microlith
