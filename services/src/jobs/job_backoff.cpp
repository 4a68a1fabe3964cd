// The backoff between a queue's attempts; the formula is in microlith/services/jobs_config.hpp.
#include "microlith/services/jobs_config.hpp"

#include <algorithm>
#include <cmath>

namespace microlith {

std::chrono::milliseconds backoff_delay(const job_backoff& backoff, int attempt, double random) {
  using ms = std::chrono::milliseconds;
  // 2^attempt overflows nothing up to 2^62; past the max it does not matter how far.
  const int exponent = std::clamp(attempt, 0, 40);
  const double grown = static_cast<double>(backoff.base.count())
                       + static_cast<double>(backoff.unit.count()) * std::ldexp(1.0, exponent);
  const double capped = std::min(grown, static_cast<double>(backoff.max.count()));
  const double j = backoff.jitter * (2.0 * std::clamp(random, 0.0, 1.0) - 1.0);
  return ms{static_cast<ms::rep>(std::llround(std::max(0.0, capped * (1.0 + j))))};
}

} // namespace microlith
