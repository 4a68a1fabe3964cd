#include "detail/toml_text.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace microlith::detail {

namespace {

bool is_bare_key(std::string_view key) noexcept {
  return !key.empty()
         && std::all_of(key.begin(), key.end(), [](char c) { return c != '.' && is_name_char(c); });
}

} // namespace

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
         || c == '.' || c == '-';
}

std::string quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
        else
          out += c;
    }
  }
  out += '"';
  return out;
}

std::string join_key(std::string_view parent, std::string_view child) {
  std::string piece = is_bare_key(child) ? std::string(child) : quote(child);
  if (parent.empty())
    return piece;
  return fmt::format("{}.{}", parent, piece);
}

std::string type_description(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string describe_value(const toml::node& node) {
  if (const auto* s = node.as_string())
    return quote(s->get());
  if (const auto* i = node.as_integer())
    return fmt::format("{}", i->get());
  if (const auto* f = node.as_floating_point())
    return fmt::format("{}", f->get());
  return type_description(node);
}

} // namespace microlith::detail
