// How service<State> and worker<State> build a fresh State inside every new instance (so a
// restarted instance starts clean): from copies of the constructor arguments given to the
// builder, after the instance's call_context when State takes one.
#pragma once

#include "microlith/actors/call_context.hpp"

#include <functional>
#include <memory>
#include <type_traits>

namespace microlith::detail {

/// A state that `state_factory<State>(args...)` can build: State(call_context&, const Args&...)
/// or State(const Args&...).
template <class State, class... Args>
constexpr bool buildable_state_v =
  std::is_constructible_v<State, call_context&,
                          const Args&...> || std::is_constructible_v<State, const Args&...>;

/// Builds a `State` in the instance's actor from copies of `args`, passing the instance's
/// call_context first when `State` has a constructor that takes it (preferred).
template <class State, class... Args>
std::function<std::shared_ptr<void>(call_context&)> state_factory(Args... args) {
  static_assert((std::is_copy_constructible_v<Args> && ...),
                "service<State>/worker<State>: every state argument is copied into each new "
                "instance, so it must be copyable (share what must not be copied through a "
                "std::shared_ptr, pass what must not be copied by std::ref)");
  static_assert(buildable_state_v<State, Args...>,
                "service<State>(name, contract, args...) / worker<State>(name, args...): State "
                "needs a constructor taking (microlith::call_context&, args...) or (args...); "
                "with no args, (microlith::call_context&) or a default constructor");
  return [args...](call_context& ctx) -> std::shared_ptr<void> {
    if constexpr (std::is_constructible_v<State, call_context&, const Args&...>)
      return std::make_shared<State>(ctx, args...);
    else
      return std::make_shared<State>(args...);
  };
}

} // namespace microlith::detail
