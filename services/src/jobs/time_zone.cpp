#include "jobs/time_zone.hpp"

#include "microlith/actors/error.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include <fmt/format.h>

namespace microlith::detail {

namespace {

constexpr std::int64_t day_seconds = 86400;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

bool is_leap(std::int64_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/// Reads the POSIX TZ string `text` from `pos` on.
class posix_reader {
public:
  explicit posix_reader(const std::string& text) : text_(text) {}

  bool done() const { return pos_ == text_.size(); }
  bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }
  bool take(char c) {
    if (!peek(c))
      return false;
    ++pos_;
    return true;
  }

  /// A zone abbreviation: three or more letters, or <...> with letters, digits, '+' and '-'.
  bool name() {
    if (take('<')) {
      const auto close = text_.find('>', pos_);
      if (close == std::string::npos || close - pos_ < 3)
        return false;
      pos_ = close + 1;
      return true;
    }
    std::size_t n = 0;
    while (pos_ < text_.size() && std::isalpha(static_cast<unsigned char>(text_[pos_])) != 0) {
      ++pos_;
      ++n;
    }
    return n >= 3;
  }

  bool number(std::int64_t& out, int max) {
    std::size_t n = 0;
    out = 0;
    while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_])) != 0
           && n < 4) {
      out = out * 10 + (text_[pos_] - '0');
      ++pos_;
      ++n;
    }
    return n > 0 && out <= max;
  }

  /// [+-]hh[:mm[:ss]] in seconds, hours up to `max_hours`.
  bool duration(std::int64_t& out, int max_hours) {
    const bool negative = take('-');
    if (!negative)
      take('+');
    std::int64_t h = 0;
    std::int64_t m = 0;
    std::int64_t s = 0;
    if (!number(h, max_hours))
      return false;
    if (take(':') && (!number(m, 59) || (take(':') && !number(s, 59))))
      return false;
    out = (h * 3600 + m * 60 + s) * (negative ? -1 : 1);
    return true;
  }

  bool date(tz_rule_date& out) {
    std::int64_t v = 0;
    if (take('M')) {
      std::int64_t w = 0;
      std::int64_t d = 0;
      if (!number(v, 12) || v < 1 || !take('.') || !number(w, 5) || w < 1 || !take('.')
          || !number(d, 6))
        return false;
      out.kind = tz_rule_date::month_week_day;
      out.month = static_cast<int>(v);
      out.week = static_cast<int>(w);
      out.day = static_cast<int>(d);
    } else if (take('J')) {
      if (!number(v, 365) || v < 1)
        return false;
      out.kind = tz_rule_date::julian_no_leap;
      out.day = static_cast<int>(v);
    } else {
      if (!number(v, 365))
        return false;
      out.kind = tz_rule_date::zero_based;
      out.day = static_cast<int>(v);
    }
    out.time = 7200;
    if (take('/'))
      return duration(out.time, 167);
    return true;
  }

private:
  const std::string& text_;
  std::size_t pos_ = 0;
};

/// Local seconds of midnight starting the day `date` names in `year`.
std::int64_t rule_day(const tz_rule_date& date, std::int64_t year) {
  const std::int64_t jan1 = days_from_civil(year, 1, 1);
  switch (date.kind) {
    case tz_rule_date::julian_no_leap:
      return (jan1 + date.day - 1 + (is_leap(year) && date.day >= 60 ? 1 : 0)) * day_seconds;
    case tz_rule_date::zero_based: return (jan1 + date.day) * day_seconds;
    case tz_rule_date::month_week_day: break;
  }
  const std::int64_t first = days_from_civil(year, date.month, 1);
  int day = 1 + (date.day - weekday_of_days(first) + 7) % 7 + (date.week - 1) * 7;
  while (day > days_in_month(year, date.month))
    day -= 7;
  return (first + day - 1) * day_seconds;
}

std::uint32_t be32(const std::string& b, std::size_t at) {
  return (std::uint32_t(static_cast<unsigned char>(b[at])) << 24)
         | (std::uint32_t(static_cast<unsigned char>(b[at + 1])) << 16)
         | (std::uint32_t(static_cast<unsigned char>(b[at + 2])) << 8)
         | std::uint32_t(static_cast<unsigned char>(b[at + 3]));
}

std::int64_t be64(const std::string& b, std::size_t at) {
  return static_cast<std::int64_t>((std::uint64_t(be32(b, at)) << 32) | be32(b, at + 4));
}

bool valid_zone_name(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.size() > 255)
    return false;
  for (char c : name)
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '/' && c != '_' && c != '-'
        && c != '+')
      return false;
  std::stringstream parts{name};
  std::string part;
  while (std::getline(parts, part, '/'))
    if (part.empty() || part == "..")
      return false;
  return name.back() != '/';
}

} // namespace

std::int64_t days_from_civil(std::int64_t year, int month, int day) {
  // Howard Hinnant's days_from_civil.
  year -= month <= 2 ? 1 : 0;
  const std::int64_t era = floor_div(year, 400);
  const std::int64_t yoe = year - era * 400;
  const std::int64_t mp = (month + 9) % 12;
  const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

civil_time civil_from_seconds(std::int64_t seconds) {
  const std::int64_t days = floor_div(seconds, day_seconds);
  const std::int64_t rest = seconds - days * day_seconds;
  const std::int64_t z = days + 719468;
  const std::int64_t era = floor_div(z, 146097);
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  civil_time t;
  t.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  t.year = yoe + era * 400 + (t.month <= 2 ? 1 : 0);
  t.hour = static_cast<int>(rest / 3600);
  t.minute = static_cast<int>(rest % 3600 / 60);
  t.second = static_cast<int>(rest % 60);
  return t;
}

std::int64_t seconds_from_civil(const civil_time& t) {
  return days_from_civil(t.year, t.month, t.day) * day_seconds + t.hour * 3600 + t.minute * 60
         + t.second;
}

int weekday_of_days(std::int64_t days) {
  return static_cast<int>(((days % 7) + 11) % 7); // 1970-01-01 was a Thursday (4)
}

int days_in_month(std::int64_t year, int month) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap(year) ? 29 : days[month - 1];
}

std::optional<posix_tz_rule> parse_posix_tz(const std::string& text) {
  posix_reader r{text};
  posix_tz_rule rule;
  std::int64_t west = 0;
  if (!r.name() || !r.duration(west, 24))
    return std::nullopt;
  rule.std_offset = -west;
  if (r.done())
    return rule;
  if (!r.name())
    return std::nullopt;
  rule.has_dst = true;
  rule.dst_offset = rule.std_offset + 3600;
  if (!r.done() && !r.peek(',')) {
    if (!r.duration(west, 24))
      return std::nullopt;
    rule.dst_offset = -west;
  }
  if (r.done()) {
    // No rule given: POSIX leaves it to the implementation; the US rule, as glibc and tzcode.
    rule.start = tz_rule_date{tz_rule_date::month_week_day, 0, 3, 2, 7200};
    rule.end = tz_rule_date{tz_rule_date::month_week_day, 0, 11, 1, 7200};
    return rule;
  }
  if (!r.take(',') || !r.date(rule.start) || !r.take(',') || !r.date(rule.end) || !r.done())
    return std::nullopt;
  return rule;
}

time_zone time_zone::utc() {
  time_zone z;
  z.name_ = "UTC";
  return z;
}

caf::expected<time_zone> time_zone::load(const std::string& name,
                                         const std::filesystem::path& root) {
  if (name == "UTC")
    return utc();
  if (!valid_zone_name(name))
    return make_error(errc::invalid_argument,
                      fmt::format("time zone {:?} is not an IANA time zone name such as "
                                  "\"Europe/Paris\" or \"UTC\"",
                                  name));
  const auto file = root / name;
  std::ifstream in{file, std::ios::binary};
  if (!in || std::filesystem::is_directory(file))
    return make_error(errc::not_found,
                      fmt::format("unknown time zone {:?}: no file {} (the IANA time zone "
                                  "database, Debian package tzdata)",
                                  name, file.string()));
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return from_tzif(name, bytes);
}

caf::expected<time_zone> time_zone::from_tzif(const std::string& name, const std::string& b) {
  auto bad = [&name](std::string_view why) {
    return make_error(errc::invalid_argument,
                      fmt::format("time zone {:?}: not a TZif file: {}", name, why));
  };
  if (b.size() < 44 || b.compare(0, 4, "TZif") != 0)
    return bad("no TZif header");
  struct counts {
    std::uint32_t isut, isstd, leap, time, type, chars;
  };
  auto counts_at = [&b](std::size_t at) {
    return counts{be32(b, at + 20), be32(b, at + 24), be32(b, at + 28),
                  be32(b, at + 32), be32(b, at + 36), be32(b, at + 40)};
  };
  const char version = b[4];
  std::size_t at = 0;
  counts c = counts_at(0);
  std::size_t time_size = 4;
  auto block_size = [](const counts& n, std::size_t t) {
    return std::size_t(n.time) * t + n.time + std::size_t(n.type) * 6 + n.chars
           + std::size_t(n.leap) * (t + 4) + n.isstd + n.isut;
  };
  if (version >= '2') {
    at = 44 + block_size(c, 4);
    if (b.size() < at + 44 || b.compare(at, 4, "TZif") != 0)
      return bad("no second (64-bit) header");
    c = counts_at(at);
    time_size = 8;
  }
  std::size_t data = at + 44;
  if (b.size() < data + block_size(c, time_size))
    return bad("truncated data");
  if (c.type == 0)
    return bad("no local time type");
  time_zone z;
  z.name_ = name;
  std::vector<std::int64_t> type_offsets;
  const std::size_t idx_at = data + std::size_t(c.time) * time_size;
  const std::size_t type_at = idx_at + c.time;
  for (std::uint32_t i = 0; i < c.type; ++i)
    type_offsets.push_back(static_cast<std::int32_t>(be32(b, type_at + i * 6)));
  for (std::uint32_t i = 0; i < c.time; ++i) {
    const std::int64_t t =
      time_size == 8 ? be64(b, data + i * 8) : static_cast<std::int32_t>(be32(b, data + i * 4));
    const auto idx = static_cast<unsigned char>(b[idx_at + i]);
    if (idx >= c.type)
      return bad("a transition names a missing local time type");
    if (!z.times_.empty() && t <= z.times_.back())
      return bad("transitions out of order");
    z.times_.push_back(t);
    z.offsets_.push_back(type_offsets[idx]);
  }
  z.initial_ = type_offsets[0];
  if (time_size == 8) {
    const std::size_t footer = data + block_size(c, 8);
    if (footer < b.size() && b[footer] == '\n') {
      const auto end = b.find('\n', footer + 1);
      if (end == std::string::npos)
        return bad("unterminated footer");
      const std::string tz = b.substr(footer + 1, end - footer - 1);
      if (!tz.empty()) {
        z.rule_ = parse_posix_tz(tz);
        if (!z.rule_)
          return bad(fmt::format("footer {:?} is not a POSIX TZ rule this reader understands", tz));
      }
    }
  }
  return z;
}

std::vector<time_zone::transition> time_zone::rule_transitions(std::int64_t year) const {
  const auto& r = *rule_;
  transition start{rule_day(r.start, year) + r.start.time - r.std_offset, r.std_offset,
                   r.dst_offset};
  transition end{rule_day(r.end, year) + r.end.time - r.dst_offset, r.dst_offset, r.std_offset};
  if (end.at < start.at)
    return {end, start};
  return {start, end};
}

std::int64_t time_zone::offset_at(std::int64_t utc) const {
  const bool by_rule = rule_ && (times_.empty() || utc >= times_.back());
  if (!by_rule) {
    if (times_.empty() || utc < times_.front())
      return initial_;
    const auto i = std::upper_bound(times_.begin(), times_.end(), utc) - times_.begin();
    return offsets_[static_cast<std::size_t>(i - 1)];
  }
  if (!rule_->has_dst)
    return rule_->std_offset;
  const std::int64_t year = civil_from_seconds(utc + rule_->std_offset).year;
  std::vector<transition> around;
  for (std::int64_t y = year - 1; y <= year + 1; ++y)
    for (const auto& t : rule_transitions(y))
      around.push_back(t);
  std::int64_t offset = around.front().before;
  for (const auto& t : around)
    if (t.at <= utc)
      offset = t.after;
  return offset;
}

std::vector<time_zone::transition> time_zone::transitions_between(std::int64_t from,
                                                                  std::int64_t to) const {
  std::vector<transition> out;
  const auto first = std::lower_bound(times_.begin(), times_.end(), from) - times_.begin();
  for (auto i = static_cast<std::size_t>(first); i < times_.size() && times_[i] <= to; ++i)
    out.push_back(transition{times_[i], i == 0 ? initial_ : offsets_[i - 1], offsets_[i]});
  if (rule_ && rule_->has_dst) {
    const std::int64_t table_end = times_.empty() ? from - 1 : times_.back();
    const std::int64_t y0 = civil_from_seconds(from).year - 1;
    const std::int64_t y1 = civil_from_seconds(to).year + 1;
    for (std::int64_t y = y0; y <= y1; ++y)
      for (const auto& t : rule_transitions(y))
        if (t.at > table_end && t.at >= from && t.at <= to)
          out.push_back(t);
  }
  return out;
}

std::int64_t time_zone::instant_of(std::int64_t local) const {
  // Offsets are within a day of UTC: the instants of `local` lie within two days of it.
  const std::int64_t from = local - 2 * day_seconds;
  const std::int64_t to = local + 2 * day_seconds;
  const auto around = transitions_between(from, to);
  std::set<std::int64_t> offsets{offset_at(from)};
  for (const auto& t : around)
    offsets.insert(t.after);
  std::optional<std::int64_t> earliest;
  for (auto o : offsets) {
    const std::int64_t u = local - o;
    if (offset_at(u) == o && (!earliest || u < *earliest))
      earliest = u;
  }
  if (earliest)
    return *earliest;
  // In a gap: the clocks jumped over `local` at a transition; the first instant after it.
  for (const auto& t : around)
    if (t.after > t.before && t.at + t.before <= local && local < t.at + t.after)
      return t.at;
  return local - offset_at(local);
}

} // namespace microlith::detail
