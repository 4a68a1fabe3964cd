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
  // No execution unit: the receiver is scheduled through the coordinator, spread over the
  // workers, instead of onto the sender's local queue. A supervisor stopping 100,000 children
  // would otherwise fill one worker's queue, and CAF 0.17's work stealing takes from the tail of
  // that list by walking it: quadratic (docs/benchmarks.md, "Supervision", has the figures).
  dest->enqueue(std::move(sender), caf::make_message_id(caf::message_priority::high),
                caf::make_message(caf::exit_msg{std::move(source), std::move(reason)}), nullptr);
}

} // namespace microlith
