#include "microlith/net/gateway/toggle_overrides_header.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

#include <string>

namespace microlith::gateway {

namespace {

// Text from the client shown in an error: quoted, bytes that are not printable ASCII as \xNN,
// cut after 64 bytes.
std::string shown(std::string_view text) {
  constexpr std::size_t max_shown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < max_shown; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  out += text.size() > max_shown ? "...\"" : "\"";
  return out;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

caf::error refuse(std::string why) {
  return make_error(errc::bad_request, fmt::format("{}: {}", toggle_overrides_header, why));
}

constexpr std::string_view expected_form =
  "expected NAME=on or NAME=off, items separated by commas";

} // namespace

caf::expected<toggle_overrides> parse_toggle_overrides_header(std::string_view value,
                                                              const toggle_snapshot& declared) {
  if (value.size() > max_toggle_overrides_header)
    return refuse(fmt::format("{} bytes; at most {}", value.size(), max_toggle_overrides_header));
  // Count the items before reading any: a long list is refused as a whole.
  std::size_t items = 1;
  for (char c : value)
    items += c == ',' ? 1 : 0;
  if (items > max_toggle_overrides)
    return refuse(fmt::format("{} items; at most {}", items, max_toggle_overrides));
  toggle_overrides out;
  out.reserve(items);
  std::size_t number = 0;
  while (true) {
    ++number;
    const auto comma = value.find(',');
    const auto item = trimmed(value.substr(0, comma));
    if (item.empty())
      return refuse(fmt::format("item {} is empty; {}", number, expected_form));
    const auto equals = item.find('=');
    if (equals == std::string_view::npos)
      return refuse(fmt::format("item {} has no value; {}", shown(item), expected_form));
    const auto name = trimmed(item.substr(0, equals));
    const auto setting = trimmed(item.substr(equals + 1));
    if (name.empty())
      return refuse(fmt::format("item {} has no name; {}", shown(item), expected_form));
    if (setting != "on" && setting != "off")
      return refuse(
        fmt::format("{} has value {}; expected on or off", shown(name), shown(setting)));
    if (declared.find(name) == nullptr)
      return refuse(fmt::format("{} is not a declared toggle", shown(name)));
    if (find_toggle_override(out, name) != nullptr)
      return refuse(fmt::format("{} is given more than once", shown(name)));
    out.push_back({std::string(name), setting == "on"});
    if (comma == std::string_view::npos)
      break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

} // namespace microlith::gateway
