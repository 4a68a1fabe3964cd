// The run-time child operations from a plain thread: each sends its request and waits for the
// answer, at most the timeout it is given.
#include "microlith/supervision/child_operations.hpp"

#include "microlith/actors/error.hpp"

#include <caf/all.hpp>

namespace microlith {

namespace {

// Sends `xs` to `sup` and waits for an answer of type T (a handle, a report).
template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, const caf::actor& sup,
                     std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> result = make_error(errc::timeout, "no answer");
  self->request(sup, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

// Sends `xs` to `sup` and waits until it is done; the error, if it refused or failed.
template <class... Ts>
caf::error ask_done(caf::actor_system& sys, const caf::actor& sup,
                    std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(sup, timeout, std::forward<Ts>(xs)...)
    .receive([] {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      child_spec spec, std::chrono::milliseconds timeout) {
  return ask<caf::actor>(sys, sup, timeout, start_child_atom::value, std::move(spec));
}

caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      caf::message args, std::chrono::milliseconds timeout) {
  return ask<caf::actor>(sys, sup, timeout, start_child_atom::value, std::move(args));
}

caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                           std::chrono::milliseconds timeout) {
  return ask_done(sys, sup, timeout, terminate_child_atom::value, id);
}

caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                           std::chrono::milliseconds timeout) {
  return ask_done(sys, sup, timeout, terminate_child_atom::value, child);
}

caf::expected<caf::actor> restart_child(caf::actor_system& sys, const caf::actor& sup,
                                        const std::string& id, std::chrono::milliseconds timeout) {
  return ask<caf::actor>(sys, sup, timeout, restart_child_atom::value, id);
}

caf::error delete_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                        std::chrono::milliseconds timeout) {
  return ask_done(sys, sup, timeout, delete_child_atom::value, id);
}

caf::expected<std::vector<child_info>> which_children(caf::actor_system& sys, const caf::actor& sup,
                                                      std::chrono::milliseconds timeout) {
  return ask<std::vector<child_info>>(sys, sup, timeout, which_children_atom::value);
}

caf::expected<child_counts> count_children(caf::actor_system& sys, const caf::actor& sup,
                                           std::chrono::milliseconds timeout) {
  return ask<child_counts>(sys, sup, timeout, count_children_atom::value);
}

} // namespace microlith
