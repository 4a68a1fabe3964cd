// The rules both kinds of supervisor apply when a child exits: which exits count as normal, the
// restart type's decision, the intensity window, and the backoff delay.
#pragma once

#include "microlith/actors/error.hpp"
#include "microlith/supervision/policy.hpp"
#include "microlith/supervision/supervisor_flags.hpp"

#include <caf/error.hpp>
#include <caf/exit_reason.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <random>
#include <string>

namespace microlith::detail {

using sup_clock = std::chrono::steady_clock;

/// Normal for transient children: a normal exit or a shutdown (OTP: normal, shutdown).
inline bool is_normal_exit(const caf::error& reason) {
  return !reason || reason == caf::exit_reason::normal || reason == caf::exit_reason::user_shutdown;
}

/// OTP's restart types applied to one exit.
inline bool should_restart(restart_type type, const caf::error& reason) {
  switch (type) {
    case restart_type::permanent: return true;
    case restart_type::transient: return !is_normal_exit(reason);
    case restart_type::temporary: return false;
  }
  return false;
}

/// An exit reason for logs ("normal" for a normal exit).
inline std::string reason_text(const caf::error& reason) {
  return reason ? describe(reason) : std::string{"normal"};
}

/// Restarts within the last `period`: more than `intensity` of them and the supervisor gives up.
class restart_window {
public:
  /// Records a restart now; false when it exceeds the intensity.
  bool add(const supervisor_flags& flags) {
    auto now = sup_clock::now();
    restarts_.push_back(now);
    while (!restarts_.empty() && now - restarts_.front() > flags.period)
      restarts_.pop_front();
    return static_cast<int>(restarts_.size()) <= flags.intensity;
  }

private:
  std::deque<sup_clock::time_point> restarts_;
};

/// One child's consecutive failures, for backoff.
struct backoff_account {
  std::uint32_t failures = 0;
  sup_clock::time_point running_since{};
};

/// The wait before restarting the child behind `account` (zero without backoff), counting one
/// more consecutive failure; a child that ran for reset_after starts again from min.
template <class Rng>
std::chrono::milliseconds backoff_delay(const supervisor_flags& flags, backoff_account& account,
                                        Rng& rng) {
  if (!flags.backoff)
    return std::chrono::milliseconds{0};
  const auto& b = *flags.backoff;
  if (account.running_since != sup_clock::time_point{}
      && sup_clock::now() - account.running_since >= b.reset_after)
    account.failures = 0;
  auto exponent = std::min<std::uint32_t>(account.failures, 30);
  ++account.failures;
  auto base = std::min<double>(static_cast<double>(b.min.count())
                                 * static_cast<double>(std::uint64_t{1} << exponent),
                               static_cast<double>(b.max.count()));
  std::uniform_real_distribution<double> unit{0.0, 1.0};
  return std::chrono::milliseconds{static_cast<std::int64_t>(base * (1.0 + b.jitter * unit(rng)))};
}

/// Checks a supervisor's intensity, period and backoff; an empty error when they are usable,
/// else one naming `what` ("supervisor x", "dynamic supervisor x") and the problem.
caf::error validate_flags(const std::string& what, const supervisor_flags& flags);

} // namespace microlith::detail
