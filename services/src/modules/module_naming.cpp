#include "modules/module_naming.hpp"

#include <algorithm>

namespace microlith::detail {

namespace {

constexpr std::size_t max_name_size = 128;
constexpr std::size_t max_version_size = 64;

bool is_module_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}

} // namespace

std::optional<std::string> module_name_problem(std::string_view name) {
  constexpr std::string_view expectation =
    "expected lowercase letters, digits, '_' and '.', not starting with '.' and without \"..\"";
  if (name.empty())
    return std::string("expected a non-empty name: ").append(expectation);
  if (name.size() > max_name_size)
    return "expected at most " + std::to_string(max_name_size) + " characters, got "
           + std::to_string(name.size());
  if (!std::all_of(name.begin(), name.end(), is_module_name_char) || name.front() == '.'
      || name.find("..") != std::string_view::npos)
    return std::string(expectation);
  return std::nullopt;
}

std::optional<std::string> module_version_problem(std::string_view version) {
  constexpr std::string_view expectation =
    "expected numbers separated by single dots, such as \"1.2.0\"";
  if (version.size() > max_version_size)
    return "expected at most " + std::to_string(max_version_size) + " characters, got "
           + std::to_string(version.size());
  bool after_digit = false; // the last character was a digit
  for (char c : version) {
    if (is_digit(c)) {
      after_digit = true;
    } else if (c == '.' && after_digit) {
      after_digit = false;
    } else {
      return std::string(expectation);
    }
  }
  if (!after_digit) // empty, or ending with a dot
    return std::string(expectation);
  return std::nullopt;
}

} // namespace microlith::detail
