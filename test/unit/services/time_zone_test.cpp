// Time zones for cron (services/src/jobs/time_zone.hpp, docs/jobs.md "Cron"): the TZif files of
// /usr/share/zoneinfo (package tzdata), the POSIX rule beyond their table, and the daylight
// saving rule of cron ticks: a local time in the spring-forward gap runs once at the first
// instant after it, a repeated local time (fall back) runs once, at its first occurrence.
#include "jobs/cron_schedule.hpp"
#include "jobs/time_zone.hpp"

#include <microlith/actors/error.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using microlith::detail::civil_time;
using microlith::detail::cron_schedule;
using microlith::detail::parse_posix_tz;
using microlith::detail::seconds_from_civil;
using microlith::detail::time_zone;

namespace {

std::int64_t utc_s(std::int64_t y, int mo, int d, int h = 0, int mi = 0) {
  return seconds_from_civil(civil_time{y, mo, d, h, mi, 0});
}

time_zone zone(const std::string& name) {
  auto z = time_zone::load(name);
  if (!z)
    FAIL(microlith::describe(z.error()));
  return *z;
}

std::vector<std::int64_t> ticks_s(const std::string& text, const time_zone& z, std::int64_t from_s,
                                  int n) {
  auto s = cron_schedule::parse(text);
  REQUIRE(s);
  std::vector<std::int64_t> out;
  std::int64_t from = from_s * 1000;
  for (int i = 0; i < n; ++i) {
    auto next = s->next_after(from, z);
    REQUIRE(next);
    out.push_back(*next / 1000);
    from = *next;
  }
  return out;
}

} // namespace

TEST_CASE("time zones read from TZif files give the offsets in force", "[unit]") {
  const auto paris = zone("Europe/Paris");
  CHECK(paris.offset_at(utc_s(2026, 1, 15)) == 3600);
  CHECK(paris.offset_at(utc_s(2026, 7, 15)) == 7200);
  // Clocks go forward on 2026-03-29 at 01:00 UTC and back on 2026-10-25 at 01:00 UTC.
  CHECK(paris.offset_at(utc_s(2026, 3, 29, 1) - 1) == 3600);
  CHECK(paris.offset_at(utc_s(2026, 3, 29, 1)) == 7200);
  CHECK(paris.offset_at(utc_s(2026, 10, 25, 1) - 1) == 7200);
  CHECK(paris.offset_at(utc_s(2026, 10, 25, 1)) == 3600);
  const auto new_york = zone("America/New_York");
  CHECK(new_york.offset_at(utc_s(2026, 1, 15)) == -5 * 3600);
  CHECK(new_york.offset_at(utc_s(2026, 7, 15)) == -4 * 3600);
  CHECK(zone("Asia/Kolkata").offset_at(utc_s(2026, 7, 15)) == 5 * 3600 + 1800);
  CHECK(zone("UTC").offset_at(utc_s(2026, 7, 15)) == 0);
}

TEST_CASE("time zones beyond the TZif table follow the footer's POSIX rule", "[unit]") {
  const auto paris = zone("Europe/Paris");
  CHECK(paris.offset_at(utc_s(2150, 1, 15)) == 3600);
  CHECK(paris.offset_at(utc_s(2150, 7, 15)) == 7200);
  // 2150: last Sunday of March is the 29th, of October the 25th.
  CHECK(paris.offset_at(utc_s(2150, 3, 29, 1) - 1) == 3600);
  CHECK(paris.offset_at(utc_s(2150, 3, 29, 1)) == 7200);
  CHECK(paris.offset_at(utc_s(2150, 10, 25, 1)) == 3600);
  // The southern hemisphere: daylight time across the new year.
  const auto sydney = zone("Australia/Sydney");
  CHECK(sydney.offset_at(utc_s(2150, 1, 15)) == 11 * 3600);
  CHECK(sydney.offset_at(utc_s(2150, 7, 15)) == 10 * 3600);
}

TEST_CASE("POSIX TZ rules are read with their offsets and dates", "[unit]") {
  auto cet = parse_posix_tz("CET-1CEST,M3.5.0,M10.5.0/3");
  REQUIRE(cet);
  CHECK(cet->std_offset == 3600);
  CHECK(cet->dst_offset == 7200);
  CHECK(cet->start.month == 3);
  CHECK(cet->start.week == 5);
  CHECK(cet->end.time == 3 * 3600);
  auto tehran = parse_posix_tz("<+0330>-3:30");
  REQUIRE(tehran);
  CHECK(tehran->std_offset == 3 * 3600 + 1800);
  CHECK_FALSE(tehran->has_dst);
  auto negative = parse_posix_tz("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1");
  REQUIRE(negative);
  CHECK(negative->start.time == -2 * 3600);
  CHECK_FALSE(parse_posix_tz("1garbage"));
  CHECK_FALSE(parse_posix_tz("CET"));
  CHECK_FALSE(parse_posix_tz("CET-1CEST,M13.5.0,M10.5.0"));
}

TEST_CASE("time zones that do not exist are refused naming them", "[unit]") {
  auto missing = time_zone::load("Europe/Pariss");
  REQUIRE_FALSE(missing);
  CHECK(microlith::is(missing.error(), microlith::errc::not_found));
  CHECK_THAT(microlith::message_of(missing.error()),
             Catch::Matchers::Contains("unknown time zone \"Europe/Pariss\""));
  for (const char* bad : {"../etc/passwd", "/etc/passwd", "Europe/../../etc", "", "Europe/"}) {
    auto z = time_zone::load(bad);
    REQUIRE_FALSE(z);
    CHECK_THAT(microlith::message_of(z.error()), Catch::Matchers::Contains("is not an IANA time "
                                                                           "zone name"));
  }
  auto garbage = time_zone::from_tzif("Test/Garbage", "not a tzif file at all, not at all......."
                                                      "......");
  REQUIRE_FALSE(garbage);
  CHECK_THAT(microlith::message_of(garbage.error()),
             Catch::Matchers::Contains("time zone \"Test/Garbage\": not a TZif file"));
}

TEST_CASE("cron in a time zone runs at local times", "[unit]") {
  const auto paris = zone("Europe/Paris");
  // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
  CHECK(ticks_s("0 9 * * *", paris, utc_s(2026, 1, 15), 1)
        == std::vector<std::int64_t>{utc_s(2026, 1, 15, 8)});
  CHECK(ticks_s("0 9 * * *", paris, utc_s(2026, 7, 15), 1)
        == std::vector<std::int64_t>{utc_s(2026, 7, 15, 7)});
  CHECK(ticks_s("0 9 * * *", zone("America/New_York"), utc_s(2026, 7, 15), 1)
        == std::vector<std::int64_t>{utc_s(2026, 7, 15, 13)});
}

TEST_CASE("cron a local time skipped by spring forward runs once at the end of the gap", "[unit]") {
  const auto paris = zone("Europe/Paris");
  // 2026-03-29: 02:00 local does not exist (01:00 UTC is 03:00 CEST).
  SECTION("a daily tick inside the gap") {
    CHECK(ticks_s("30 2 * * *", paris, utc_s(2026, 3, 28, 12), 3)
          == std::vector<std::int64_t>{utc_s(2026, 3, 29, 1), utc_s(2026, 3, 30, 0, 30),
                                       utc_s(2026, 3, 31, 0, 30)});
  }
  SECTION("several ticks inside the gap run once together") {
    // 02:00, 02:15, 02:30, 02:45 and 03:00 local all fall at 01:00 UTC: one tick.
    CHECK(ticks_s("*/15 2-3 * * *", paris, utc_s(2026, 3, 29, 0, 50), 3)
          == std::vector<std::int64_t>{utc_s(2026, 3, 29, 1), utc_s(2026, 3, 29, 1, 15),
                                       utc_s(2026, 3, 29, 1, 30)});
  }
  SECTION("in the far future too (the POSIX rule)") {
    CHECK(ticks_s("30 2 * * *", paris, utc_s(2150, 3, 28, 12), 1)
          == std::vector<std::int64_t>{utc_s(2150, 3, 29, 1)});
  }
}

TEST_CASE("cron a local time repeated by fall back runs once at its first occurrence", "[unit]") {
  const auto paris = zone("Europe/Paris");
  // 2026-10-25: 02:00-03:00 local happens twice: 00:00-01:00 UTC (CEST), 01:00-02:00 UTC (CET).
  SECTION("a daily tick in the repeated hour") {
    CHECK(ticks_s("30 2 * * *", paris, utc_s(2026, 10, 24, 12), 2)
          == std::vector<std::int64_t>{utc_s(2026, 10, 25, 0, 30), utc_s(2026, 10, 26, 1, 30)});
  }
  SECTION("an hourly schedule does not run twice at 02:00") {
    CHECK(ticks_s("0 * * * *", paris, utc_s(2026, 10, 24, 23, 30), 3)
          == std::vector<std::int64_t>{utc_s(2026, 10, 25, 0), utc_s(2026, 10, 25, 2),
                                       utc_s(2026, 10, 25, 3)});
  }
  SECTION("asked from inside the second occurrence") {
    CHECK(ticks_s("30 2 * * *", paris, utc_s(2026, 10, 25, 1, 10), 1)
          == std::vector<std::int64_t>{utc_s(2026, 10, 26, 1, 30)});
  }
}
