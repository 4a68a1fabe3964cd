// Cron expressions (services/src/jobs/cron_schedule.hpp, docs/jobs.md "Cron"): the 5 fields
// with lists, ranges, steps and names, the @hourly-style names, Vixie cron's day rule, the next
// tick across month ends, Feb 29 and weekdays, and every mistake named with its field.
#include "jobs/cron_schedule.hpp"

#include <microlith/actors/error.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using microlith::detail::civil_time;
using microlith::detail::cron_schedule;
using microlith::detail::seconds_from_civil;
using microlith::detail::time_zone;

namespace {

std::int64_t utc_ms(std::int64_t y, int mo, int d, int h = 0, int mi = 0) {
  return seconds_from_civil(civil_time{y, mo, d, h, mi, 0}) * 1000;
}

cron_schedule parse(const std::string& text) {
  auto s = cron_schedule::parse(text);
  if (!s)
    FAIL(microlith::describe(s.error()));
  return *s;
}

// The first `n` ticks of `text` in UTC after `from`.
std::vector<std::int64_t> ticks(const std::string& text, std::int64_t from, int n) {
  auto s = parse(text);
  std::vector<std::int64_t> out;
  auto zone = time_zone::utc();
  for (int i = 0; i < n; ++i) {
    auto next = s.next_after(from, zone);
    REQUIRE(next);
    out.push_back(*next);
    from = *next;
  }
  return out;
}

std::string error_of(const std::string& text) {
  auto s = cron_schedule::parse(text);
  REQUIRE_FALSE(s);
  CHECK(microlith::is(s.error(), microlith::errc::invalid_argument));
  return microlith::message_of(s.error());
}

} // namespace

TEST_CASE("cron steps lists and ranges give the ticks they name", "[unit]") {
  const auto from = utc_ms(2026, 1, 1, 10, 0);
  SECTION("*/15 is every quarter hour") {
    CHECK(ticks("*/15 * * * *", from, 4)
          == std::vector<std::int64_t>{utc_ms(2026, 1, 1, 10, 15), utc_ms(2026, 1, 1, 10, 30),
                                       utc_ms(2026, 1, 1, 10, 45), utc_ms(2026, 1, 1, 11, 0)});
  }
  SECTION("1-5/2 is 1 3 and 5") {
    CHECK(ticks("1-5/2 10 * * *", from, 4)
          == std::vector<std::int64_t>{utc_ms(2026, 1, 1, 10, 1), utc_ms(2026, 1, 1, 10, 3),
                                       utc_ms(2026, 1, 1, 10, 5), utc_ms(2026, 1, 2, 10, 1)});
  }
  SECTION("5/15 is 5-59/15") {
    CHECK(ticks("5/15 * * * *", from, 4)
          == std::vector<std::int64_t>{utc_ms(2026, 1, 1, 10, 5), utc_ms(2026, 1, 1, 10, 20),
                                       utc_ms(2026, 1, 1, 10, 35), utc_ms(2026, 1, 1, 10, 50)});
  }
  SECTION("a list of values and ranges") {
    CHECK(ticks("0 1,3,20-21 * * *", from, 4)
          == std::vector<std::int64_t>{utc_ms(2026, 1, 1, 20, 0), utc_ms(2026, 1, 1, 21, 0),
                                       utc_ms(2026, 1, 2, 1, 0), utc_ms(2026, 1, 2, 3, 0)});
  }
  SECTION("the next tick is strictly after the instant") {
    CHECK(ticks("0 10 * * *", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 1, 2, 10, 0)});
    CHECK(ticks("0 10 * * *", from - 1, 1) == std::vector<std::int64_t>{from});
  }
}

TEST_CASE("cron month and weekday names and Sunday as 0 or 7", "[unit]") {
  // 2026-01-01 is a Thursday.
  const auto from = utc_ms(2026, 1, 1);
  CHECK(ticks("0 0 1 mar,Jun *", from, 2)
        == std::vector<std::int64_t>{utc_ms(2026, 3, 1), utc_ms(2026, 6, 1)});
  CHECK(ticks("0 9 * * MON-FRI", from, 3)
        == std::vector<std::int64_t>{utc_ms(2026, 1, 1, 9), utc_ms(2026, 1, 2, 9),
                                     utc_ms(2026, 1, 5, 9)});
  CHECK(ticks("0 0 * * 0", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 1, 4)});
  CHECK(ticks("0 0 * * 7", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 1, 4)});
  CHECK(ticks("0 0 * * SUN", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 1, 4)});
  CHECK(ticks("0 0 * * 5-7", from, 3)
        == std::vector<std::int64_t>{utc_ms(2026, 1, 2), utc_ms(2026, 1, 3), utc_ms(2026, 1, 4)});
}

TEST_CASE("cron names stand for their expressions", "[unit]") {
  const auto from = utc_ms(2026, 5, 5, 5, 5);
  CHECK(ticks("@yearly", from, 1) == std::vector<std::int64_t>{utc_ms(2027, 1, 1)});
  CHECK(ticks("@annually", from, 1) == std::vector<std::int64_t>{utc_ms(2027, 1, 1)});
  CHECK(ticks("@monthly", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 6, 1)});
  CHECK(ticks("@weekly", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 5, 10)});
  CHECK(ticks("@daily", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 5, 6)});
  CHECK(ticks("@midnight", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 5, 6)});
  CHECK(ticks("@hourly", from, 1) == std::vector<std::int64_t>{utc_ms(2026, 5, 5, 6)});
}

TEST_CASE("cron Feb 29 comes every leap year only", "[unit]") {
  CHECK(
    ticks("0 0 29 2 *", utc_ms(2025, 3, 1), 3)
    == std::vector<std::int64_t>{utc_ms(2028, 2, 29), utc_ms(2032, 2, 29), utc_ms(2036, 2, 29)});
  // 2100 is not a leap year.
  CHECK(ticks("0 0 29 2 *", utc_ms(2096, 3, 1), 1)
        == std::vector<std::int64_t>{utc_ms(2104, 2, 29)});
}

TEST_CASE("cron the 31st runs only in months that have one", "[unit]") {
  CHECK(ticks("0 0 31 * *", utc_ms(2026, 1, 31, 1), 4)
        == std::vector<std::int64_t>{utc_ms(2026, 3, 31), utc_ms(2026, 5, 31), utc_ms(2026, 7, 31),
                                     utc_ms(2026, 8, 31)});
}

TEST_CASE("cron day-of-month and day-of-week both restricted match either", "[unit]") {
  // 2026-02-13 is a Friday; 2026-01-02 a Friday.
  SECTION("both restricted: the 13th or a Friday") {
    CHECK(
      ticks("0 0 13 * FRI", utc_ms(2026, 1, 1), 3)
      == std::vector<std::int64_t>{utc_ms(2026, 1, 2), utc_ms(2026, 1, 9), utc_ms(2026, 1, 13)});
  }
  SECTION("day-of-week * : every 13th") {
    CHECK(ticks("0 0 13 * *", utc_ms(2026, 1, 1), 2)
          == std::vector<std::int64_t>{utc_ms(2026, 1, 13), utc_ms(2026, 2, 13)});
  }
  SECTION("day-of-month * : every Friday") {
    CHECK(ticks("0 0 * * FRI", utc_ms(2026, 1, 1), 2)
          == std::vector<std::int64_t>{utc_ms(2026, 1, 2), utc_ms(2026, 1, 9)});
  }
  SECTION("a field starting with * counts as unrestricted: */2 AND Friday") {
    // Vixie cron: "*/2" begins with '*', so both fields must match (odd days that are Fridays).
    CHECK(ticks("0 0 */2 * FRI", utc_ms(2026, 1, 1), 2)
          == std::vector<std::int64_t>{utc_ms(2026, 1, 9), utc_ms(2026, 1, 23)});
  }
}

TEST_CASE("cron mistakes name the field and what was expected", "[unit]") {
  CHECK(error_of("61 * * * *") == "\"61 * * * *\": minute 61 is out of range 0-59");
  CHECK(error_of("* 24 * * *") == "\"* 24 * * *\": hour 24 is out of range 0-23");
  CHECK(error_of("* * 0 * *") == "\"* * 0 * *\": day-of-month 0 is out of range 1-31");
  CHECK(error_of("* * * 13 *") == "\"* * * 13 *\": month 13 is out of range 1-12");
  CHECK(error_of("* * * * 8") == "\"* * * * 8\": day-of-week 8 is out of range 0-7");
  CHECK_THAT(error_of("* * * FOO *"),
             Catch::Matchers::Contains("month \"FOO\" is not a number 1-12 or a name (JAN-DEC)"));
  CHECK_THAT(error_of("* * * * MONDAY"),
             Catch::Matchers::Contains("day-of-week \"MONDAY\" is not a number 0-7 or a name"));
  CHECK_THAT(error_of("*/0 * * * *"), Catch::Matchers::Contains("minute step 0 is out of range"));
  CHECK_THAT(error_of("*/x * * * *"),
             Catch::Matchers::Contains("minute step \"x\" is not a number"));
  CHECK_THAT(error_of("30-10 * * * *"),
             Catch::Matchers::Contains("minute range 30-10 is reversed"));
  CHECK_THAT(error_of("1,,2 * * * *"), Catch::Matchers::Contains("minute has an empty list item"));
  CHECK_THAT(error_of("* * * *"),
             Catch::Matchers::Contains("expected 5 fields (minute hour day-of-month month "
                                       "day-of-week) or a name such as @daily, got 4 fields"));
  CHECK_THAT(error_of(""), Catch::Matchers::Contains("got 0 fields"));
  CHECK_THAT(error_of("@every 5m"), Catch::Matchers::Contains("unknown name; expected one of "
                                                              "@yearly"));
  CHECK_THAT(error_of("0 0 30 2 *"),
             Catch::Matchers::Contains("day-of-month 30 never falls in month 2"));
}
