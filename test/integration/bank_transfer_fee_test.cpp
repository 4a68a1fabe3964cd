// The toggle bank.transfer_fee against the whole bank from bank.toml in one process, its gateway
// serving the admin endpoint: set through the admin route and the toggles service, one value at
// a time — off, a transfer moves its amount alone; on, it also pays 1% rounded down, at least 1,
// to the account "fees", which its first fee opens, recorded in the ledger; a sender who cannot
// cover the amount and its fee is refused and nothing moves; a keyed retry is applied once — and
// the same transfers with the toggle on and off at once against one running bank whose node
// honours per-call overrides (as `[toggles] test_overrides = true` makes it), each call with its
// own override: through the C++ API (blocking_call_options::toggle_overrides, the async caller's
// overload) and through the gateway's X-Microlith-Toggles header.
#include "bank_system.hpp"
#include "http_client.hpp"
#include "transfer_fee_http.hpp"
#include "transfer_fee_scenario.hpp"

#include "proto/microlith_toggles.pb.h"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/toggles.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using bank_test::http_client;
using Catch::Matchers::Contains;
using verb = boost::beast::http::verb;

namespace {

using headers = std::vector<std::pair<std::string, std::string>>;

/// The admin token as the Authorization header.
headers admin() {
  return {{"Authorization", "Bearer " + bank_test::admin_token}};
}

/// Sets bank.transfer_fee's boolean gate through the gateway's admin route.
void set_fee_by_admin(http_client& client, bool on) {
  auto set = client.request(
    verb::post, std::string{"/_microlith/toggles/bank.transfer_fee?boolean="} + (on ? "on" : "off"),
    {}, admin());
  INFO(set.body);
  REQUIRE(set.status == 200);
  CHECK_THAT(set.body, Contains(on ? R"("boolean":true)" : R"("name":"bank.transfer_fee")"));
}

/// Sets bank.transfer_fee's boolean gate through the toggles service, as code would.
void set_fee_by_service(bank_test::bank_system& bank, bool on) {
  microlith::toggles::v1::SetRequest req;
  req.set_name("bank.transfer_fee");
  req.set_boolean(on ? "on" : "off");
  auto now = bank.node.call<microlith::toggles::v1::Toggle>("toggles", "Set", req);
  INFO((now ? std::string{} : microlith::describe(now.error())));
  REQUIRE(now);
  CHECK(now->gates().boolean() == on);
}

/// POST /transfers; answers the status and body.
bank_test::http_answer transfer(http_client& client, const std::string& from, const std::string& to,
                                std::int64_t amount, const headers& extra = {}) {
  return client.request(verb::post, "/transfers",
                        R"({"from":")" + from + R"(","to":")" + to + R"(","amount":)"
                          + std::to_string(amount) + "}",
                        extra);
}

/// The balance of `id` over HTTP; -1 when it is not answered with 200.
std::int64_t balance(http_client& client, const std::string& id) {
  auto answer = client.request(verb::get, "/accounts/" + id);
  return answer.status == 200 ? bank_test::json_int_after(answer.body, "\"balance\":") : -1;
}

/// The ledger's entries of `id` over HTTP.
std::vector<bank_test::entry_seen> history(http_client& client, const std::string& id) {
  auto answer = client.request(verb::get, "/accounts/" + id + "/history");
  REQUIRE(answer.status == 200);
  return bank_test::entries_from_json(answer.body);
}

/// The kinds of `entries`, in order.
std::vector<std::string> kinds_of(const std::vector<bank_test::entry_seen>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(e.kind);
  return out;
}

using kinds = std::vector<std::string>;

/// The per-call override that gives one call bank.transfer_fee `on` or off.
microlith::toggle_overrides fee_override(bool on) {
  return {{"bank.transfer_fee", on}};
}

/// A transfer answer from a receipt or an error.
bank_test::transfer_answer answer_of(const caf::expected<bank::TransferReceipt>& r) {
  bank_test::transfer_answer out;
  if (!r) {
    out.error = microlith::describe(r.error());
    return out;
  }
  out.fee = r->fee();
  out.from_balance = r->from().balance();
  out.to_balance = r->to().balance();
  for (const auto& e : r->entries())
    out.kinds.push_back(e.kind());
  return out;
}

/// The ledger's entries of `account` through the C++ API (none when History fails; no
/// assertion: it runs on the senders' threads).
std::vector<bank_test::entry_seen> entries_of(bank_test::bank_system& bank,
                                              const std::string& account) {
  bank::HistoryRequest req;
  req.set_account_id(account);
  auto reply = bank.node.call<bank::HistoryReply>("ledger", "History", req);
  std::vector<bank_test::entry_seen> out;
  if (reply)
    for (const auto& e : reply->entries())
      out.push_back(
        bank_test::entry_seen{e.kind(), e.delta(), e.balance_after(), e.counterparty()});
  return out;
}

/// The scenario's client over blocking calls, each transfer with its own override
/// (blocking_call_options::toggle_overrides).
bank_test::fee_client blocking_client(bank_test::bank_system& bank) {
  bank_test::fee_client c;
  c.open = [&bank](const std::string& id, std::int64_t initial) {
    auto opened = bank.open(id, initial);
    return opened ? std::string{} : microlith::describe(opened.error());
  };
  c.transfer = [&bank](bool on, const std::string& from, const std::string& to,
                       std::int64_t amount) {
    microlith::blocking_call_options opts;
    opts.toggle_overrides = fee_override(on);
    return answer_of(bank.transfer(from, to, amount, std::move(opts)));
  };
  c.history = [&bank](const std::string& account) { return entries_of(bank, account); };
  return c;
}

/// The scenario's client over an async caller (as the gateway calls), each transfer with its
/// own override (the call overload taking overrides); the sender's thread waits for each answer.
bank_test::fee_client async_client(bank_test::bank_system& bank,
                                   const microlith::async_caller& caller) {
  bank_test::fee_client c = blocking_client(bank);
  c.transfer = [caller](bool on, const std::string& from, const std::string& to,
                        std::int64_t amount) {
    auto req = std::make_shared<bank::TransferRequest>();
    req->set_from(from);
    req->set_to(to);
    req->set_amount(amount);
    auto answered = std::make_shared<std::promise<caf::expected<bank::TransferReceipt>>>();
    auto result = answered->get_future();
    caller.call("accounts", "Transfer", std::move(req), {}, fee_override(on),
                [answered](caf::expected<microlith::message_ptr> reply) {
                  if (!reply) {
                    answered->set_value(reply.error());
                    return;
                  }
                  const auto* receipt = dynamic_cast<const bank::TransferReceipt*>(reply->get());
                  if (receipt == nullptr)
                    answered->set_value(microlith::make_error(
                      microlith::errc::internal, "the reply is not a TransferReceipt"));
                  else
                    answered->set_value(*receipt);
                });
    return answer_of(result.get());
  };
  return c;
}

} // namespace

TEST_CASE("bank.transfer_fee set through the admin route: off no fee; on 1% rounded down and at "
          "least 1 paid to fees which it opens; a sender who cannot cover both is refused",
          "[integration]") {
  bank_test::bank_system bank{bank_test::serve_admin};
  http_client client{bank_test::gateway_port(bank.config)};
  REQUIRE(
    client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":1000000})").status
    == 200);
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"bob"})").status == 200);
  std::int64_t ada = 1'000'000, bob = 0, fees = 0;

  // Off (its default): the amount alone; fees does not exist.
  auto free = transfer(client, "ada", "bob", 1000);
  REQUIRE(free.status == 200);
  auto free_receipt = bank_test::receipt_from_json(free.status, free.body);
  CHECK(free_receipt.fee == 0);
  CHECK(free_receipt.kinds == kinds{"transfer_out", "transfer_in"});
  CHECK_THAT(free.body, Contains(R"("fee":"0")"));
  ada -= 1000;
  bob += 1000;
  CHECK(client.request(verb::get, "/accounts/fees").status == 404);

  // On: 1000 pays 10, and the first fee opens fees in the same ledger append.
  set_fee_by_admin(client, true);
  auto paid = transfer(client, "ada", "bob", 1000);
  REQUIRE(paid.status == 200);
  auto receipt = bank_test::receipt_from_json(paid.status, paid.body);
  CHECK(receipt.fee == 10);
  CHECK(receipt.kinds == kinds{"transfer_out", "transfer_in", "fee_out", "open", "fee_in"});
  ada -= 1010;
  bob += 1000;
  fees += 10;
  CHECK(receipt.from_balance == ada);
  CHECK(receipt.to_balance == bob);
  CHECK(balance(client, "fees") == 10);

  // Every amount of 1 to 99 pays 1 (and 199 pays 1, 200 pays 2).
  for (std::int64_t amount = 1; amount <= 99; ++amount) {
    auto small = transfer(client, "ada", "bob", amount);
    INFO("a transfer of " << amount << ": " << small.body);
    REQUIRE(small.status == 200);
    auto r = bank_test::receipt_from_json(small.status, small.body);
    CHECK(r.fee == 1);
    ada -= amount + 1;
    bob += amount;
    fees += 1;
    CHECK(r.from_balance == ada);
  }
  const std::pair<std::int64_t, std::int64_t> more[] = {{199, 1}, {200, 2}};
  for (auto [amount, fee] : more) {
    auto answer = transfer(client, "ada", "bob", amount);
    REQUIRE(answer.status == 200);
    CHECK(bank_test::receipt_from_json(answer.status, answer.body).fee == fee);
    ada -= amount + fee;
    bob += amount;
    fees += fee;
  }
  CHECK(balance(client, "ada") == ada);
  CHECK(balance(client, "bob") == bob);
  CHECK(balance(client, "fees") == fees);

  // The ledger: fees opened once with 0, then a fee_in per fee, from ada; ada's fee_out entries.
  auto fee_entries = history(client, "fees");
  REQUIRE(fee_entries.size() == 1 + 1 + 99 + 2);
  CHECK(fee_entries.front().kind == "open");
  CHECK(fee_entries.front().balance_after == 0);
  CHECK(fee_entries.back().balance_after == fees);
  for (std::size_t i = 1; i < fee_entries.size(); ++i) {
    CHECK(fee_entries[i].kind == "fee_in");
    CHECK(fee_entries[i].counterparty == "ada");
  }
  int fee_outs = 0;
  for (const auto& e : history(client, "ada"))
    fee_outs += e.kind == "fee_out" ? 1 : 0;
  CHECK(fee_outs == 1 + 99 + 2);

  // A sender who cannot cover the amount and its fee: refused, naming both; nothing moves.
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"cy","initial_balance":100})").status
          == 200);
  auto short_of_fee = transfer(client, "cy", "bob", 100);
  CHECK(short_of_fee.status == 400);
  CHECK_THAT(short_of_fee.body,
             Contains(R"("error":"failed_precondition")")
               && Contains("insufficient funds: account cy has 100, needs 101 (the transfer of "
                           "100 and its fee of 1)"));
  CHECK(balance(client, "cy") == 100);
  CHECK(balance(client, "bob") == bob);
  CHECK(balance(client, "fees") == fees);
  CHECK(kinds_of(history(client, "cy")) == kinds{"open"});
  CHECK(history(client, "fees").size() == fee_entries.size());

  // Off again: no fee.
  set_fee_by_admin(client, false);
  auto free_again = transfer(client, "cy", "bob", 100);
  REQUIRE(free_again.status == 200);
  CHECK(bank_test::receipt_from_json(free_again.status, free_again.body).fee == 0);
  CHECK(balance(client, "cy") == 0);
  CHECK(balance(client, "fees") == fees);
}

TEST_CASE("a keyed transfer with bank.transfer_fee on retried over HTTP is applied once and "
          "answers its first receipt after the toggle is turned off",
          "[integration]") {
  bank_test::bank_system bank;
  http_client client{bank_test::gateway_port(bank.config)};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":5000})").status
          == 200);
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"bob"})").status == 200);
  set_fee_by_service(bank, true);
  const headers key{{"Idempotency-Key", "\"fee-1\""}};
  auto first = transfer(client, "ada", "bob", 1000, key);
  REQUIRE(first.status == 200);
  CHECK(bank_test::receipt_from_json(first.status, first.body).fee == 10);
  auto repeat = transfer(client, "ada", "bob", 1000, key);
  CHECK(repeat.status == 200);
  CHECK(repeat.body == first.body);
  set_fee_by_service(bank, false);
  auto after_off = transfer(client, "ada", "bob", 1000, key);
  CHECK(after_off.status == 200);
  CHECK(after_off.body == first.body);
  CHECK(balance(client, "ada") == 3990);
  CHECK(balance(client, "bob") == 1000);
  CHECK(balance(client, "fees") == 10);
  int keyed = 0;
  const auto all = bank.history();
  for (const auto& e : all.entries())
    keyed += e.idempotency_key() == "fee-1" ? 1 : 0;
  CHECK(keyed == 5); // transfer_out, transfer_in, fee_out, the opening of fees, fee_in
}

TEST_CASE("the same transfers with bank.transfer_fee on and off at once through the C++ API "
          "each get their own fee from their per-call overrides against one running bank",
          "[integration]") {
  bank_test::bank_system bank;
  bank.node.set_toggle_override_policy({true, false}); // [toggles] test_overrides = true
  microlith::async_caller caller{bank.node, "fee-test"};
  constexpr int rounds = 12;
  constexpr std::int64_t initial = 1'000'000;
  // Two senders on and two off at once: one of each through blocking calls, one of each
  // through the async caller.
  struct sender {
    std::string name;
    bool on;
    bank_test::fee_client client;
  };
  std::vector<sender> senders{{"blocking-on", true, blocking_client(bank)},
                              {"blocking-off", false, blocking_client(bank)},
                              {"async-on", true, async_client(bank, caller)},
                              {"async-off", false, async_client(bank, caller)}};
  std::vector<std::future<std::string>> running;
  for (const auto& s : senders)
    running.push_back(std::async(std::launch::async, [&s] {
      return bank_test::run_fee_transfers(s.client, s.on, s.name, s.name + "-to", initial, rounds);
    }));
  for (auto& r : running)
    CHECK(r.get() == std::string{});
  std::map<std::string, bool> who;
  for (const auto& s : senders)
    who[s.name] = s.on;
  CHECK(bank_test::check_fees_received(entries_of(bank, "fees"), who, rounds) == std::string{});
  CHECK(bank.balance("fees") == 2 * bank_test::fees_of_rounds(rounds));
  // The node's own value never changed.
  CHECK_FALSE(bank.node.toggles()->enabled("bank.transfer_fee"));
}

TEST_CASE("the same transfers with bank.transfer_fee on and off at once through the "
          "X-Microlith-Toggles header each get their own fee against one running bank",
          "[integration]") {
  bank_test::bank_system bank;
  bank.node.set_toggle_override_policy({true, false}); // [toggles] test_overrides = true
  // The node's value is on: the senders with the header's "off" pay nothing all the same.
  set_fee_by_service(bank, true);
  constexpr int rounds = 12;
  const std::map<std::string, bool> senders{
    {"http-on-1", true}, {"http-off-1", false}, {"http-on-2", true}, {"http-off-2", false}};
  const auto port = bank_test::gateway_port(bank.config);
  std::vector<bank_test::fee_client> clients;
  for (std::size_t i = 0; i < senders.size(); ++i)
    clients.push_back(bank_test::http_fee_client(port));
  std::vector<std::future<std::string>> running;
  std::size_t i = 0;
  for (const auto& [name, on] : senders)
    running.push_back(
      std::async(std::launch::async, [&client = clients[i++], name = name, on = on] {
        return bank_test::run_fee_transfers(client, on, name, name + "-to", 1'000'000, rounds);
      }));
  for (auto& r : running)
    CHECK(r.get() == std::string{});
  CHECK(bank_test::check_fees_received(entries_of(bank, "fees"), senders, rounds) == std::string{});
  CHECK(bank.balance("fees") == 2 * bank_test::fees_of_rounds(rounds));
}
