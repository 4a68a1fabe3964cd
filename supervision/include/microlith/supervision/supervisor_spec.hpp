// A static supervisor's definition (OTP's supervisor flags and child specs): its name, strategy,
// intensity, optional backoff, and its children in start order. supervisor.hpp describes what a
// supervisor does with it.
#pragma once

#include "microlith/supervision/child_spec.hpp"
#include "microlith/supervision/policy.hpp"
#include "microlith/supervision/supervisor_flags.hpp"

#include <caf/error.hpp>

#include <string>
#include <vector>

namespace microlith {

/// A supervisor's definition: its name, flags and children in start order.
class supervisor_spec : public restart_limits<supervisor_spec> {
public:
  /// A supervisor called `name` with OTP's default flags and no children yet.
  explicit supervisor_spec(std::string name);

  /// Sets the strategy.
  supervisor_spec& strategy(microlith::strategy x);

  /// Appends a child (children start in the order they are added).
  supervisor_spec& child(child_spec spec);

  const std::string& name() const noexcept { return name_; }
  const std::vector<child_spec>& children() const noexcept { return children_; }

  /// An error naming the problem when the spec cannot run (duplicate ids, bad intensity).
  caf::error validate() const;

private:
  std::string name_;
  std::vector<child_spec> children_;
};

} // namespace microlith
