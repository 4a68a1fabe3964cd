// The bank's services on one node for the unit tests (test/unit/bank/*_test.cpp): the ledger,
// keeping its record in a SQLite file in a temp folder (so a ledger started again finds it, as
// the bank's file ledger does), and the accounts service, with blocking helpers for their calls;
// and test doubles of the ledger that hold appends in flight.
#pragma once

#include "accounts.hpp"
#include "ledger.hpp"
#include "ledger_store.hpp"

#include "proto/bank.pb.h"
#include "support/temp_folder.hpp"
#include "support/two_threads.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/actors/toggles.hpp>

#include <caf/all.hpp>

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bank_unit {

using namespace std::chrono_literals;
using microlith::errc;

/// Waits up to 5 s for `pred` to hold; returns whether it did.
template <class Pred>
bool wait_until(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// Toggle values in which bank.transfer_fee (the toggle accounts checks) is declared, with its
/// boolean gate `on`.
inline microlith::toggle_snapshot_ptr fee_toggle(bool on) {
  microlith::toggle_state fee;
  fee.name = bank::transfer_fee_toggle;
  fee.description = "a fee of 1% on transfers";
  fee.default_value = false;
  fee.gates.boolean = on;
  return std::make_shared<const microlith::toggle_snapshot>(
    std::vector<microlith::toggle_state>{std::move(fee)}, microlith::toggle_groups{});
}

/// Options for a blocking call that sees bank.transfer_fee `on` (and carries the idempotency key
/// `key` when not empty), whatever the node's values are.
inline microlith::blocking_call_options with_fee(bool on, const std::string& key = {}) {
  microlith::blocking_call_options opts;
  opts.toggles = fee_toggle(on);
  opts.idempotency_key = key;
  return opts;
}

/// Options for a blocking call carrying the idempotency key `key`.
inline microlith::blocking_call_options keyed(const std::string& key) {
  microlith::blocking_call_options opts;
  opts.idempotency_key = key;
  return opts;
}

using test_support::temp_folder;

/// Runs `sql` on the SQLite file `file` directly (not through the ledger's store): to write
/// what an older or a faulty program would have written.
inline void run_sql(const std::string& file, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  auto rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  std::string why = error != nullptr ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  INFO(why);
  REQUIRE(rc == SQLITE_OK);
}

/// Appends that a stalling ledger received (it never answers them).
inline std::atomic<int> stalled_appends{0};

/// A ledger that never answers an Append: it keeps the promises, so the change that called it
/// stays in flight until the test kills it. With a database, it records each append there
/// first — a ledger that dies after recording and before answering.
class stalling_ledger {
public:
  explicit stalling_ledger(const std::string& database = {}) {
    if (!database.empty())
      store_ = std::make_unique<bank::ledger_store>(database);
  }

  microlith::reply<bank::AppendReply> append(microlith::call_context& ctx,
                                             const bank::AppendRequest& req) {
    if (store_)
      store_->append({req.entries().begin(), req.entries().end()}, ctx.correlation_id(),
                     req.idempotency_key(), req.request_fingerprint());
    held_.push_back(ctx.make_promise<bank::AppendReply>());
    stalled_appends.fetch_add(1);
    return held_.back();
  }

private:
  std::unique_ptr<bank::ledger_store> store_;
  std::vector<microlith::promise<bank::AppendReply>> held_;
};

/// The definition of a stalling ledger (recording into `database` when it is not empty).
inline microlith::service_definition make_stalling_ledger(std::string database = {}) {
  return microlith::service<stalling_ledger>(bank::ledger_service, bank::ledger_contract,
                                             std::move(database))
    .handle("Append", &stalling_ledger::append);
}

/// A node with the ledger (on a SQLite file in a temp folder) and the accounts service started,
/// bank.transfer_fee declared on the node (off), and blocking helpers around them.
struct bank_fixture {
  temp_folder folder;
  std::string ledger_db = (folder.path() / "ledger.db").string();
  microlith::node n{test_support::two_threads()};
  caf::actor ledger;
  caf::actor accounts;

  bank_fixture() {
    n.publish_toggles(fee_toggle(false)); // what the bank.accounts module declares
    ledger = start_ledger();
    accounts = start(bank::make_accounts());
  }

  caf::actor start(const microlith::service_definition& def) {
    auto spawned = n.spawn(def);
    if (!spawned)
      FAIL("spawning " << def.name << " failed: " << microlith::describe(spawned.error()));
    return *spawned;
  }

  /// Starts a ledger on the fixture's file.
  caf::actor start_ledger() { return start(bank::make_ledger(ledger_db)); }

  /// Kills `instance` of `service` and waits until the registry no longer lists any instance.
  void kill(caf::actor& instance, const std::string& service) {
    caf::anon_send_exit(instance, caf::exit_reason::kill);
    instance = nullptr;
    REQUIRE(wait_until([&] { return n.registry().snapshot()->instances(service).empty(); }));
  }

  caf::expected<bank::Account> open(const std::string& id, std::int64_t initial,
                                    microlith::blocking_call_options opts = {}) {
    bank::OpenRequest req;
    req.set_id(id);
    req.set_initial_balance(initial);
    return n.call<bank::Account>(bank::accounts_service, "Open", req, std::move(opts));
  }

  caf::expected<bank::Account> deposit(const std::string& id, std::int64_t amount,
                                       const std::string& memo = {},
                                       microlith::blocking_call_options opts = {}) {
    bank::DepositRequest req;
    req.set_account_id(id);
    req.set_amount(amount);
    req.set_memo(memo);
    return n.call<bank::Account>(bank::accounts_service, "Deposit", req, std::move(opts));
  }

  /// Appends `entries` straight to the ledger, as one batch; answers what it recorded.
  bank::AppendReply append(const std::vector<bank::Entry>& entries,
                           microlith::blocking_call_options opts = {}) {
    bank::AppendRequest req;
    for (const auto& e : entries)
      *req.add_entries() = e;
    auto reply = n.call<bank::AppendReply>(bank::ledger_service, "Append", req, std::move(opts));
    if (!reply)
      FAIL("Append failed: " << microlith::describe(reply.error()));
    return *reply;
  }

  caf::expected<bank::Account> withdraw(const std::string& id, std::int64_t amount,
                                        microlith::blocking_call_options opts = {}) {
    bank::WithdrawRequest req;
    req.set_account_id(id);
    req.set_amount(amount);
    return n.call<bank::Account>(bank::accounts_service, "Withdraw", req, std::move(opts));
  }

  caf::expected<bank::TransferReceipt> transfer(const std::string& from, const std::string& to,
                                                std::int64_t amount,
                                                microlith::blocking_call_options opts = {}) {
    bank::TransferRequest req;
    req.set_from(from);
    req.set_to(to);
    req.set_amount(amount);
    return n.call<bank::TransferReceipt>(bank::accounts_service, "Transfer", req, std::move(opts));
  }

  caf::expected<bank::Account> balance_of(const std::string& id) {
    bank::BalanceRequest req;
    req.set_account_id(id);
    return n.call<bank::Account>(bank::accounts_service, "Balance", req);
  }

  /// The recorded balance of `id`; fails the test when there is none.
  std::int64_t balance(const std::string& id) {
    auto acct = balance_of(id);
    if (!acct)
      FAIL("Balance of " << id << " failed: " << microlith::describe(acct.error()));
    return acct->balance();
  }

  /// Waits until accounts answers the balance of `id` (an account in doubt refuses until it is
  /// reconciled with the ledger); answers it, or -1 when it never did.
  std::int64_t settled_balance(const std::string& id) {
    std::int64_t out = -1;
    wait_until([&] {
      auto acct = balance_of(id);
      if (acct)
        out = acct->balance();
      return static_cast<bool>(acct);
    });
    return out;
  }

  /// The ledger's entries recorded with the idempotency key `key`.
  std::vector<bank::Entry> keyed_history(const std::string& key) {
    bank::HistoryRequest req;
    req.set_idempotency_key(key);
    auto reply = n.call<bank::HistoryReply>(bank::ledger_service, "History", req);
    if (!reply)
      FAIL("History failed: " << microlith::describe(reply.error()));
    return {reply->entries().begin(), reply->entries().end()};
  }

  std::vector<bank::Entry> history(const std::string& id = {}) {
    bank::HistoryRequest req;
    req.set_account_id(id);
    auto reply = n.call<bank::HistoryReply>(bank::ledger_service, "History", req);
    if (!reply)
      FAIL("History failed: " << microlith::describe(reply.error()));
    return {reply->entries().begin(), reply->entries().end()};
  }
};

/// A ledger entry as accounts would send it.
inline bank::Entry ledger_entry(const std::string& account, std::int64_t delta, std::int64_t after,
                                const std::string& kind, const std::string& counterparty = {}) {
  bank::Entry e;
  e.set_account_id(account);
  e.set_delta(delta);
  e.set_balance_after(after);
  e.set_kind(kind);
  e.set_counterparty(counterparty);
  return e;
}

/// Checks that `result` failed with the kind `kind` and exactly `message`.
template <class T>
void check_refused(const caf::expected<T>& result, errc kind, const std::string& message) {
  REQUIRE_FALSE(result);
  INFO(microlith::describe(result.error()));
  CHECK(microlith::is(result.error(), kind));
  CHECK_THAT(microlith::message_of(result.error()), Catch::Matchers::Equals(message));
}

} // namespace bank_unit
