#include "jobs/cron_schedule.hpp"

#include "microlith/actors/error.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace microlith::detail {

namespace {

struct field_spec {
  const char* name;
  int low;
  int high;
  const char* const* names; ///< names of low.. (or null)
  int names_from;           ///< the value of names[0]
  int name_count;
};

constexpr const char* month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* weekday_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr field_spec fields[] = {
  {"minute", 0, 59, nullptr, 0, 0},           {"hour", 0, 23, nullptr, 0, 0},
  {"day-of-month", 1, 31, nullptr, 0, 0},     {"month", 1, 12, month_names, 1, 12},
  {"day-of-week", 0, 7, weekday_names, 0, 7},
};

std::string upper(std::string_view text) {
  std::string out{text};
  for (auto& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// Reads one field into `bits` (index = value); an error message, empty when it is right.
std::string read_field(const field_spec& f, std::string_view text, std::vector<bool>& bits) {
  const std::string expected_names =
    f.names != nullptr ? fmt::format(" or a name ({}-{})", f.names[0], f.names[f.name_count - 1])
                       : std::string{};
  auto value_of = [&](std::string_view v, int& out) -> std::string {
    if (v.empty())
      return fmt::format("{} has an empty value; expected a number {}-{}{}", f.name, f.low, f.high,
                         expected_names);
    if (std::all_of(v.begin(), v.end(),
                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
      if (v.size() > 4)
        return fmt::format("{} {} is out of range {}-{}", f.name, v, f.low, f.high);
      out = std::stoi(std::string{v});
      if (out < f.low || out > f.high)
        return fmt::format("{} {} is out of range {}-{}", f.name, out, f.low, f.high);
      return {};
    }
    const std::string u = upper(v);
    for (int i = 0; f.names != nullptr && i < f.name_count; ++i)
      if (u == f.names[i]) {
        out = f.names_from + i;
        return {};
      }
    return fmt::format("{} {:?} is not a number {}-{}{}", f.name, std::string{v}, f.low, f.high,
                       expected_names);
  };
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    const std::string_view item =
      text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    if (item.empty())
      return fmt::format("{} has an empty list item; expected values separated by ','", f.name);
    std::string_view range = item;
    int step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      const auto s = item.substr(slash + 1);
      if (s.empty() || s.size() > 4 || !std::all_of(s.begin(), s.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
          }))
        return fmt::format("{} step {:?} is not a number; expected */N or LOW-HIGH/N", f.name,
                           std::string{s});
      step = std::stoi(std::string{s});
      if (step < 1 || step > f.high)
        return fmt::format("{} step {} is out of range 1-{}", f.name, step, f.high);
    }
    int low = f.low;
    int high = f.high;
    if (range == "*") {
      if (f.high == 7) // day-of-week: * is 0-6 (7 is Sunday again)
        high = 6;
    } else if (const auto dash = range.find('-'); dash != std::string_view::npos) {
      if (auto e = value_of(range.substr(0, dash), low); !e.empty())
        return e;
      if (auto e = value_of(range.substr(dash + 1), high); !e.empty())
        return e;
      if (low > high)
        return fmt::format("{} range {} is reversed; expected LOW-HIGH with LOW <= HIGH", f.name,
                           std::string{range});
    } else {
      if (auto e = value_of(range, low); !e.empty())
        return e;
      // "5/15" is Vixie cron's "5-MAX/15".
      high = item.find('/') != std::string_view::npos ? f.high : low;
    }
    for (int v = low; v <= high; v += step)
      bits[static_cast<std::size_t>(v)] = true;
    if (comma == std::string_view::npos)
      return {};
    start = comma + 1;
  }
}

struct named_schedule {
  const char* name;
  const char* fields;
};

constexpr named_schedule named[] = {
  {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
  {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
  {"@hourly", "0 * * * *"},
};

constexpr std::int64_t search_years = 30;

} // namespace

caf::expected<cron_schedule> cron_schedule::parse(const std::string& text) {
  auto refuse = [&text](const std::string& why) {
    return make_error(errc::invalid_argument, fmt::format("{:?}: {}", text, why));
  };
  std::string expression = text;
  if (!text.empty() && text.front() == '@') {
    const auto* found = std::find_if(std::begin(named), std::end(named),
                                     [&](const auto& n) { return text == n.name; });
    if (found == std::end(named))
      return refuse("unknown name; expected one of @yearly, @annually, @monthly, @weekly, "
                    "@daily, @midnight, @hourly, or 5 fields");
    expression = found->fields;
  }
  std::istringstream in{expression};
  std::vector<std::string> parts;
  for (std::string part; in >> part;)
    parts.push_back(part);
  if (parts.size() != 5)
    return refuse(fmt::format("expected 5 fields (minute hour day-of-month month day-of-week) "
                              "or a name such as @daily, got {} field{}",
                              parts.size(), parts.size() == 1 ? "" : "s"));
  cron_schedule s;
  s.text_ = text;
  std::array<std::vector<bool>, 5> bits;
  for (std::size_t i = 0; i < 5; ++i) {
    bits[i].assign(static_cast<std::size_t>(fields[i].high) + 1, false);
    if (auto why = read_field(fields[i], parts[i], bits[i]); !why.empty())
      return refuse(why);
  }
  for (int v = 0; v < 60; ++v)
    s.minutes_[v] = bits[0][v];
  for (int v = 0; v < 24; ++v)
    s.hours_[v] = bits[1][v];
  for (int v = 1; v <= 31; ++v)
    s.days_[v] = bits[2][v];
  for (int v = 1; v <= 12; ++v)
    s.months_[v] = bits[3][v];
  for (int v = 0; v <= 6; ++v)
    s.weekdays_[v] = bits[4][v];
  if (bits[4][7])
    s.weekdays_[0] = true; // 7 is Sunday
  s.days_star_ = parts[2].front() == '*';
  s.weekdays_star_ = parts[4].front() == '*';
  // A day of month no chosen month has ("0 0 30 2 *") never runs: refuse it now. (With both
  // day fields restricted a matching weekday is enough, and every weekday comes.)
  if (s.weekdays_star_ && !s.days_star_) {
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m)
      for (int d = 1; d <= days_in_month(2000, m) && !possible; ++d) // 2000: Feb 29 counts
        possible = s.months_[m] && s.days_[d];
    if (!possible)
      return refuse(fmt::format("day-of-month {} never falls in month {}; the schedule would "
                                "never run",
                                parts[2], parts[3]));
  }
  return s;
}

bool cron_schedule::day_matches(std::int64_t year, int month, int day) const {
  const bool dom = days_[day];
  const bool dow = weekdays_[weekday_of_days(days_from_civil(year, month, day))];
  if (days_star_ || weekdays_star_)
    return dom && dow;
  return dom || dow;
}

bool cron_schedule::matches(const civil_time& t) const {
  return minutes_[t.minute] && hours_[t.hour] && months_[t.month]
         && day_matches(t.year, t.month, t.day);
}

std::optional<std::int64_t> cron_schedule::next_local_at_or_after(std::int64_t local) const {
  // Round up to a whole minute.
  std::int64_t start = local % 60 == 0 ? local : local - ((local % 60) + 60) % 60 + 60;
  civil_time t = civil_from_seconds(start);
  const std::int64_t last_year = t.year + search_years;
  while (t.year <= last_year) {
    if (!months_[t.month]) {
      t = civil_time{t.month == 12 ? t.year + 1 : t.year, t.month == 12 ? 1 : t.month + 1, 1};
      continue;
    }
    if (!day_matches(t.year, t.month, t.day)) {
      t = civil_from_seconds(days_from_civil(t.year, t.month, t.day) * 86400 + 86400);
      continue;
    }
    if (!hours_[t.hour]) {
      t = civil_from_seconds(seconds_from_civil(civil_time{t.year, t.month, t.day, t.hour}) + 3600);
      continue;
    }
    if (!minutes_[t.minute]) {
      t = civil_from_seconds(seconds_from_civil(t) + 60);
      continue;
    }
    return seconds_from_civil(t);
  }
  return std::nullopt;
}

std::optional<std::int64_t> cron_schedule::next_after(std::int64_t utc_ms,
                                                      const time_zone& zone) const {
  // Whole seconds, rounded down: a tick at second s is after utc_ms when s * 1000 > utc_ms.
  const std::int64_t utc = utc_ms >= 0 ? utc_ms / 1000 : -((-utc_ms + 999) / 1000);
  // The local minutes from the one holding `utc` on, each mapped to its instant (the first of a
  // repeated local time, the end of a gap): the first mapped after `utc` is the next tick. A
  // local time earlier than local(utc) cannot map after utc.
  std::int64_t local = zone.to_local(utc);
  local -= ((local % 60) + 60) % 60;
  for (int guard = 0; guard < 100000; ++guard) {
    auto tick = next_local_at_or_after(local);
    if (!tick)
      return std::nullopt;
    const std::int64_t at = zone.instant_of(*tick);
    if (at * 1000 > utc_ms)
      return at * 1000;
    local = *tick + 60;
  }
  return std::nullopt;
}

} // namespace microlith::detail
