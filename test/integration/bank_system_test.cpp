// The whole bank, started from its system file in one process, driven only through `call`:
// happy paths, every error a caller can see, concurrent transfers keeping the total constant,
// correlation ids visible end to end, and a supervised restart of the ledger.
#include "integration/bank_system.hpp"

#include <microlith/actors/envelope.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/system_file.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

using microlith::errc;

using bank_test::bank_system;

TEST_CASE("the bank starts from its system file with groups in dependency order", "[integration]") {
  bank_system bank;
  CHECK(bank.host.running_groups()
        == std::vector<std::string>{"ledger", "accounts", "payments", "web"});
  CHECK(bank.instance_of("ledger"));
  CHECK(bank.instance_of("accounts"));
}

TEST_CASE("the bank's happy paths", "[integration]") {
  bank_system bank;
  REQUIRE(bank.open("alice", 100)->balance() == 100);
  REQUIRE(bank.open("bob", 0)->balance() == 0);

  SECTION("deposit and withdraw") {
    bank::DepositRequest dep;
    dep.set_account_id("alice");
    dep.set_amount(50);
    auto after_deposit = bank.node.call<bank::Account>("accounts", "Deposit", dep);
    REQUIRE(after_deposit);
    CHECK(after_deposit->balance() == 150);
    bank::WithdrawRequest wd;
    wd.set_account_id("alice");
    wd.set_amount(30);
    auto after_withdraw = bank.node.call<bank::Account>("accounts", "Withdraw", wd);
    REQUIRE(after_withdraw);
    CHECK(after_withdraw->balance() == 120);
    CHECK(bank.balance("alice") == 120);
  }

  SECTION("transfer moves money and the ledger records both sides") {
    auto receipt = bank.transfer("alice", "bob", 40);
    REQUIRE(receipt);
    CHECK(receipt->from().balance() == 60);
    CHECK(receipt->to().balance() == 40);
    CHECK(bank.balance("alice") == 60);
    CHECK(bank.balance("bob") == 40);
    auto alice = bank.history("alice");
    REQUIRE(alice.entries_size() == 2); // open, transfer_out
    CHECK(alice.entries(1).kind() == "transfer_out");
    CHECK(alice.entries(1).delta() == -40);
    CHECK(alice.entries(1).counterparty() == "bob");
  }
}

TEST_CASE("every error a caller of the bank can see", "[integration]") {
  bank_system bank;
  REQUIRE(bank.open("alice", 100));

  SECTION("the handler's kind and message: not_found, failed_precondition") {
    auto r = bank.transfer("alice", "nobody-yet", 10);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::not_found));
    REQUIRE(bank.open("bob", 0));
    auto poor = bank.transfer("alice", "bob", 1000);
    REQUIRE_FALSE(poor);
    CHECK(microlith::is(poor.error(), errc::failed_precondition));
    CHECK_THAT(microlith::message_of(poor.error()),
               Catch::Contains("insufficient funds") && Catch::Contains("alice"));
    CHECK(bank.balance("alice") == 100);
  }

  SECTION("service_unavailable: no instance of that name") {
    bank::BalanceRequest req;
    req.set_account_id("alice");
    auto r = bank.node.call<bank::Account>("audit", "Balance", req);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
    CHECK_THAT(microlith::message_of(r.error()), Catch::Contains("audit"));
  }

  SECTION("no_such_method: the service has no such method") {
    bank::BalanceRequest req;
    req.set_account_id("alice");
    auto r = bank.node.call<bank::Account>("accounts", "Close", req);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::no_such_method));
    CHECK_THAT(microlith::message_of(r.error()), Catch::Contains("Close"));
  }

  SECTION("bad_request: the body's type does not match the method") {
    bank::DepositRequest wrong;
    wrong.set_account_id("alice");
    auto r = bank.node.call<bank::Account>("accounts", "Balance", wrong);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::bad_request));
    CHECK_THAT(microlith::message_of(r.error()),
               Catch::Contains("bank.BalanceRequest") && Catch::Contains("bank.DepositRequest"));
  }

  SECTION("timeout: a call queued behind a long backlog fails at its deadline") {
    bank::DepositRequest dep;
    dep.set_account_id("alice");
    dep.set_amount(1);
    for (int i = 0; i < 20000; ++i)
      bank.node.cast("accounts", "Deposit", dep);
    microlith::blocking_call_options opts;
    opts.timeout = std::chrono::milliseconds(1);
    auto started = std::chrono::steady_clock::now();
    bank::BalanceRequest req;
    req.set_account_id("alice");
    auto r = bank.node.call<bank::Account>("accounts", "Balance", req, opts);
    auto took = std::chrono::steady_clock::now() - started;
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK(took < std::chrono::seconds(1));
  }
}

namespace {

/// A second connection to a ledger's SQLite file that holds its write lock until release():
/// the ledger's next Append waits in its handler (SQLite's busy timeout, 5 s) meanwhile.
class write_lock {
public:
  explicit write_lock(const std::string& path) {
    REQUIRE(sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }

  ~write_lock() {
    release();
    sqlite3_close(db_);
  }

  write_lock(const write_lock&) = delete;
  write_lock& operator=(const write_lock&) = delete;

  void release() {
    if (held_)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    held_ = false;
  }

private:
  sqlite3* db_ = nullptr;
  bool held_ = true;
};

} // namespace

TEST_CASE("service_down: the ledger dies while a transfer's Append waits in its mailbox, and the "
          "transfer is undone",
          "[integration]") {
  // The ledger keeps its entries in a file, so that the test can hold the file's write lock from
  // a second connection: the ledger then cannot get past the first of a few queued Appends, and
  // the transfer's Append waits behind them for as long as the test wants.
  bank_system bank;
  REQUIRE(bank.open("alice", 100));
  REQUIRE(bank.open("bob", 0));
  auto ledger = bank.instance_of("ledger");
  REQUIRE(ledger);

  write_lock lock{(bank.folder.path() / "ledger.db").string()};
  // Appends queued straight to the ledger ahead of the transfer's. The first waits for the lock
  // in its handler. Once the ledger is killed, CAF 0.17 handles at most 3 ordinary messages of
  // its current round before it looks at the urgent queue that holds the kill: 8 ahead are enough
  // for the transfer's Append never to be handled.
  bank::AppendRequest filler;
  auto* entry = filler.add_entries();
  entry->set_account_id("filler");
  entry->set_kind("deposit");
  entry->set_delta(1);
  entry->set_balance_after(1);
  microlith::envelope cast;
  cast.kind = microlith::envelope_kind::cast;
  cast.service = "ledger";
  cast.method = "Append";
  cast.body = std::make_shared<const bank::AppendRequest>(filler);
  for (int i = 0; i < 8; ++i)
    caf::anon_send(ledger, cast);

  caf::expected<bank::TransferReceipt> r{bank::TransferReceipt{}};
  std::thread caller{[&] {
    microlith::blocking_call_options opts;
    opts.timeout = std::chrono::seconds(30);
    r = bank.transfer("alice", "bob", 10, opts);
  }};
  // Accounts holds the transfer's 10 cents in the same handler that sends the Append, so once a
  // withdrawal is refused for 90 spendable cents, the Append is in the ledger's mailbox, behind
  // the queued ones. (The first queued Append waits at most SQLite's busy timeout, 5 s, then
  // fails and crashes the ledger, which would fail the transfer the same way; the transfer
  // reaches accounts within milliseconds.)
  auto held = [&] {
    bank::WithdrawRequest wd;
    wd.set_account_id("alice");
    wd.set_amount(101); // always refused; the message says what is spendable
    auto refused = bank.node.call<bank::Account>("accounts", "Withdraw", wd);
    return !refused && microlith::message_of(refused.error()).find("has 90") != std::string::npos;
  };
  // Generous: the transfer takes a few milliseconds to reach accounts even on a loaded machine.
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool sent = held();
  while (!sent && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    sent = held();
  }
  if (sent)
    microlith::signal_exit(ledger, caf::exit_reason::kill);
  lock.release();
  caller.join();
  REQUIRE(sent);
  // Its deadline (30 s) would have failed it with timeout: service_down says the ledger's death
  // failed it.
  REQUIRE_FALSE(r);
  CHECK(microlith::is(r.error(), errc::service_down));
  // The outcome was unknown to accounts: it reconciles both accounts with the restarted ledger
  // (same file), which never recorded the transfer.
  CHECK(bank.settled_balance("alice") == 100);
  CHECK(bank.settled_balance("bob") == 0);
  auto alice = bank.history("alice");
  CHECK(alice.entries_size() == 1); // only its opening: the transfer was never recorded
}

TEST_CASE("correlation ids travel from the caller through accounts into the ledger",
          "[integration]") {
  bank_system bank;
  REQUIRE(bank.open("alice", 100));
  REQUIRE(bank.open("bob", 0));
  microlith::blocking_call_options opts;
  opts.correlation_id = "corr-e2e-42";
  REQUIRE(bank.transfer("alice", "bob", 25, opts));
  auto bob = bank.history("bob");
  REQUIRE(bob.entries_size() == 2);
  CHECK(bob.entries(1).kind() == "transfer_in");
  CHECK(bob.entries(1).correlation_id() == "corr-e2e-42");
  auto alice = bank.history("alice");
  CHECK(alice.entries(1).correlation_id() == "corr-e2e-42");
  // A call without one gets a fresh id, different for each call.
  REQUIRE(bank.transfer("alice", "bob", 1));
  REQUIRE(bank.transfer("alice", "bob", 1));
  bob = bank.history("bob");
  REQUIRE(bob.entries_size() == 4);
  CHECK_FALSE(bob.entries(2).correlation_id().empty());
  CHECK(bob.entries(2).correlation_id() != bob.entries(3).correlation_id());
}

TEST_CASE("concurrent transfers from many callers keep the total balance constant",
          "[integration]") {
  bank_system bank;
  constexpr int accounts = 10;
  constexpr std::int64_t initial = 1000;
  for (int i = 0; i < accounts; ++i)
    REQUIRE(bank.open("acct-" + std::to_string(i), initial));
  constexpr int callers = 8;
  constexpr int transfers_each = 250;
  std::atomic<int> succeeded{0};
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t * 7919 + 1));
      std::uniform_int_distribution<int> pick(0, accounts - 1);
      std::uniform_int_distribution<int> amount(1, 400);
      for (int i = 0; i < transfers_each; ++i) {
        int from = pick(rng);
        int to = pick(rng);
        if (to == from)
          to = (to + 1) % accounts;
        auto r =
          bank.transfer("acct-" + std::to_string(from), "acct-" + std::to_string(to), amount(rng));
        if (r)
          ++succeeded;
        else if (microlith::is(r.error(), errc::failed_precondition))
          ++refused; // insufficient funds
        else
          ++other;
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(other == 0);
  CHECK(succeeded + refused == callers * transfers_each);
  CHECK(succeeded > 0);
  std::int64_t total = 0;
  for (int i = 0; i < accounts; ++i) {
    auto b = bank.balance("acct-" + std::to_string(i));
    CHECK(b >= 0);
    total += b;
  }
  CHECK(total == accounts * initial);
  // The ledger recorded every successful transfer on both sides.
  CHECK(bank.history("").entries_size() == accounts + 2 * succeeded);
}

TEST_CASE("a killed ledger is restarted by its group and reachable again by name",
          "[integration]") {
  bank_system bank;
  auto before = bank.instance_of("ledger");
  REQUIRE(before);
  microlith::signal_exit(before, caf::exit_reason::kill);
  // The supervisor replaces it; callers by name reach the new instance without doing anything.
  caf::actor after;
  for (int i = 0; i < 500 && (!after || after == before); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    after = bank.instance_of("ledger");
  }
  REQUIRE(after);
  CHECK(after != before);
  REQUIRE(bank.open("carol", 5));
  CHECK(bank.history("carol").entries_size() == 1);
  CHECK(bank.host.running_groups()
        == std::vector<std::string>{"ledger", "accounts", "payments", "web"});
}
