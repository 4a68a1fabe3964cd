// Leveled logging for microlith and its services: one line per event on stderr, formatted with
// fmt, naming the component and the correlation id when there is one:
//   2026-11-23T10:04:05.123Z info  accounts [c=7f3a9c] transfer a -> b: 25
// The level is process-wide (the system file's log_level sets it); lines below it cost one
// relaxed atomic load.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

namespace microlith::log {

/// Severity, lowest first.
enum class level : int { trace = 0, debug = 1, info = 2, warn = 3, error = 4, off = 5 };

/// The name of a level ("info").
std::string_view to_string(level x) noexcept;

/// Parses "trace", "debug", "info", "warn", "error" or "off".
std::optional<level> parse_level(std::string_view text) noexcept;

namespace detail {
extern std::atomic<int> threshold;
void write(level lvl, std::string_view component, std::string_view correlation_id,
           std::string_view text);
} // namespace detail

/// Sets the lowest level that is written.
void set_level(level lvl) noexcept;

/// The lowest level that is written.
level current_level() noexcept;

/// True when a line at `lvl` would be written.
inline bool enabled(level lvl) noexcept {
  return static_cast<int>(lvl) >= detail::threshold.load(std::memory_order_relaxed);
}

/// Writes one line at `lvl` for `component`, with the correlation id when it is not empty.
template <class... Ts>
void write(level lvl, std::string_view component, std::string_view correlation_id,
           fmt::format_string<Ts...> format, Ts&&... args) {
  if (enabled(lvl))
    detail::write(lvl, component, correlation_id, fmt::format(format, std::forward<Ts>(args)...));
}

/// Writes an info line with no correlation id.
template <class... Ts>
void info(std::string_view component, fmt::format_string<Ts...> format, Ts&&... args) {
  write(level::info, component, {}, format, std::forward<Ts>(args)...);
}

/// Writes a warning line with no correlation id.
template <class... Ts>
void warn(std::string_view component, fmt::format_string<Ts...> format, Ts&&... args) {
  write(level::warn, component, {}, format, std::forward<Ts>(args)...);
}

/// Writes an error line with no correlation id.
template <class... Ts>
void error(std::string_view component, fmt::format_string<Ts...> format, Ts&&... args) {
  write(level::error, component, {}, format, std::forward<Ts>(args)...);
}

/// Writes a debug line with no correlation id.
template <class... Ts>
void debug(std::string_view component, fmt::format_string<Ts...> format, Ts&&... args) {
  write(level::debug, component, {}, format, std::forward<Ts>(args)...);
}

} // namespace microlith::log
