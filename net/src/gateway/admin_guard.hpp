// The admin endpoint's guard: the bearer token a request carries (RFC 6750 section 2.1), its
// comparison with the admin token in constant time, and the bounded table of failed attempts per
// client address that turns a client away with 429 once it has failed too often.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace microlith::gateway {

/// The token of an Authorization header value `Bearer TOKEN` (the scheme in any case, one or
/// more spaces, a token of RFC 6750's token68 characters); nothing when the value is not that.
std::optional<std::string_view> bearer_token(std::string_view authorization);

/// The admin token a WebSocket client carries in its Sec-WebSocket-Protocol list `protocols`
/// (comma-separated, the values of every such header joined): the first item that starts with
/// `prefix` (`base64url.bearer.microlith.`), the rest decoded from base64url without padding.
/// Nothing when no item starts with it, or when the rest is not base64url.
std::optional<std::string> subprotocol_token(std::string_view protocols, std::string_view prefix);

/// True when the comma-separated list `protocols` holds `name` (exactly, spaces around items
/// ignored).
bool offers_subprotocol(std::string_view protocols, std::string_view name);

/// True when `given` equals `expected`. Its time depends on the length of `given` only: every
/// byte is compared, with no early exit at the first difference or on a length mismatch.
bool same_token(std::string_view given, std::string_view expected);

/// Failed admin attempts per client address. After `max_failures` failures from one address
/// within `window`, the address is refused for `window` from the failure that reached the limit
/// (whatever it sends, the right token too); then it starts afresh. Successes are not counted.
/// At most `max_addresses` addresses are remembered: a new one beyond that drops the address
/// whose last failure is the oldest. Safe to use from several threads.
class attempt_limiter {
public:
  using clock = std::chrono::steady_clock;

  explicit attempt_limiter(std::size_t max_failures = 10,
                           std::chrono::seconds window = std::chrono::seconds(60),
                           std::size_t max_addresses = 1024);

  /// How much longer `address` is refused at `now`, rounded up to whole seconds (0: not refused).
  std::chrono::seconds refused_for(const std::string& address, clock::time_point now);

  /// Records a failed attempt from `address` at `now`; true when it is the one that reached the
  /// limit (the address is refused from now on).
  bool record_failure(const std::string& address, clock::time_point now);

  /// How many addresses are remembered.
  std::size_t size() const;

private:
  struct record {
    std::vector<clock::time_point> failures; // within the window, oldest first
    std::optional<clock::time_point> refused_until;
    clock::time_point last{};
  };

  void make_room(clock::time_point now); // requires mutex_

  std::size_t max_failures_;
  clock::duration window_;
  std::size_t max_addresses_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, record> table_; // requires mutex_
};

} // namespace microlith::gateway
