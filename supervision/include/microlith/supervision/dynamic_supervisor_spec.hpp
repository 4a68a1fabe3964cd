// A dynamic supervisor's definition (OTP's simple_one_for_one): its name, intensity, optional
// backoff, and the one template all its children are started from — a start function taking
// the args of each start_child, and the children's restart, shutdown and ready settings
// (child_policy.hpp). dynamic_supervisor.hpp describes what the supervisor does with it.
#pragma once

#include "microlith/supervision/child_policy.hpp"
#include "microlith/supervision/supervisor_flags.hpp"

#include <caf/actor.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/message.hpp>

#include <functional>
#include <string>

namespace caf {
class event_based_actor;
} // namespace caf

namespace microlith {

/// Starts one dynamic child from inside its supervisor, with the args of start_child.
using dynamic_start_function = std::function<caf::expected<caf::actor>(
  caf::event_based_actor* supervisor, const caf::message& args)>;

/// A dynamic supervisor's definition: its name, flags and the one child template.
class dynamic_supervisor_spec : public restart_limits<dynamic_supervisor_spec>,
                                public child_policy<dynamic_supervisor_spec> {
public:
  /// A dynamic supervisor called `name` whose children are started by `start`.
  dynamic_supervisor_spec(std::string name, dynamic_start_function start);

  /// Names children "<id>-<n>" in snapshots and logs (default: "child").
  dynamic_supervisor_spec& child_id(std::string id);

  const std::string& name() const noexcept { return name_; }
  const dynamic_start_function& start() const noexcept { return start_; }
  const std::string& child_id() const noexcept { return child_id_; }

  /// An error naming the problem when the spec cannot run.
  caf::error validate() const;

private:
  std::string name_;
  dynamic_start_function start_;
  std::string child_id_ = "child";
};

} // namespace microlith
