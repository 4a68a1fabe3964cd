#include "detail/listen_address.hpp"

namespace microlith::detail {

std::optional<listen_address> parse_listen(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return std::nullopt;
  }
  if (host.empty() || port.empty() || port.size() > 5)
    return std::nullopt;
  for (char c : host)
    if (c == ' ' || c == '\t' || c == '[' || c == ']' || c == '/')
      return std::nullopt;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > 65535)
    return std::nullopt;
  return listen_address{std::string(host), static_cast<std::uint16_t>(value)};
}

} // namespace microlith::detail
