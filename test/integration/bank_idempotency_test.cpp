// Idempotency keys end to end in one process: the bank from bank.toml, driven over HTTP with the
// Idempotency-Key header (quoted and bare forms), through the gateway into accounts and the
// ledger: a repeat answers the first body and applies nothing, the key with another body is 422,
// concurrent requests with one key apply once, and an accounts instance restarted by its
// supervisor answers a repeat with the same body.
#include "bank_system.hpp"
#include "http_client.hpp"

#include <microlith/actors/exit.hpp>

#include <catch2/catch.hpp>

#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using bank_test::http_client;
using Catch::Matchers::Contains;
using verb = boost::beast::http::verb;

namespace {

using headers = std::vector<std::pair<std::string, std::string>>;

/// How many of the ledger's entries of `account` carry `key`.
int recorded_with(bank_test::bank_system& bank, const std::string& account,
                  const std::string& key) {
  int n = 0;
  auto history = bank.history(account);
  for (const auto& entry : history.entries())
    if (entry.idempotency_key() == key)
      ++n;
  return n;
}

} // namespace

TEST_CASE("Idempotency-Key over HTTP: a repeat answers the first body, another body is 422, "
          "concurrent repeats apply once, and a restarted accounts answers the same",
          "[integration]") {
  bank_test::bank_system bank;
  const auto port = bank_test::gateway_port(bank.config);
  http_client client{port};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":100})").status
          == 200);

  auto first = client.request(verb::post, "/accounts/ada/deposit", R"({"amount":50})",
                              headers{{"Idempotency-Key", "\"dep-1\""}});
  REQUIRE(first.status == 200);
  CHECK_THAT(first.body, Contains(R"("balance":"150")"));
  // The bare form names the same key; other spacing is the same request.
  auto repeat = client.request(verb::post, "/accounts/ada/deposit", R"({ "amount": 50 })",
                               headers{{"Idempotency-Key", "dep-1"}});
  CHECK(repeat.status == 200);
  CHECK(repeat.body == first.body);
  auto other = client.request(verb::post, "/accounts/ada/deposit", R"({"amount":51})",
                              headers{{"Idempotency-Key", "dep-1"}});
  CHECK(other.status == 422);
  CHECK_THAT(other.body, Contains(R"("error":"idempotency_key_reused")") && Contains("dep-1"));
  CHECK(recorded_with(bank, "ada", "dep-1") == 1);

  // Eight clients send one keyed deposit at once: one applies it; the others get its outcome,
  // or 409 while it is in progress.
  std::vector<std::future<bank_test::http_answer>> racing;
  for (int i = 0; i < 8; ++i)
    racing.push_back(std::async(std::launch::async, [port] {
      http_client mine{port};
      return mine.request(verb::post, "/accounts/ada/deposit", R"({"amount":10})",
                          headers{{"Idempotency-Key", "dep-2"}});
    }));
  int applied = 0;
  for (auto& f : racing) {
    auto answer = f.get();
    INFO(answer.body);
    if (answer.status == 200) {
      ++applied;
      CHECK_THAT(answer.body, Contains(R"("balance":"160")"));
    } else {
      CHECK(answer.status == 409);
      CHECK_THAT(answer.body, Contains("still in progress"));
    }
  }
  CHECK(applied >= 1);
  CHECK(recorded_with(bank, "ada", "dep-2") == 1);

  // A new accounts instance (its supervisor replaces a killed one) rebuilds the keys from the
  // ledger and answers the first body.
  auto before = bank.instance_of("accounts");
  REQUIRE(before);
  microlith::signal_exit(before, caf::exit_reason::kill);
  bank_test::http_answer after;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  do {
    after = client.request(verb::post, "/accounts/ada/deposit", R"({"amount":50})",
                           headers{{"Idempotency-Key", "dep-1"}});
    if (after.status != 503)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  } while (std::chrono::steady_clock::now() < until);
  CHECK(after.status == 200);
  CHECK(after.body == first.body);
  CHECK(bank.instance_of("accounts") != before);
  CHECK(bank.balance("ada") == 160);
  CHECK(recorded_with(bank, "ada", "dep-1") == 1);
}
