// A supervisor's flags — OTP's strategy, intensity and period, plus microlith's optional
// backoff — and the intensity and backoff setters that supervisor_spec and
// dynamic_supervisor_spec share (a dynamic supervisor has no strategy: its children are
// independent, as OTP's simple_one_for_one).
#pragma once

#include "microlith/supervision/policy.hpp"

#include <chrono>
#include <optional>

namespace microlith {

/// Exponential backoff between restarts, as Akka's backoff supervisor: the n-th consecutive
/// restart of a child waits min * 2^(n-1), at most max, plus up to `jitter` of that at random.
/// A child that ran for `reset_after` before it exited starts again from min. While it waits the
/// child is reported as backing_off and its services are not registered (callers get
/// service_unavailable at once).
struct backoff_spec {
  std::chrono::milliseconds min{10};
  std::chrono::milliseconds max{1000};
  double jitter = 0.2;
  std::chrono::milliseconds reset_after{30000};
};

/// The supervisor's flags.
struct supervisor_flags {
  strategy how = strategy::one_for_one;
  /// The most restarts tolerated within `period`.
  int intensity = 1;
  std::chrono::milliseconds period{5000};
  /// Delays between restarts; none by default (restart at once, as OTP).
  std::optional<backoff_spec> backoff;
};

/// The intensity and backoff setters of a spec of type `Spec`, returning the spec itself.
template <class Spec>
class restart_limits {
public:
  /// Sets the restart intensity: at most `max_restarts` within `period`.
  Spec& intensity(int max_restarts, std::chrono::milliseconds period) {
    flags_.intensity = max_restarts;
    flags_.period = period;
    return static_cast<Spec&>(*this);
  }

  /// Delays restarts with exponential backoff (per child).
  Spec& backoff(backoff_spec x) {
    flags_.backoff = x;
    return static_cast<Spec&>(*this);
  }

  const supervisor_flags& flags() const noexcept { return flags_; }

protected:
  supervisor_flags flags_;
};

} // namespace microlith
