// Unit tests of the bank's transfer fee (the toggle bank.transfer_fee, examples/bank/README.md):
// the accounts service and the ledger on one node, each call given the toggle's value by its own
// snapshot (blocking_call_options::toggles). Off, a transfer moves its amount alone; on, the
// sender also pays 1% rounded down, at least 1, to the account "fees", opened in the first such
// transfer's Append; refusals move nothing; transfers out of "fees" pay none; first transfers at
// once open "fees" once; calls on and off at once each get their own outcome; keyed retries,
// rebuilds and reconciliations understand the fee's entries.
#include "bank_fixture.hpp"

#include "fingerprint.hpp"

#include "proto/bank.pb.h"

#include <microlith/actors/error.hpp>

#include <catch2/catch.hpp>

#include <cstdint>
#include <future>
#include <string>
#include <utility>
#include <vector>

using namespace bank_unit;
using Catch::Matchers::Contains;

namespace {

/// The kinds of `entries`, in order.
std::vector<std::string> kinds_of(const std::vector<bank::Entry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries)
    out.push_back(e.kind());
  return out;
}

/// The kinds of a receipt's entries, in order.
std::vector<std::string> kinds_of(const bank::TransferReceipt& receipt) {
  return kinds_of({receipt.entries().begin(), receipt.entries().end()});
}

/// Checks that the ledger's entries of one account each continue the one before.
void check_chain(const std::vector<bank::Entry>& entries) {
  std::int64_t running = 0;
  for (const auto& e : entries) {
    INFO("ledger entry " << e.sequence());
    CHECK(running + e.delta() == e.balance_after());
    running = e.balance_after();
  }
}

/// The entries of `entries` of kind `kind`.
std::vector<bank::Entry> of_kind(const std::vector<bank::Entry>& entries, const std::string& kind) {
  std::vector<bank::Entry> out;
  for (const auto& e : entries)
    if (e.kind() == kind)
      out.push_back(e);
  return out;
}

using kinds = std::vector<std::string>;

} // namespace

TEST_CASE("the transfer fee is 1% of the amount rounded down and at least 1", "[unit]") {
  for (std::int64_t amount = 1; amount < 200; ++amount)
    CHECK(bank::transfer_fee(amount) == 1);
  CHECK(bank::transfer_fee(200) == 2);
  CHECK(bank::transfer_fee(299) == 2);
  CHECK(bank::transfer_fee(1000) == 10);
  CHECK(bank::transfer_fee(12345) == 123);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: with bank.transfer_fee off a transfer moves its amount alone and opens "
                 "no fees account",
                 "[unit]") {
  REQUIRE(open("alice", 1000));
  REQUIRE(open("bob", 0));
  SECTION("the node's values (declared off)") {
    auto receipt = transfer("alice", "bob", 500);
    REQUIRE(receipt);
    CHECK(receipt->fee() == 0);
    CHECK(kinds_of(*receipt) == kinds{"transfer_out", "transfer_in"});
  }
  SECTION("the call's own values, off") {
    auto receipt = transfer("alice", "bob", 500, with_fee(false));
    REQUIRE(receipt);
    CHECK(receipt->fee() == 0);
    CHECK(receipt->from().balance() == 500);
    CHECK(receipt->to().balance() == 500);
    CHECK(kinds_of(*receipt) == kinds{"transfer_out", "transfer_in"});
  }
  CHECK(balance("alice") == 500);
  CHECK(balance("bob") == 500);
  check_refused(balance_of(bank::fees_account), errc::not_found, "no account fees");
  CHECK(history().size() == 4);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: with bank.transfer_fee on a transfer pays 1% rounded down and at "
                 "least 1 to the account fees which its first fee opens",
                 "[unit]") {
  REQUIRE(open("alice", 1'000'000));
  REQUIRE(open("bob", 0));
  const std::vector<std::pair<std::int64_t, std::int64_t>> amount_and_fee{
    {1, 1}, {50, 1}, {99, 1}, {100, 1}, {199, 1}, {200, 2}, {1000, 10}, {12345, 123}};
  std::int64_t alice = 1'000'000, bob = 0, fees = 0;
  bool first = true;
  for (const auto& [amount, fee] : amount_and_fee) {
    INFO("a transfer of " << amount);
    auto receipt = transfer("alice", "bob", amount, with_fee(true));
    REQUIRE(receipt);
    alice -= amount + fee;
    bob += amount;
    fees += fee;
    CHECK(receipt->fee() == fee);
    CHECK(receipt->from().id() == "alice");
    CHECK(receipt->from().balance() == alice); // after the fee
    CHECK(receipt->to().id() == "bob");
    CHECK(receipt->to().balance() == bob);
    // One Append: the transfer's entries, then the fee's, numbered in a row, one correlation id.
    if (first)
      CHECK(kinds_of(*receipt)
            == kinds{"transfer_out", "transfer_in", "fee_out", "open", "fee_in"});
    else
      CHECK(kinds_of(*receipt) == kinds{"transfer_out", "transfer_in", "fee_out", "fee_in"});
    first = false;
    for (int i = 0; i < receipt->entries_size(); ++i) {
      CHECK(receipt->entries(i).sequence() == receipt->ledger_sequence() + i);
      CHECK(receipt->entries(i).correlation_id() == receipt->entries(0).correlation_id());
    }
    const auto& fee_out = receipt->entries(2);
    CHECK(fee_out.account_id() == "alice");
    CHECK(fee_out.delta() == -fee);
    CHECK(fee_out.balance_after() == alice);
    CHECK(fee_out.counterparty() == "fees");
    const auto& fee_in = receipt->entries(receipt->entries_size() - 1);
    CHECK(fee_in.account_id() == "fees");
    CHECK(fee_in.delta() == fee);
    CHECK(fee_in.balance_after() == fees);
    CHECK(fee_in.counterparty() == "alice");
  }
  CHECK(balance("alice") == alice);
  CHECK(balance("bob") == bob);
  CHECK(balance(bank::fees_account) == fees);
  auto fee_history = history(bank::fees_account);
  REQUIRE(fee_history.size() == 1 + amount_and_fee.size());
  CHECK(fee_history.front().kind() == "open");
  CHECK(fee_history.front().balance_after() == 0);
  CHECK(of_kind(fee_history, "fee_in").size() == amount_and_fee.size());
  check_chain(fee_history);
  auto alice_history = history("alice");
  CHECK(of_kind(alice_history, "fee_out").size() == amount_and_fee.size());
  check_chain(alice_history);
  // Off again: the next transfer pays nothing.
  auto free = transfer("alice", "bob", 1000, with_fee(false));
  REQUIRE(free);
  CHECK(free->fee() == 0);
  CHECK(balance(bank::fees_account) == fees);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: with bank.transfer_fee on a sender that cannot cover the amount and "
                 "its fee is refused naming both and nothing moves",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(open("bob", 0));
  const auto entries_before = history().size();
  check_refused(transfer("alice", "bob", 100, with_fee(true)), errc::failed_precondition,
                "insufficient funds: account alice has 100, needs 101 (the transfer of 100 and "
                "its fee of 1)");
  check_refused(transfer("alice", "bob", 9'223'372'036'854'775'807, with_fee(true)),
                errc::failed_precondition,
                "insufficient funds: account alice has 100, needs 9315605757223323565 (the "
                "transfer of 9223372036854775807 and its fee of 92233720368547758)");
  CHECK(balance("alice") == 100);
  CHECK(balance("bob") == 0);
  check_refused(balance_of(bank::fees_account), errc::not_found, "no account fees");
  CHECK(history().size() == entries_before);
  // Off, the same transfer is covered; on, 99 and its fee of 1 are.
  SECTION("off") {
    REQUIRE(transfer("alice", "bob", 100, with_fee(false)));
    CHECK(balance("alice") == 0);
  }
  SECTION("on, 99") {
    auto receipt = transfer("alice", "bob", 99, with_fee(true));
    REQUIRE(receipt);
    CHECK(receipt->from().balance() == 0);
    CHECK(balance(bank::fees_account) == 1);
  }
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a transfer out of fees pays no fee and a transfer to fees pays it "
                 "like any other",
                 "[unit]") {
  REQUIRE(open("alice", 10'000));
  REQUIRE(open("bob", 0));
  REQUIRE(transfer("alice", "bob", 1000, with_fee(true))); // opens fees with 10
  REQUIRE(balance(bank::fees_account) == 10);

  auto out_of_fees = transfer(bank::fees_account, "bob", 5, with_fee(true));
  REQUIRE(out_of_fees);
  CHECK(out_of_fees->fee() == 0);
  CHECK(kinds_of(*out_of_fees) == kinds{"transfer_out", "transfer_in"});
  CHECK(out_of_fees->from().balance() == 5);

  auto to_fees = transfer("alice", bank::fees_account, 100, with_fee(true));
  REQUIRE(to_fees);
  CHECK(to_fees->fee() == 1);
  CHECK(kinds_of(*to_fees) == kinds{"transfer_out", "transfer_in", "fee_out", "fee_in"});
  CHECK(to_fees->from().balance() == 10'000 - 1010 - 101);
  CHECK(to_fees->to().id() == "fees");
  CHECK(to_fees->to().balance() == 5 + 101); // the amount and the fee
  CHECK(balance(bank::fees_account) == 106);
  check_chain(history(bank::fees_account));
}

TEST_CASE_METHOD(bank_fixture, "accounts: first transfers with a fee sent at once open fees once",
                 "[unit]") {
  constexpr int senders = 8;
  for (int i = 0; i < senders; ++i)
    REQUIRE(open("s" + std::to_string(i), 1000));
  REQUIRE(open("bob", 0));
  std::vector<std::future<caf::expected<bank::TransferReceipt>>> racing;
  for (int i = 0; i < senders; ++i)
    racing.push_back(std::async(std::launch::async, [this, i] {
      return transfer("s" + std::to_string(i), "bob", 100, with_fee(true));
    }));
  int opened_by = 0;
  for (auto& f : racing) {
    auto receipt = f.get();
    REQUIRE(receipt);
    CHECK(receipt->fee() == 1);
    CHECK(receipt->from().balance() == 899);
    opened_by += kinds_of(*receipt).size() == 5 ? 1 : 0;
  }
  CHECK(opened_by == 1);
  auto fee_history = history(bank::fees_account);
  CHECK(of_kind(fee_history, "open").size() == 1);
  CHECK(of_kind(fee_history, "fee_in").size() == senders);
  check_chain(fee_history);
  CHECK(balance(bank::fees_account) == senders);
  CHECK(balance("bob") == senders * 100);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: the same transfers on and off at once each get their own outcome",
                 "[unit]") {
  // Two senders, each with its own receiver; one sends with the toggle on, one with it off, at
  // the same time, through one accounts instance.
  REQUIRE(open("on-from", 100'000));
  REQUIRE(open("on-to", 0));
  REQUIRE(open("off-from", 100'000));
  REQUIRE(open("off-to", 0));
  constexpr int rounds = 20;
  auto sender = [this](bool on) {
    const std::string from = on ? "on-from" : "off-from";
    const std::string to = on ? "on-to" : "off-to";
    std::int64_t expected = 100'000;
    for (int i = 1; i <= rounds; ++i) {
      const std::int64_t amount = 150 * i;
      auto receipt = transfer(from, to, amount, with_fee(on));
      if (!receipt)
        return "transfer " + std::to_string(i) + " failed: " + microlith::describe(receipt.error());
      const std::int64_t fee = on ? bank::transfer_fee(amount) : 0;
      expected -= amount + fee;
      // The first transfer on opens fees: five entries.
      const int entries = on ? (i == 1 ? 5 : 4) : 2;
      if (receipt->fee() != fee || receipt->from().balance() != expected
          || receipt->entries_size() != entries)
        return "transfer " + std::to_string(i) + " answered " + receipt->DebugString();
    }
    return std::string{};
  };
  auto on = std::async(std::launch::async, sender, true);
  auto off = std::async(std::launch::async, sender, false);
  CHECK(on.get().empty());
  CHECK(off.get().empty());
  std::int64_t moved = 0, fees = 0;
  for (int i = 1; i <= rounds; ++i) {
    moved += 150 * i;
    fees += bank::transfer_fee(150 * i);
  }
  CHECK(balance("on-from") == 100'000 - moved - fees);
  CHECK(balance("off-from") == 100'000 - moved);
  CHECK(balance("on-to") == moved);
  CHECK(balance("off-to") == moved);
  CHECK(balance(bank::fees_account) == fees);
  auto on_history = history("on-from");
  auto off_history = history("off-from");
  CHECK(of_kind(on_history, "fee_out").size() == rounds);
  CHECK(of_kind(off_history, "fee_out").empty());
  for (const auto& fee_in : of_kind(history(bank::fees_account), "fee_in"))
    CHECK(fee_in.counterparty() == "on-from");
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a keyed transfer with a fee is applied once and a retry answers its "
                 "first receipt whatever the toggle says now and after a restart",
                 "[unit]") {
  REQUIRE(open("alice", 5000));
  REQUIRE(open("bob", 0));
  auto first = transfer("alice", "bob", 1000, with_fee(true, "t-1"));
  REQUIRE(first);
  REQUIRE(first->fee() == 10);
  const auto bytes = first->SerializeAsString();
  const auto entries_after_first = history().size();
  for (bool on : {true, false}) {
    auto again = transfer("alice", "bob", 1000, with_fee(on, "t-1"));
    REQUIRE(again);
    CHECK(again->SerializeAsString() == bytes);
  }
  CHECK(history().size() == entries_after_first);
  CHECK(keyed_history("t-1").size() == 5); // with the opening of fees
  // A new instance rebuilds the balances and the key from the whole history.
  kill(accounts, bank::accounts_service);
  accounts = start(bank::make_accounts());
  CHECK(balance("alice") == 3990);
  CHECK(balance("bob") == 1000);
  CHECK(balance(bank::fees_account) == 10);
  auto after_restart = transfer("alice", "bob", 1000, with_fee(false, "t-1"));
  REQUIRE(after_restart);
  CHECK(after_restart->SerializeAsString() == bytes);
  CHECK(history().size() == entries_after_first);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a transfer with a fee whose outcome was unknown and retried with its "
                 "key after fees was reconciled answers the whole receipt once",
                 "[unit]") {
  REQUIRE(open("alice", 5000));
  REQUIRE(open("bob", 0));
  kill(ledger, bank::ledger_service);
  stalled_appends = 0;
  caf::actor stalling;
  SECTION("the ledger recorded the first try") {
    stalling = start(make_stalling_ledger(ledger_db));
  }
  SECTION("the ledger lost the first try") {
    stalling = start(make_stalling_ledger());
  }
  auto in_flight = std::async(
    std::launch::async, [this] { return transfer("alice", "bob", 1000, with_fee(true, "t-9")); });
  REQUIRE(wait_until([] { return stalled_appends.load() == 1; }));
  kill(stalling, bank::ledger_service);
  auto unknown = in_flight.get();
  REQUIRE_FALSE(unknown);
  INFO(microlith::describe(unknown.error()));
  CHECK(microlith::is(unknown.error(), errc::service_down));
  CHECK_THAT(microlith::message_of(unknown.error()),
             Contains("a transfer of 1000 from account alice to account bob with its fee of 10")
               && Contains("accounts alice and bob and fees are reconciled"));

  ledger = start_ledger();
  // fees is reconciled first (its history holds the opening and the fee_in of the key, never the
  // key's whole outcome), then the retry.
  REQUIRE(wait_until([&] {
    auto fees = balance_of(bank::fees_account);
    return fees || !microlith::is(fees.error(), errc::service_unavailable);
  }));
  caf::expected<bank::TransferReceipt> retried{caf::error{}};
  REQUIRE(wait_until([&] {
    retried = transfer("alice", "bob", 1000, with_fee(true, "t-9"));
    return retried || !microlith::is(retried.error(), errc::service_unavailable);
  }));
  REQUIRE(retried);
  CHECK(retried->fee() == 10);
  CHECK(retried->from().balance() == 3990);
  CHECK(retried->to().balance() == 1000);
  CHECK(kinds_of(*retried) == kinds{"transfer_out", "transfer_in", "fee_out", "open", "fee_in"});
  CHECK(keyed_history("t-9").size() == 5);
  CHECK(settled_balance("alice") == 3990);
  CHECK(settled_balance(bank::fees_account) == 10);
  check_chain(history(bank::fees_account));
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a first fee whose Append the ledger refuses leaves no fees account "
                 "and the next one opens it",
                 "[unit]") {
  REQUIRE(open("alice", 5000));
  REQUIRE(open("bob", 0));
  // The key "taken" is recorded for another request by a writer accounts does not know.
  REQUIRE(open("carol", 1));
  append({ledger_entry("carol", 1, 2, "deposit")}, keyed("taken"));
  auto refused = transfer("alice", "bob", 1000, with_fee(true, "taken"));
  REQUIRE_FALSE(refused);
  CHECK(microlith::is(refused.error(), errc::idempotency_key_reused));
  check_refused(balance_of(bank::fees_account), errc::not_found, "no account fees");
  CHECK(balance("alice") == 5000);
  auto next = transfer("alice", "bob", 1000, with_fee(true));
  REQUIRE(next);
  CHECK(kinds_of(*next) == kinds{"transfer_out", "transfer_in", "fee_out", "open", "fee_in"});
  CHECK(balance(bank::fees_account) == 10);
}

TEST_CASE_METHOD(bank_fixture, "ledger: fee entries have their signs", "[unit]") {
  append({ledger_entry("a", 100, 100, "open"), ledger_entry("fees", 0, 0, "open")});
  bank::AppendRequest wrong;
  *wrong.add_entries() = ledger_entry("a", 5, 105, "fee_out", "fees");
  check_refused(n.call<bank::AppendReply>(bank::ledger_service, "Append", wrong),
                errc::invalid_argument, "ledger entry 0: a fee_out entry cannot have delta 5");
  bank::AppendRequest also_wrong;
  *also_wrong.add_entries() = ledger_entry("fees", -1, 0, "fee_in", "a");
  check_refused(n.call<bank::AppendReply>(bank::ledger_service, "Append", also_wrong),
                errc::invalid_argument, "ledger entry 0: a fee_in entry cannot have delta -1");
  auto fee = append(
    {ledger_entry("a", -1, 99, "fee_out", "fees"), ledger_entry("fees", 1, 1, "fee_in", "a")});
  CHECK(fee.entries_size() == 2);
}
