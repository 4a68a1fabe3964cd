// A deferred start: how a service's state that must finish building asynchronously (e.g. rebuild
// itself by calling another service) holds back its instance's start until it is ready.
#pragma once

#include "microlith/actors/detail/start_slot.hpp"

#include <caf/error.hpp>

#include <memory>
#include <utility>

namespace microlith {

/// A deferred start: the state's constructor takes one with `ctx.defer_start()` when it must
/// finish building asynchronously (e.g. rebuild itself by calling another service). Until
/// `open()`, the instance is not registered (callers by name get service_unavailable, or reach
/// another instance) and its supervisor does not count it as started; `fail(err)` — or the last
/// copy going away unopened — fails the start, which its supervisor handles as OTP does. Like a
/// promise, it belongs to its actor: use it from that actor's continuations only.
class start_gate {
public:
  explicit start_gate(std::shared_ptr<detail::start_slot> slot) : slot_(std::move(slot)) {}

  /// Finishes the start: registers the instance and tells its supervisor it is ready.
  void open() { detail::finish_start(*slot_, {}); }

  /// Fails the start with `err`: the instance exits with it.
  void fail(caf::error err) { detail::finish_start(*slot_, std::move(err)); }

private:
  std::shared_ptr<detail::start_slot> slot_;
};

} // namespace microlith
