// The admin endpoint's guard (net/src/gateway/admin_guard.hpp) on values built in memory, with
// time points given by hand: the Bearer header, the token comparison, and the table of failed
// attempts (its limit, its lockout and the end of it, its bound). http_session_test.cpp checks
// the statuses over real sockets.
#include "gateway/admin_guard.hpp"

#include <catch2/catch.hpp>

#include <string>

using microlith::gateway::attempt_limiter;
using microlith::gateway::bearer_token;
using microlith::gateway::same_token;
using namespace std::chrono_literals;

TEST_CASE("an admin request's Authorization header is Bearer and a token", "[unit][gateway]") {
  CHECK(bearer_token("Bearer abc123-._~+/") == std::optional<std::string_view>{"abc123-._~+/"});
  CHECK(bearer_token("bearer abc") == std::optional<std::string_view>{"abc"}); // any case
  CHECK(bearer_token("BEARER  abc==") == std::optional<std::string_view>{"abc=="});
  CHECK_FALSE(bearer_token(""));
  CHECK_FALSE(bearer_token("Bearer"));
  CHECK_FALSE(bearer_token("Bearer "));
  CHECK_FALSE(bearer_token("Basic YWxhZGRpbjpvcGVuc2VzYW1l"));
  CHECK_FALSE(bearer_token("Bearerabc"));
  CHECK_FALSE(bearer_token("Bearer a b"));
  CHECK_FALSE(bearer_token("Bearer ==="));
  CHECK_FALSE(bearer_token("Bearer a\"b"));
}

TEST_CASE("the admin token comparison answers equality only", "[unit][gateway]") {
  const std::string token = "0123456789abcdef";
  CHECK(same_token(token, token));
  CHECK_FALSE(same_token("0123456789abcdeX", token)); // last byte
  CHECK_FALSE(same_token("X123456789abcdef", token)); // first byte
  CHECK_FALSE(same_token("0123456789abcde", token));  // a prefix
  CHECK_FALSE(same_token(token + token, token));      // the token twice (wraps around)
  CHECK_FALSE(same_token(token + "0", token));
  CHECK_FALSE(same_token("", token));
  CHECK_FALSE(same_token("", ""));    // no token configured matches nothing
  CHECK_FALSE(same_token("abc", "")); // nor anything
}

TEST_CASE("failed admin attempts refuse an address for a while", "[unit][gateway]") {
  const auto t0 = attempt_limiter::clock::time_point{} + 1000h;
  attempt_limiter limiter; // 10 failures within 60 s, 1024 addresses

  SECTION("the 10th failure within the window refuses the address for 60 s") {
    for (int i = 0; i < 9; ++i) {
      CHECK_FALSE(limiter.record_failure("127.0.0.1", t0 + i * 1s));
      CHECK(limiter.refused_for("127.0.0.1", t0 + i * 1s) == 0s);
    }
    CHECK(limiter.record_failure("127.0.0.1", t0 + 9s));
    CHECK(limiter.refused_for("127.0.0.1", t0 + 9s) == 60s);
    CHECK(limiter.refused_for("127.0.0.1", t0 + 9s + 500ms) == 60s); // rounded up
    CHECK(limiter.refused_for("127.0.0.1", t0 + 68s) == 1s);
    CHECK(limiter.refused_for("127.0.0.2", t0 + 10s) == 0s); // another address is not
    // Failures while refused do not extend the lockout.
    CHECK_FALSE(limiter.record_failure("127.0.0.1", t0 + 30s));
    CHECK(limiter.refused_for("127.0.0.1", t0 + 30s) == 39s);
    // When it has passed, the address starts afresh.
    CHECK(limiter.refused_for("127.0.0.1", t0 + 69s) == 0s);
    CHECK_FALSE(limiter.record_failure("127.0.0.1", t0 + 69s));
    CHECK(limiter.refused_for("127.0.0.1", t0 + 69s) == 0s);
  }
  SECTION("failures older than the window do not count") {
    for (int i = 0; i < 9; ++i)
      CHECK_FALSE(limiter.record_failure("::1", t0));
    // 60 s later those nine are out of the window: this is the first of a new count.
    CHECK_FALSE(limiter.record_failure("::1", t0 + 60s));
    for (int i = 0; i < 8; ++i)
      CHECK_FALSE(limiter.record_failure("::1", t0 + 61s));
    CHECK(limiter.refused_for("::1", t0 + 61s) == 0s);
    CHECK(limiter.record_failure("::1", t0 + 62s)); // the 10th within 60 s
    CHECK(limiter.refused_for("::1", t0 + 62s) == 60s);
  }
  SECTION("at most max_addresses addresses are remembered, the least recently failed go") {
    attempt_limiter small{10, 60s, 3};
    small.record_failure("a", t0);
    small.record_failure("b", t0 + 1s);
    small.record_failure("c", t0 + 2s);
    small.record_failure("a", t0 + 3s); // a is now the most recent
    small.record_failure("d", t0 + 4s); // drops b
    CHECK(small.size() == 3);
    for (int i = 0; i < 9; ++i)
      small.record_failure("b", t0 + 5s); // b starts over: one failure short of the limit
    CHECK(small.refused_for("b", t0 + 5s) == 0s);
    CHECK(small.size() == 3);
    for (int i = 0; i < 1000; ++i)
      small.record_failure("flood-" + std::to_string(i), t0 + 6s);
    CHECK(small.size() == 3);
  }
}

TEST_CASE("a feed's token is read from its subprotocols in base64url", "[unit]") {
  using microlith::gateway::offers_subprotocol;
  using microlith::gateway::subprotocol_token;
  constexpr std::string_view prefix = "base64url.bearer.microlith.";
  // "test-admin-token" in base64url, no padding
  CHECK(
    subprotocol_token("microlith.feed, base64url.bearer.microlith.dGVzdC1hZG1pbi10b2tlbg", prefix)
    == std::string("test-admin-token"));
  CHECK(subprotocol_token("base64url.bearer.microlith.Zm8,microlith.feed", prefix)
        == std::string("fo"));
  CHECK(subprotocol_token(" base64url.bearer.microlith.-_8 ", prefix) == std::string("\xfb\xff"));
  CHECK_FALSE(subprotocol_token("microlith.feed", prefix));
  CHECK_FALSE(subprotocol_token("base64url.bearer.microlith.", prefix));
  CHECK_FALSE(subprotocol_token("base64url.bearer.microlith.a+b/", prefix)); // base64, not url
  CHECK_FALSE(subprotocol_token("base64url.bearer.microlith.Zm9=", prefix));
  CHECK_FALSE(subprotocol_token("base64url.bearer.microlith.Z", prefix)); // not whole bytes
  CHECK(offers_subprotocol("chat, microlith.feed", "microlith.feed"));
  CHECK(offers_subprotocol("microlith.feed", "microlith.feed"));
  CHECK_FALSE(offers_subprotocol("microlith.feeds, chat", "microlith.feed"));
  CHECK_FALSE(offers_subprotocol("", "microlith.feed"));
}
