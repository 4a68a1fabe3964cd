// A cron schedule (docs/jobs.md, "Cron"): the 5 fields of Vixie cron, minute hour day-of-month
// month day-of-week, each `*`, a number, a range `1-5`, a step `*/15` or `1-30/2`, or a list of
// these `1,15,30-40`; months JAN..DEC and weekdays SUN..SAT by name (any case), Sunday 0 or 7.
// When both day fields are restricted (neither starts with `*`) a day matches when EITHER
// matches (Vixie cron's rule); otherwise both must. Or one of the names @yearly (@annually),
// @monthly, @weekly, @daily (@midnight), @hourly.
//
// next_after() gives the next tick after an instant in a time zone (time_zone.hpp), with the
// rule for daylight saving time: a local time that does not exist (clocks spring forward over
// it) runs once at the first instant after the gap; a local time that happens twice (clocks
// fall back) runs once, at its first occurrence.
#pragma once

#include "jobs/time_zone.hpp"

#include <caf/expected.hpp>

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>

namespace microlith::detail {

class cron_schedule {
public:
  /// Parses `text`; an error (errc::invalid_argument) quoting it and naming the field and what
  /// was expected: `"61 * * * *": minute 61 is out of range 0-59`.
  static caf::expected<cron_schedule> parse(const std::string& text);

  const std::string& text() const noexcept { return text_; }

  /// Whether the local minute `t` (seconds ignored) is a tick.
  bool matches(const civil_time& t) const;

  /// The first local minute (seconds since 1970-01-01 of the zone's wall clock, a multiple of
  /// 60) at or after `local` that is a tick; nothing within 30 years.
  std::optional<std::int64_t> next_local_at_or_after(std::int64_t local) const;

  /// The first tick strictly after the instant `utc_ms` (ms since the Unix epoch) in `zone`, in
  /// ms; nothing within 30 years.
  std::optional<std::int64_t> next_after(std::int64_t utc_ms, const time_zone& zone) const;

private:
  bool day_matches(std::int64_t year, int month, int day) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;   ///< 1..31
  std::bitset<13> months_; ///< 1..12
  std::bitset<7> weekdays_;
  bool days_star_ = false;     ///< day-of-month starts with '*'
  bool weekdays_star_ = false; ///< day-of-week starts with '*'
};

} // namespace microlith::detail
