#include "microlith/net/http/http_url.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace microlith::http {

namespace {

caf::error bad_url(std::string_view url, std::string_view why) {
  return make_error(errc::invalid_argument,
                    fmt::format("bad URL \"{}\": {}; expected http://host[:port][/path] or "
                                "https://host[:port][/path]",
                                url, why));
}

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

} // namespace

std::string http_url::host_header() const {
  auto name = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  auto standard = tls() ? 443 : 80;
  return port == standard ? name : fmt::format("{}:{}", name, port);
}

std::string http_url::origin() const {
  return fmt::format("{}://{}:{}", scheme, host, port);
}

std::string http_url::text() const {
  return fmt::format("{}://{}{}", scheme, host_header(), target);
}

caf::expected<http_url> parse_http_url(std::string_view url) {
  http_url out;
  auto sep = url.find("://");
  if (sep == std::string_view::npos)
    return bad_url(url, "no scheme");
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https")
    return bad_url(url, fmt::format("scheme \"{}\" is not http or https", out.scheme));
  auto rest = url.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, end);
  auto target = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  if (auto hash = target.find('#'); hash != std::string_view::npos)
    target = target.substr(0, hash);
  if (authority.find('@') != std::string_view::npos)
    return bad_url(url, "user info is not supported (send an Authorization header)");
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return bad_url(url, "unclosed [ in the host");
    out.host = std::string{authority.substr(1, close - 1)};
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return bad_url(url, "text after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    out.host = lower(authority.substr(0, colon));
    if (colon != std::string_view::npos)
      port_text = authority.substr(colon + 1);
  }
  if (out.host.empty())
    return bad_url(url, "no host");
  out.port = out.tls() ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || value == 0
        || value > 65535)
      return bad_url(url, fmt::format("port \"{}\" is not 1..65535", port_text));
    out.port = static_cast<std::uint16_t>(value);
  }
  if (target.empty())
    out.target = "/";
  else if (target.front() == '?')
    out.target = "/" + std::string{target};
  else
    out.target = std::string{target};
  for (char c : out.target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return bad_url(url, "a space or control character in the path");
  return out;
}

caf::expected<http_url> resolve_location(const http_url& base, std::string_view location) {
  if (location.find("://") != std::string_view::npos)
    return parse_http_url(location);
  if (location.substr(0, 2) == "//")
    return parse_http_url(base.scheme + ":" + std::string{location});
  if (location.empty() || location.front() != '/')
    return make_error(errc::invalid_argument,
                      fmt::format("redirect to \"{}\" from {}: a Location must be an absolute URL "
                                  "or a path from the root",
                                  location, base.text()));
  auto out = base;
  out.target = std::string{location};
  return out;
}

} // namespace microlith::http
