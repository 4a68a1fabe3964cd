#include "microlith/actors/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace microlith::log {

namespace detail {

std::atomic<int> threshold{static_cast<int>(level::info)};

void write(level lvl, std::string_view component, std::string_view correlation_id,
           std::string_view text) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto millis = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  fmt::memory_buffer line;
  fmt::format_to(std::back_inserter(line), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:<5} {}",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 millis, to_string(lvl), component);
  if (!correlation_id.empty())
    fmt::format_to(std::back_inserter(line), " [c={}]", correlation_id);
  line.push_back(' ');
  line.append(text);
  line.push_back('\n');
  // One fwrite per line: stdio locks the stream, so lines from threads never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace detail

std::string_view to_string(level x) noexcept {
  switch (x) {
    case level::trace: return "trace";
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warn: return "warn";
    case level::error: return "error";
    case level::off: return "off";
  }
  return "?";
}

std::optional<level> parse_level(std::string_view text) noexcept {
  for (auto x : {level::trace, level::debug, level::info, level::warn, level::error, level::off})
    if (text == to_string(x))
      return x;
  return std::nullopt;
}

void set_level(level lvl) noexcept {
  detail::threshold.store(static_cast<int>(lvl), std::memory_order_relaxed);
}

level current_level() noexcept {
  return static_cast<level>(detail::threshold.load(std::memory_order_relaxed));
}

} // namespace microlith::log
