// A worker: an actor with per-instance state that can call services but serves none (the
// gateway, a job runner, a benchmark's driver). Its state's constructor runs in the new actor and
// may start calls.
#pragma once

#include "microlith/actors/call_context.hpp"
#include "microlith/actors/detail/state_factory.hpp"
#include "microlith/actors/service_definition.hpp"

#include <string>
#include <utility>

namespace microlith {

/// A worker called `name` whose per-instance state is a `State`, built in every new instance from
/// copies of `args` as `State(ctx, args...)` (or `State(args...)` when it takes no context).
template <class State, class... Args>
service_definition worker(std::string name, Args... args) {
  service_definition def;
  def.name = std::move(name);
  def.make_state = detail::state_factory<State>(std::move(args)...);
  return def;
}

} // namespace microlith
