// Unit tests for the bank example's services (examples/bank/src): the accounts service and the
// ledger it records every change in, started on one node and driven through blocking calls —
// happy paths, every refusal, correlation ids reaching the ledger, concurrent transfers, a
// ledger that is gone or dies while a transfer waits for it, a new accounts instance rebuilding
// its balances from the ledger (or failing to start when it cannot), and the poisoned deposit
// that crashes the instance on purpose. What keeps accounts consistent with the ledger when an
// append's outcome is unknown, and idempotency keys: bank_consistency_test.cpp.
#include "bank_fixture.hpp"

#include "proto/bank.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using microlith::errc;

using namespace bank_unit;

TEST_CASE_METHOD(bank_fixture, "accounts: open, deposit, withdraw and balance", "[unit]") {
  auto opened = open("alice", 1000);
  REQUIRE(opened);
  CHECK(opened->id() == "alice");
  CHECK(opened->balance() == 1000);

  auto empty = open("bob", 0);
  REQUIRE(empty);
  CHECK(empty->balance() == 0);

  auto deposited = deposit("alice", 250);
  REQUIRE(deposited);
  CHECK(deposited->id() == "alice");
  CHECK(deposited->balance() == 1250);

  auto withdrawn = withdraw("alice", 1250);
  REQUIRE(withdrawn);
  CHECK(withdrawn->balance() == 0);

  CHECK(deposit("bob", 1).value().balance() == 1);
  CHECK(balance("alice") == 0);
  CHECK(balance("bob") == 1);
  auto bob = balance_of("bob");
  REQUIRE(bob);
  CHECK(bob->id() == "bob");
}

TEST_CASE_METHOD(bank_fixture, "accounts: every change is recorded in the ledger", "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(deposit("alice", 50));
  REQUIRE(withdraw("alice", 30));
  microlith::blocking_call_options opts;
  opts.correlation_id = "corr-dep";
  bank::DepositRequest req;
  req.set_account_id("alice");
  req.set_amount(5);
  REQUIRE(n.call<bank::Account>(bank::accounts_service, "Deposit", req, opts));

  auto entries = history("alice");
  REQUIRE(entries.size() == 4);
  const char* kinds[] = {"open", "deposit", "withdraw", "deposit"};
  const std::int64_t deltas[] = {100, 50, -30, 5};
  const std::int64_t after[] = {100, 150, 120, 125};
  for (std::size_t i = 0; i < entries.size(); ++i) {
    INFO("entry " << i);
    CHECK(entries[i].sequence() == i + 1);
    CHECK(entries[i].account_id() == "alice");
    CHECK(entries[i].kind() == kinds[i]);
    CHECK(entries[i].delta() == deltas[i]);
    CHECK(entries[i].balance_after() == after[i]);
    CHECK(entries[i].counterparty().empty());
    CHECK_FALSE(entries[i].correlation_id().empty());
  }
  CHECK(entries[0].correlation_id() != entries[1].correlation_id());
  CHECK(entries[3].correlation_id() == "corr-dep");
  CHECK(history("nobody").empty());
  CHECK(history().size() == 4);
}

TEST_CASE_METHOD(bank_fixture, "accounts: open refuses duplicates, empty ids and negative balances",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  check_refused(open("alice", 5), errc::already_exists, "account alice already exists");
  check_refused(open("bob", -1), errc::invalid_argument,
                "account bob: the initial balance must not be negative, got -1");
  check_refused(open("", 10), errc::invalid_argument, "an account id must not be empty");
  CHECK(balance("alice") == 100);
  check_refused(balance_of("bob"), errc::not_found, "no account bob");
  CHECK(history().size() == 1);
}

TEST_CASE_METHOD(bank_fixture, "accounts: unknown accounts are refused by every method", "[unit]") {
  REQUIRE(open("alice", 100));
  check_refused(deposit("ghost", 10), errc::not_found, "no account ghost");
  check_refused(withdraw("ghost", 10), errc::not_found, "no account ghost");
  check_refused(balance_of("ghost"), errc::not_found, "no account ghost");
  check_refused(transfer("ghost", "alice", 10), errc::not_found, "no account ghost");
  check_refused(transfer("alice", "ghost", 10), errc::not_found, "no account ghost");
  CHECK(balance("alice") == 100);
  CHECK(history().size() == 1);
}

TEST_CASE_METHOD(bank_fixture, "accounts: amounts that are not positive are refused", "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(open("bob", 100));
  check_refused(deposit("alice", 0), errc::invalid_argument,
                "a deposit must be a positive amount, got 0");
  check_refused(deposit("alice", -5), errc::invalid_argument,
                "a deposit must be a positive amount, got -5");
  check_refused(withdraw("alice", 0), errc::invalid_argument,
                "a withdrawal must be a positive amount, got 0");
  check_refused(withdraw("alice", -5), errc::invalid_argument,
                "a withdrawal must be a positive amount, got -5");
  check_refused(transfer("alice", "bob", 0), errc::invalid_argument,
                "a transfer must be a positive amount, got 0");
  check_refused(transfer("alice", "bob", -7), errc::invalid_argument,
                "a transfer must be a positive amount, got -7");
  check_refused(transfer("alice", "alice", 10), errc::invalid_argument,
                "cannot transfer from account alice to itself");
  CHECK(balance("alice") == 100);
  CHECK(balance("bob") == 100);
  CHECK(history().size() == 2);
}

TEST_CASE_METHOD(bank_fixture, "accounts: insufficient funds are refused with the amounts",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(open("bob", 0));
  check_refused(withdraw("alice", 101), errc::failed_precondition,
                "insufficient funds: account alice has 100, needs 101");
  check_refused(transfer("alice", "bob", 150), errc::failed_precondition,
                "insufficient funds: account alice has 100, needs 150");
  check_refused(withdraw("bob", 1), errc::failed_precondition,
                "insufficient funds: account bob has 0, needs 1");
  CHECK(balance("alice") == 100);
  CHECK(balance("bob") == 0);
  CHECK(history().size() == 2);
  REQUIRE(withdraw("alice", 100));
  CHECK(balance("alice") == 0);
}

TEST_CASE_METHOD(bank_fixture, "accounts: deposits that would overflow a balance are refused",
                 "[unit]") {
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  REQUIRE(open("rich", max - 10));
  REQUIRE(open("bob", 100));
  check_refused(deposit("rich", 11), errc::out_of_range,
                "account rich: a deposit of 11 would overflow its balance");
  check_refused(transfer("bob", "rich", 11), errc::out_of_range,
                "account rich: a transfer of 11 would overflow its balance");
  CHECK(deposit("rich", 10).value().balance() == max);
  CHECK(balance("bob") == 100);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a transfer moves the money and the ledger records it under the "
                 "caller's correlation id",
                 "[unit]") {
  REQUIRE(open("alice", 1000));
  REQUIRE(open("bob", 200));
  microlith::blocking_call_options opts;
  opts.correlation_id = "corr-42";
  auto receipt = transfer("alice", "bob", 300, opts);
  REQUIRE(receipt);
  CHECK(receipt->from().id() == "alice");
  CHECK(receipt->from().balance() == 700);
  CHECK(receipt->to().id() == "bob");
  CHECK(receipt->to().balance() == 500);
  CHECK(balance("alice") == 700);
  CHECK(balance("bob") == 500);

  std::vector<bank::Entry> moves;
  for (const auto& entry : history())
    if (entry.correlation_id() == "corr-42")
      moves.push_back(entry);
  REQUIRE(moves.size() == 2);
  CHECK(moves[0].sequence() == receipt->ledger_sequence());
  CHECK(moves[1].sequence() == receipt->ledger_sequence() + 1);
  CHECK(moves[0].kind() == "transfer_out");
  CHECK(moves[0].account_id() == "alice");
  CHECK(moves[0].counterparty() == "bob");
  CHECK(moves[0].delta() == -300);
  CHECK(moves[0].balance_after() == 700);
  CHECK(moves[1].kind() == "transfer_in");
  CHECK(moves[1].account_id() == "bob");
  CHECK(moves[1].counterparty() == "alice");
  CHECK(moves[1].delta() == 300);
  CHECK(moves[1].balance_after() == 500);
  CHECK(history("alice").back().correlation_id() == "corr-42");
  CHECK(history("bob").back().correlation_id() == "corr-42");
}

TEST_CASE_METHOD(bank_fixture, "ledger: an append is validated as a whole", "[unit]") {
  auto entry = [](const std::string& account, std::int64_t delta, std::int64_t after,
                  const std::string& kind) {
    bank::Entry e;
    e.set_account_id(account);
    e.set_delta(delta);
    e.set_balance_after(after);
    e.set_kind(kind);
    return e;
  };
  auto append = [&](std::vector<bank::Entry> entries, const std::string& correlation_id = {}) {
    bank::AppendRequest req;
    for (auto& e : entries)
      *req.add_entries() = std::move(e);
    microlith::blocking_call_options opts;
    opts.correlation_id = correlation_id;
    return n.call<bank::AppendReply>(bank::ledger_service, "Append", req, opts);
  };
  check_refused(append({}), errc::invalid_argument, "ledger append needs at least one entry");
  check_refused(append({entry("", 5, 5, "deposit")}), errc::invalid_argument,
                "ledger entry 0: account_id is empty");
  check_refused(append({entry("a", 5, 5, "deposit"), entry("a", 5, 10, "gift")}),
                errc::invalid_argument,
                "ledger entry 1: unknown kind \"gift\" (expected open, deposit, withdraw, "
                "transfer_in, transfer_out, fee_out or fee_in)");
  check_refused(append({entry("a", -5, 5, "deposit")}), errc::invalid_argument,
                "ledger entry 0: a deposit entry cannot have delta -5");
  check_refused(append({entry("a", 5, 5, "withdraw")}), errc::invalid_argument,
                "ledger entry 0: a withdraw entry cannot have delta 5");
  check_refused(append({entry("a", -5, -5, "withdraw")}), errc::invalid_argument,
                "ledger entry 0: account a would have the negative balance -5");
  CHECK(history().empty()); // nothing of a refused batch was recorded

  auto first = append({entry("a", 0, 0, "open"), entry("a", 7, 7, "deposit")}, "corr-batch");
  REQUIRE(first);
  REQUIRE(first->entries_size() == 2);
  CHECK_FALSE(first->replayed());
  CHECK(first->entries(0).sequence() == 1);
  CHECK(first->entries(0).kind() == "open");
  CHECK(first->entries(0).correlation_id() == "corr-batch");
  CHECK(first->entries(1).sequence() == 2);
  auto next = append({entry("b", 1, 1, "open")});
  REQUIRE(next);
  CHECK(next->entries(0).sequence() == 3);
  auto all = history();
  REQUIRE(all.size() == 3);
  CHECK(all[1].kind() == "deposit");
  CHECK(all[1].correlation_id() == "corr-batch");
  CHECK(all[2].correlation_id() != "corr-batch");
  CHECK(history("a").size() == 2);
}

TEST_CASE_METHOD(bank_fixture, "accounts: concurrent transfers keep the total and never overdraw",
                 "[unit]") {
  constexpr int account_count = 10;
  constexpr int thread_count = 8;
  constexpr int transfers_per_thread = 200;
  constexpr std::int64_t initial = 1000;
  std::vector<std::string> ids;
  for (int i = 0; i < account_count; ++i) {
    ids.push_back("acct-" + std::to_string(i));
    REQUIRE(open(ids.back(), initial));
  }

  std::atomic<int> succeeded{0};
  std::atomic<int> refused{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng{static_cast<std::mt19937::result_type>(t + 1)};
      std::uniform_int_distribution<int> pick{0, account_count - 1};
      std::uniform_int_distribution<std::int64_t> amount{1, 400};
      for (int i = 0; i < transfers_per_thread; ++i) {
        auto from = pick(rng);
        auto to = pick(rng);
        if (to == from)
          to = (to + 1) % account_count;
        auto result = transfer(ids[static_cast<std::size_t>(from)],
                               ids[static_cast<std::size_t>(to)], amount(rng));
        if (result) {
          ++succeeded;
        } else if (microlith::is(result.error(), errc::failed_precondition)
                   && microlith::message_of(result.error()).rfind("insufficient funds: ", 0) == 0) {
          ++refused;
        } else {
          std::lock_guard<std::mutex> guard{failures_mutex};
          failures.push_back(microlith::describe(result.error()));
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();

  INFO("unexpected failures: " << failures.size()
                               << (failures.empty() ? std::string{} : ", first: " + failures[0]));
  CHECK(failures.empty());
  CHECK(succeeded + refused == thread_count * transfers_per_thread);
  CHECK(succeeded > 0);

  std::int64_t total = 0;
  for (const auto& id : ids) {
    auto b = balance(id);
    CHECK(b >= 0);
    total += b;
  }
  CHECK(total == initial * account_count);

  // The ledger's record agrees: per account, every entry continues the previous balance, none is
  // negative, and the last one is the balance the accounts service reports.
  auto all = history();
  CHECK(all.size() == static_cast<std::size_t>(account_count + 2 * succeeded));
  std::map<std::string, std::int64_t> running;
  std::uint64_t last_sequence = 0;
  int chain_breaks = 0;
  for (const auto& e : all) {
    if (e.sequence() != last_sequence + 1)
      ++chain_breaks;
    last_sequence = e.sequence();
    auto& r = running[e.account_id()];
    if (r + e.delta() != e.balance_after() || e.balance_after() < 0)
      ++chain_breaks;
    r = e.balance_after();
  }
  CHECK(chain_breaks == 0);
  for (const auto& id : ids)
    CHECK(running[id] == balance(id));
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: with the ledger stopped, changes fail with service_unavailable and "
                 "nothing changes",
                 "[unit]") {
  REQUIRE(open("alice", 500));
  REQUIRE(open("bob", 100));
  kill(ledger, bank::ledger_service);

  auto moved = transfer("alice", "bob", 200);
  REQUIRE_FALSE(moved);
  INFO(microlith::describe(moved.error()));
  CHECK(microlith::code_of(moved.error()) == errc::service_unavailable);
  CHECK_THAT(microlith::message_of(moved.error()),
             Contains("a transfer of 200 from account alice to account bob was not recorded by "
                      "the ledger"));
  CHECK(balance("alice") == 500);
  CHECK(balance("bob") == 100);

  CHECK(microlith::is(deposit("alice", 1).error(), errc::service_unavailable));
  CHECK(microlith::is(withdraw("alice", 1).error(), errc::service_unavailable));
  CHECK(microlith::is(open("carol", 1).error(), errc::service_unavailable));
  CHECK(balance("alice") == 500);
  check_refused(balance_of("carol"), errc::not_found, "no account carol");

  // A ledger started again on the same file has the record; the money held by the failed
  // changes was released (service_unavailable: they never reached a ledger, nothing is in doubt).
  ledger = start_ledger();
  REQUIRE(open("carol", 1));
  auto all_of_it = transfer("alice", "bob", 500);
  REQUIRE(all_of_it);
  CHECK(balance("alice") == 0);
  CHECK(balance("bob") == 600);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: money in flight is held, and a ledger dying mid-transfer fails it "
                 "with service_down",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(open("bob", 0));
  REQUIRE(open("carol", 0));
  kill(ledger, bank::ledger_service);
  stalled_appends = 0;
  auto stalling = start(make_stalling_ledger());

  auto in_flight = std::async(std::launch::async, [this] { return transfer("alice", "bob", 60); });
  REQUIRE(wait_until([] { return stalled_appends.load() == 1; }));

  // The 60 cents are held: nobody else can spend them, and they are not yet anybody's balance.
  check_refused(transfer("alice", "carol", 60), errc::failed_precondition,
                "insufficient funds: account alice has 40, needs 60");
  check_refused(withdraw("alice", 41), errc::failed_precondition,
                "insufficient funds: account alice has 40, needs 41");
  CHECK(balance("alice") == 100);
  CHECK(balance("bob") == 0);

  kill(stalling, bank::ledger_service);
  auto moved = in_flight.get();
  REQUIRE_FALSE(moved);
  INFO(microlith::describe(moved.error()));
  CHECK(microlith::code_of(moved.error()) == errc::service_down);
  // Its outcome is unknown: both accounts refuse until they are reconciled with a ledger.
  auto doubtful = balance_of("alice");
  REQUIRE_FALSE(doubtful);
  CHECK(microlith::is(doubtful.error(), errc::service_unavailable));
  CHECK_THAT(microlith::message_of(doubtful.error()),
             Contains("account alice is being reconciled with the ledger"));

  ledger = start_ledger();
  CHECK(settled_balance("alice") == 100); // the stalling ledger recorded nothing
  CHECK(settled_balance("bob") == 0);
  REQUIRE(transfer("alice", "carol", 100));
  CHECK(balance("alice") == 0);
  CHECK(balance("carol") == 100);
}

TEST_CASE_METHOD(bank_fixture, "accounts: a new instance rebuilds its balances from the ledger",
                 "[unit]") {
  REQUIRE(open("alice", 1000));
  REQUIRE(open("bob", 200));
  REQUIRE(open("carol", 0));
  REQUIRE(deposit("alice", 50));
  REQUIRE(withdraw("bob", 20));
  REQUIRE(transfer("alice", "carol", 400));
  REQUIRE(transfer("carol", "bob", 100));
  const auto entries_before = history().size();

  kill(accounts, bank::accounts_service);
  CHECK(microlith::is(open("dave", 1).error(), errc::service_unavailable));
  accounts = start(bank::make_accounts());
  CHECK(balance("alice") == 650);
  CHECK(balance("bob") == 280);
  CHECK(balance("carol") == 300);
  CHECK(history().size() == entries_before); // rebuilding reads the ledger, it appends nothing

  // The rebuilt accounts refuse and accept as the old ones did.
  check_refused(open("alice", 5), errc::already_exists, "account alice already exists");
  check_refused(withdraw("carol", 301), errc::failed_precondition,
                "insufficient funds: account carol has 300, needs 301");
  auto receipt = transfer("bob", "alice", 280);
  REQUIRE(receipt);
  CHECK(receipt->from().balance() == 0);
  CHECK(receipt->to().balance() == 930);
  auto last = history("alice").back();
  CHECK(last.kind() == "transfer_in");
  CHECK(last.balance_after() == 930);
}

TEST_CASE_METHOD(bank_fixture, "accounts: an instance cannot start without a running ledger",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  kill(accounts, bank::accounts_service);
  kill(ledger, bank::ledger_service);
  auto started = n.spawn(bank::make_accounts());
  REQUIRE_FALSE(started);
  INFO(microlith::describe(started.error()));
  CHECK(microlith::is(started.error(), errc::service_unavailable));
  CHECK_THAT(microlith::message_of(started.error()),
             Contains("accounts failed to start")
               && Contains("accounts cannot rebuild its balances: the ledger's History failed")
               && Contains("no instance of service ledger is running"));
  CHECK(n.registry().snapshot()->instances(bank::accounts_service).empty());
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a poisoned deposit crashes the instance before anything changes",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(deposit("alice", 5, "a birthday present")); // any other memo is an ordinary deposit
  auto poisoned = deposit("alice", 7, "poison");
  REQUIRE_FALSE(poisoned);
  INFO(microlith::describe(poisoned.error()));
  CHECK(microlith::is(poisoned.error(), errc::remote_error));
  CHECK_THAT(microlith::message_of(poisoned.error()),
             Equals("accounts.Deposit threw: poisoned deposit: 7 cents to account alice carry the "
                    "memo \"poison\", the bank example's crash trigger"));
  // Not supervised here: the crashed instance is gone, and nothing reached the ledger.
  REQUIRE(
    wait_until([&] { return n.registry().snapshot()->instances(bank::accounts_service).empty(); }));
  auto entries = history("alice");
  REQUIRE(entries.size() == 2);
  CHECK(entries.back().balance_after() == 105);
  accounts = start(bank::make_accounts());
  CHECK(balance("alice") == 105);
}
