// A JSON string literal for text the gateway writes into its own JSON (topics, notices).
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace microlith::gateway {

/// `text` as a quoted JSON string, with quotes, backslashes and control characters escaped.
inline std::string json_quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20)
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        else
          out += c;
    }
  }
  out += '"';
  return out;
}

} // namespace microlith::gateway
