#include "gateway/admin_guard.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace microlith::gateway {

namespace {

/// True for RFC 6750's b64token characters (token68 without the trailing '=').
bool token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
         || std::string_view{"-._~+/"}.find(c) != std::string_view::npos;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

// The items of a comma-separated header list, without the spaces around them.
template <class Visit>
void for_each_item(std::string_view list, Visit visit) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    item.remove_prefix(std::min(item.find_first_not_of(" \t"), item.size()));
    item = item.substr(0, item.find_last_not_of(" \t") + 1);
    if (!item.empty() && visit(item))
      return;
  }
}

// The value of a base64url digit, or -1.
int base64url_digit(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

} // namespace

std::optional<std::string> subprotocol_token(std::string_view protocols, std::string_view prefix) {
  std::optional<std::string_view> encoded;
  for_each_item(protocols, [&](std::string_view item) {
    if (item.size() < prefix.size() || item.substr(0, prefix.size()) != prefix)
      return false;
    encoded = item.substr(prefix.size());
    return true;
  });
  if (!encoded || encoded->empty() || encoded->size() % 4 == 1)
    return std::nullopt;
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (char c : *encoded) {
    auto digit = base64url_digit(c);
    if (digit < 0)
      return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(digit);
    held += 6;
    if (held >= 8) {
      held -= 8;
      out.push_back(static_cast<char>((bits >> held) & 0xff));
    }
  }
  return out;
}

bool offers_subprotocol(std::string_view protocols, std::string_view name) {
  bool found = false;
  for_each_item(protocols, [&](std::string_view item) { return found = item == name; });
  return found;
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view scheme = "bearer";
  if (authorization.size() <= scheme.size() || !iequal(authorization.substr(0, 6), scheme)
      || authorization[6] != ' ')
    return std::nullopt;
  auto token = authorization.substr(scheme.size());
  token.remove_prefix(std::min(token.find_first_not_of(' '), token.size()));
  auto end = token.find_last_not_of('=');
  if (token.empty() || end == std::string_view::npos
      || !std::all_of(token.begin(), token.begin() + static_cast<std::ptrdiff_t>(end) + 1,
                      token_char))
    return std::nullopt;
  return token;
}

bool same_token(std::string_view given, std::string_view expected) {
  // Every byte of `given` is compared (with the expected byte at the same place, or a wrapped
  // one past its end), and a length mismatch is folded in as one more difference.
  unsigned difference = given.size() == expected.size() ? 0U : 1U;
  if (expected.empty())
    return false;
  for (std::size_t i = 0; i < given.size(); ++i)
    difference |= static_cast<unsigned char>(given[i])
                  ^ static_cast<unsigned char>(expected[i % expected.size()]);
  return difference == 0;
}

attempt_limiter::attempt_limiter(std::size_t max_failures, std::chrono::seconds window,
                                 std::size_t max_addresses)
  : max_failures_(std::max<std::size_t>(max_failures, 1)), window_(window),
    max_addresses_(std::max<std::size_t>(max_addresses, 1)) {}

std::chrono::seconds attempt_limiter::refused_for(const std::string& address,
                                                  clock::time_point now) {
  std::lock_guard lock{mutex_};
  auto it = table_.find(address);
  if (it == table_.end() || !it->second.refused_until)
    return std::chrono::seconds{0};
  if (*it->second.refused_until <= now) {
    table_.erase(it); // the lockout has passed: the address starts afresh
    return std::chrono::seconds{0};
  }
  auto left = *it->second.refused_until - now;
  auto whole = std::chrono::ceil<std::chrono::seconds>(left);
  return std::max(whole, std::chrono::seconds{1});
}

bool attempt_limiter::record_failure(const std::string& address, clock::time_point now) {
  std::lock_guard lock{mutex_};
  auto it = table_.find(address);
  if (it == table_.end()) {
    make_room(now);
    it = table_.emplace(address, record{}).first;
  }
  auto& r = it->second;
  r.last = now;
  if (r.refused_until)
    return false; // already refused; its lockout is not extended
  auto expired = std::find_if(r.failures.begin(), r.failures.end(),
                              [&](clock::time_point t) { return now - t < window_; });
  r.failures.erase(r.failures.begin(), expired);
  r.failures.push_back(now);
  if (r.failures.size() < max_failures_)
    return false;
  r.failures.clear();
  r.refused_until = now + window_;
  return true;
}

std::size_t attempt_limiter::size() const {
  std::lock_guard lock{mutex_};
  return table_.size();
}

void attempt_limiter::make_room(clock::time_point now) {
  if (table_.size() < max_addresses_)
    return;
  // First forget the addresses with nothing left to remember, then the least recently failed.
  for (auto it = table_.begin(); it != table_.end();) {
    const auto& r = it->second;
    bool over = r.refused_until ? *r.refused_until <= now : now - r.last >= window_;
    it = over ? table_.erase(it) : std::next(it);
  }
  while (table_.size() >= max_addresses_) {
    auto oldest = std::min_element(table_.begin(), table_.end(), [](const auto& a, const auto& b) {
      return a.second.last < b.second.last;
    });
    table_.erase(oldest);
  }
}

} // namespace microlith::gateway
