// The bank over HTTP and WebSocket, started from examples/bank/bank.toml in this process: its
// API answers JSON through the gateway group, errors map to statuses, ids differing only after a
// NUL stay apart (in the ledger, and through a restart of accounts), balance changes reach
// WebSocket subscribers, and a reload of the system file swaps the routes while it runs.
#include "bank_system.hpp"
#include "http_client.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

using namespace bank_test;
using Catch::Matchers::Contains;
using verb = boost::beast::http::verb;

TEST_CASE("the bank answers its API over HTTP", "[integration]") {
  bank_system bank;
  http_client client{gateway_port(bank.config)};

  auto opened = client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":100})");
  CHECK(opened.status == 200);
  CHECK_THAT(opened.body, Contains(R"("id":"ada")"));
  CHECK_THAT(opened.body, Contains(R"("balance":"100")")); // int64 is a string in JSON
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"bob"})").status == 200);

  SECTION("deposit, withdraw, transfer, balance and history") {
    CHECK(client.request(verb::post, "/accounts/ada/deposit", R"({"amount":50})").status == 200);
    CHECK(client.request(verb::post, "/accounts/ada/withdraw", R"({"amount":30})").status == 200);
    auto moved =
      client.request(verb::post, "/transfers", R"({"from":"ada","to":"bob","amount":20})");
    CHECK(moved.status == 200);
    CHECK_THAT(moved.body, Contains(R"("to":{"id":"bob","balance":"20"})"));
    auto balance = client.request(verb::get, "/accounts/ada");
    CHECK(balance.status == 200);
    CHECK_THAT(balance.body, Contains(R"("balance":"100")"));
    CHECK(bank.balance("ada") == 100); // the same bank, by a direct call
    auto history = client.request(verb::get, "/accounts/ada/history");
    CHECK(history.status == 200);
    CHECK_THAT(history.body, Contains(R"("kind":"open")"));
    CHECK_THAT(history.body, Contains(R"("kind":"transfer_out")"));
  }
  SECTION("errors map to statuses with the reason") {
    auto broke = client.request(verb::post, "/accounts/bob/withdraw", R"({"amount":5})");
    CHECK(broke.status == 400);
    CHECK_THAT(broke.body, Contains(R"("error":"failed_precondition")"));
    CHECK_THAT(broke.body, Contains("insufficient funds: account bob has 0, needs 5"));
    auto unknown = client.request(verb::get, "/accounts/nobody");
    CHECK(unknown.status == 404);
    CHECK_THAT(unknown.body, Contains(R"("error":"not_found")"));
    CHECK_THAT(unknown.body, Contains("no account nobody"));
    auto twice = client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":1})");
    CHECK(twice.status == 409);
    CHECK_THAT(twice.body, Contains(R"("error":"already_exists")"));
    auto negative = client.request(verb::post, "/accounts/ada/deposit", R"({"amount":-5})");
    CHECK(negative.status == 400);
    CHECK_THAT(negative.body, Contains(R"("error":"invalid_argument")"));
    auto typo = client.request(verb::post, "/accounts/ada/deposit", R"({"amout":5})");
    CHECK(typo.status == 400);
    CHECK_THAT(typo.body, Contains(R"("field":"amout")"));
    CHECK(client.request(verb::get, "/nothing").status == 404);
    CHECK(client.request(verb::delete_, "/accounts/ada").status == 405);
  }
  SECTION("the request id travels into the ledger") {
    auto deposit = client.request(verb::post, "/accounts/ada/deposit", R"({"amount":1})");
    REQUIRE(deposit.status == 200);
    REQUIRE_FALSE(deposit.request_id.empty());
    auto history = client.request(verb::get, "/accounts/ada/history");
    CHECK_THAT(history.body, Contains(R"("correlation_id":")" + deposit.request_id + "\""));
  }
  SECTION("readiness: every permanent group is running") {
    CHECK(client.request(verb::get, "/readyz").status == 200);
    CHECK(client.request(verb::get, "/healthz").status == 200);
  }
}

TEST_CASE("ids that differ after a NUL stay two accounts, with their own histories, through a "
          "restart",
          "[integration]") {
  using namespace std::string_literals;
  bank_system bank;
  http_client client{gateway_port(bank.config)};
  const auto a = "nul\0a"s;
  const auto b = "nul\0b"s;

  // Escaped in JSON, a NUL is valid: both ids are accepted, and they are two accounts.
  auto opened_a =
    client.request(verb::post, "/accounts", R"({"id":"nul\u0000a","initial_balance":100})");
  REQUIRE(opened_a.status == 200);
  CHECK_THAT(opened_a.body, Contains(R"("id":"nul\u0000a")"));
  REQUIRE(
    client.request(verb::post, "/accounts", R"({"id":"nul\u0000b","initial_balance":7})").status
    == 200);
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"acct01","initial_balance":5})").status
          == 200);
  auto moved = client.request(verb::post, "/transfers",
                              R"({"from":"nul\u0000a","to":"nul\u0000b","amount":10})");
  REQUIRE(moved.status == 200);
  CHECK(bank.balance(a) == 90);
  CHECK(bank.balance(b) == 17);

  // The ledger keeps them apart: each history holds its own entries, byte for byte.
  auto history_a = bank.history(a);
  REQUIRE(history_a.entries_size() == 2);
  CHECK(history_a.entries(0).account_id() == a);
  CHECK(history_a.entries(0).balance_after() == 100);
  CHECK(history_a.entries(1).kind() == "transfer_out");
  CHECK(history_a.entries(1).counterparty() == b);
  auto history_b = bank.history(b);
  REQUIRE(history_b.entries_size() == 2);
  CHECK(history_b.entries(0).account_id() == b);
  CHECK(history_b.entries(1).balance_after() == 17);
  CHECK(bank.history("nul").entries_size() == 0);

  // A NUL in a path parameter is refused by the gateway, naming the parameter: it never reaches
  // acct01's history.
  auto smuggled = client.request(verb::get, "/accounts/acct01%00x/history");
  CHECK(smuggled.status == 400);
  CHECK_THAT(smuggled.body, Contains(R"("error":"bad_request")")
                              && Contains(R"("field":"account_id")")
                              && Contains(R"(path parameter \"account_id\")"));
  CHECK_THAT(smuggled.body, !Contains("\"entries\""));
  auto raw = client.request(verb::post, "/accounts", "{\"id\":\"raw\x01\"}");
  CHECK(raw.status == 400);
  CHECK_THAT(raw.body, Contains(R"("field":"id")"));

  // A crash of accounts: the new instance rebuilds every balance from the ledger, the two ids
  // apart (when the ledger merged them, the rebuild failed and the group gave up).
  auto before = bank.instance_of("accounts");
  REQUIRE(before);
  auto poisoned =
    client.request(verb::post, "/accounts/acct01/deposit", R"({"amount":1,"memo":"poison"})");
  REQUIRE(poisoned.status == 500);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  auto after = bank.instance_of("accounts");
  while ((!after || after == before) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    after = bank.instance_of("accounts");
  }
  REQUIRE(after);
  REQUIRE(after != before);
  CHECK(bank.balance(a) == 90);
  CHECK(bank.balance(b) == 17);
  CHECK(bank.balance("acct01") == 5);
  CHECK(
    client
      .request(verb::post, "/transfers", R"({"from":"nul\u0000b","to":"nul\u0000a","amount":17})")
      .status
    == 200);
  CHECK(bank.balance(a) == 107);
  CHECK(bank.balance(b) == 0);
}

TEST_CASE("balance changes reach WebSocket subscribers", "[integration]") {
  bank_system bank;
  auto port = gateway_port(bank.config);
  http_client client{port};
  ws_client ws{port, "/ws"};
  ws.send(R"({"subscribe":"balances"})");
  CHECK(ws.receive() == R"({"subscribed":"balances"})");
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":7})").status
          == 200);
  CHECK(ws.receive() == R"({"topic":"balances","message":{"id":"ada","balance":"7"}})");
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"bob"})").status == 200);
  CHECK(ws.receive() == R"({"topic":"balances","message":{"id":"bob","balance":"0"}})");
  REQUIRE(client.request(verb::post, "/transfers", R"({"from":"ada","to":"bob","amount":2})").status
          == 200);
  CHECK(ws.receive() == R"({"topic":"balances","message":{"id":"ada","balance":"5"}})");
  CHECK(ws.receive() == R"({"topic":"balances","message":{"id":"bob","balance":"2"}})");
}

TEST_CASE("a reload swaps the gateway's routes, and a bad one is refused", "[integration]") {
  bank_system bank;
  http_client client{gateway_port(bank.config)};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":3})").status
          == 200);
  CHECK(client.request(verb::get, "/v2/accounts/ada").status == 404);

  // The gateway settings the module read for group web of `config`, to change.
  const auto web_settings = [](microlith::system_config& config) {
    auto* web = const_cast<microlith::group_config*>(config.find_group("web"));
    REQUIRE(web != nullptr);
    auto* settings = std::any_cast<microlith::gateway_settings>(&web->settings);
    REQUIRE(settings != nullptr);
    return settings;
  };
  auto next = bank.config;
  web_settings(next)->routes.push_back(microlith::gateway_route{
    {"GET", "/v2/accounts/{account_id}", "accounts", "Balance", "test"}, 0});
  REQUIRE_FALSE(bank.host.reload(next));
  // Served right after reload() returns, on the same keep-alive connection.
  CHECK(client.request(verb::get, "/v2/accounts/ada").status == 200);

  auto bad = next;
  web_settings(bad)->routes.push_back(
    microlith::gateway_route{{"GET", "/x/{nope}", "accounts", "Balance", "test"}, 0});
  auto refused = bank.host.reload(bad);
  REQUIRE(refused);
  CHECK_THAT(microlith::message_of(refused),
             Contains("the path parameter {nope} is not a field of bank.BalanceRequest"));
  CHECK(client.request(verb::get, "/v2/accounts/ada").status == 200);
  CHECK(client.request(verb::get, "/x/1").status == 404);
}
