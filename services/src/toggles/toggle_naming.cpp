#include "toggles/toggle_naming.hpp"

#include <fmt/format.h>

namespace microlith::detail {

std::optional<std::string> toggle_name_problem(std::string_view name) {
  if (name.empty())
    return std::string{"a toggle name cannot be empty"};
  if (name.size() > max_toggle_name)
    return fmt::format("a toggle name has at most {} characters, this one {}", max_toggle_name,
                       name.size());
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_or_digit(name.front()))
    return std::string{"a toggle name starts with a letter (a-z) or a digit"};
  for (char c : name)
    if (!lower_or_digit(c) && c != '_' && c != '.' && c != '-')
      return std::string{"a toggle name has only a-z, 0-9, '_', '.' and '-'"};
  if (name.find("..") != std::string_view::npos)
    return std::string{"a toggle name has no \"..\""};
  return std::nullopt;
}

} // namespace microlith::detail
