// A time zone read from the IANA database's TZif files (/usr/share/zoneinfo, Debian package
// tzdata), for cron schedules (docs/jobs.md, "Cron"). The 64-bit (version 2+) section's
// transitions give the offsets up to the table's end; the footer's POSIX TZ rule
// ("CET-1CEST,M3.5.0,M10.5.0/3") gives them beyond it. A value, safe to share between threads:
// no setenv("TZ") / localtime (process-wide and not thread-safe).
//
// Local times are seconds since 1970-01-01 00:00 of the zone's wall clock ("local seconds");
// instants are seconds since the Unix epoch (UTC).
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace microlith::detail {

/// Days since 1970-01-01 of the civil date year-month-day (month 1..12), proleptic Gregorian.
std::int64_t days_from_civil(std::int64_t year, int month, int day);

/// A civil date and time of day, to the second.
struct civil_time {
  std::int64_t year = 1970;
  int month = 1; ///< 1..12
  int day = 1;   ///< 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
};

/// The civil time of `seconds` since 1970-01-01 00:00.
civil_time civil_from_seconds(std::int64_t seconds);

/// Seconds since 1970-01-01 00:00 of `t`.
std::int64_t seconds_from_civil(const civil_time& t);

/// 0 = Sunday .. 6 = Saturday, of the day `days` since 1970-01-01 (a Thursday).
int weekday_of_days(std::int64_t days);

/// Days of `month` in `year` (28..31).
int days_in_month(std::int64_t year, int month);

/// One rule of a POSIX TZ string ("M3.5.0/2", "J60", "59/-1").
struct tz_rule_date {
  enum kind_t { julian_no_leap, zero_based, month_week_day } kind = month_week_day;
  int day = 0;              ///< Jn: 1..365; n: 0..365; Mm.w.d: d 0..6
  int month = 0;            ///< Mm.w.d: 1..12
  int week = 0;             ///< Mm.w.d: 1..5 (5 = the last)
  std::int64_t time = 7200; ///< seconds after local midnight, may be < 0 or > 24 h
};

/// The footer's POSIX TZ rule.
struct posix_tz_rule {
  std::int64_t std_offset = 0; ///< seconds east of UTC
  bool has_dst = false;
  std::int64_t dst_offset = 0;
  tz_rule_date start; ///< when daylight time starts (local, standard time)
  tz_rule_date end;   ///< when it ends (local, daylight time)
};

/// Parses a POSIX TZ string; nothing when it is not one this reader understands.
std::optional<posix_tz_rule> parse_posix_tz(const std::string& text);

/// A time zone: its offsets from UTC at every instant.
class time_zone {
public:
  /// UTC (needs no file).
  static time_zone utc();

  /// The zone `name` ("Europe/Paris"; "UTC" needs no file) read from `root`. An error naming
  /// the zone when the name is not an IANA name, the file is missing or is not a TZif file.
  static caf::expected<time_zone> load(const std::string& name,
                                       const std::filesystem::path& root = "/usr/share/zoneinfo");

  /// Reads a zone from the bytes of a TZif file; `name` names it in errors.
  static caf::expected<time_zone> from_tzif(const std::string& name, const std::string& bytes);

  const std::string& name() const noexcept { return name_; }

  /// The offset (seconds east of UTC) in force at the instant `utc` (seconds).
  std::int64_t offset_at(std::int64_t utc) const;

  /// The local seconds of the instant `utc`.
  std::int64_t to_local(std::int64_t utc) const { return utc + offset_at(utc); }

  /// The instant a cron schedule runs for the local time `local` (seconds): the earliest
  /// instant whose local time it is (the first of a repeated local time, when clocks fall
  /// back); for a local time that does not exist (clocks spring forward over it), the first
  /// instant after the gap.
  std::int64_t instant_of(std::int64_t local) const;

private:
  struct transition {
    std::int64_t at = 0;     ///< instant (UTC seconds)
    std::int64_t before = 0; ///< offset before it
    std::int64_t after = 0;  ///< offset from it on
  };

  /// The transitions at instants in [from, to], in order.
  std::vector<transition> transitions_between(std::int64_t from, std::int64_t to) const;

  /// The rule's transitions in `year`, in order.
  std::vector<transition> rule_transitions(std::int64_t year) const;

  std::string name_;
  std::vector<std::int64_t> times_;   ///< the table's transitions
  std::vector<std::int64_t> offsets_; ///< the offset from each transition on
  std::int64_t initial_ = 0;          ///< the offset before the first transition
  std::optional<posix_tz_rule> rule_; ///< beyond the table
};

} // namespace microlith::detail
