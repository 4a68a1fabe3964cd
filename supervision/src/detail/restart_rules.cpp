// Validation of the flags both kinds of supervisor share.
#include "detail/restart_rules.hpp"

#include <fmt/format.h>

namespace microlith::detail {

caf::error validate_flags(const std::string& what, const supervisor_flags& flags) {
  if (flags.intensity < 0)
    return make_error(errc::bad_request,
                      fmt::format("{}: intensity must be >= 0, got {}", what, flags.intensity));
  if (flags.period.count() <= 0)
    return make_error(errc::bad_request, fmt::format("{}: period must be > 0", what));
  if (!flags.backoff)
    return {};
  const auto& b = *flags.backoff;
  if (b.min.count() <= 0 || b.max < b.min || b.jitter < 0.0 || b.jitter > 1.0
      || b.reset_after.count() <= 0)
    return make_error(errc::bad_request,
                      fmt::format("{}: backoff needs 0 < min <= max, jitter in [0, 1] and "
                                  "reset_after > 0",
                                  what));
  return {};
}

} // namespace microlith::detail
