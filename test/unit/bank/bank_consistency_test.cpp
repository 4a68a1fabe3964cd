// The bank's consistency between accounts and its source of truth, the ledger (on a SQLite file
// in a temp folder), on one node: the ledger refuses an entry that does not continue its record;
// an append whose outcome is unknown (its ledger died before or after recording it) puts the
// account in doubt until it is reconciled, so the next entry continues the ledger's record; a
// refusal as stale is reconciled the same way; a rebuild follows an inconsistent ledger and logs
// each entry at fault; and idempotency keys: a repeat answers the first outcome (also after a
// restart, also when it would be refused now), a reused key is refused, concurrent requests with
// one key apply once, and an in-doubt deposit retried with its key is applied exactly once.
#include "bank_fixture.hpp"
#include "fingerprint.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <vector>

using namespace bank_unit;
using Catch::Matchers::Contains;

namespace {

/// Sends what this process writes to stderr (the log) into a file until `finish()`.
class stderr_capture {
public:
  explicit stderr_capture(std::filesystem::path file) : file_(std::move(file)) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    int fd = ::open(file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    ::dup2(fd, 2);
    ::close(fd);
  }

  ~stderr_capture() { restore(); }

  stderr_capture(const stderr_capture&) = delete;
  stderr_capture& operator=(const stderr_capture&) = delete;

  /// Stops capturing; answers what was written.
  std::string finish() {
    restore();
    std::ifstream in{file_};
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

private:
  void restore() {
    if (saved_ < 0)
      return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }

  std::filesystem::path file_;
  int saved_ = -1;
};

/// Checks that the ledger's entries of `account` each continue the one before.
void check_chain(const std::vector<bank::Entry>& entries) {
  std::int64_t running = 0;
  for (const auto& e : entries) {
    INFO("ledger entry " << e.sequence());
    CHECK(running + e.delta() == e.balance_after());
    running = e.balance_after();
  }
}

/// An answer rendered for comparison: the response's bytes, or the error's kind and message.
template <class T>
std::string rendered(const caf::expected<T>& result) {
  return result ? result->SerializeAsString() : "error: " + microlith::describe(result.error());
}

} // namespace

TEST_CASE_METHOD(bank_fixture,
                 "ledger: an entry that does not continue its account's record is refused with "
                 "aborted, and a key is recorded once",
                 "[unit]") {
  append({ledger_entry("a", 100, 100, "open")});
  bank::AppendRequest stale;
  *stale.add_entries() = ledger_entry("a", 5, 200, "deposit");
  auto refused = n.call<bank::AppendReply>(bank::ledger_service, "Append", stale);
  check_refused(refused, errc::aborted,
                "ledger entry 0 (deposit of 5 for account a): the entry says balance_after 200, "
                "expected 105 (the recorded balance 100 plus the delta)");

  // The key of the request being handled (the call's metadata) makes the append idempotent.
  auto first = append({ledger_entry("a", 5, 105, "deposit")}, keyed("k-1"));
  CHECK_FALSE(first.replayed());
  // A repeat of the same Append (by the key's fingerprint, which is the Append's own when the
  // request brings none) answers the first entries, though they no longer continue the record.
  auto again = append({ledger_entry("a", 5, 105, "deposit")}, keyed("k-1"));
  CHECK(again.replayed());
  REQUIRE(again.entries_size() == 1);
  CHECK(again.entries(0).sequence() == first.entries(0).sequence());
  CHECK(again.entries(0).balance_after() == 105);
  bank::AppendRequest other;
  *other.add_entries() = ledger_entry("a", 6, 111, "deposit");
  auto reused = n.call<bank::AppendReply>(bank::ledger_service, "Append", other, keyed("k-1"));
  REQUIRE_FALSE(reused);
  CHECK(microlith::is(reused.error(), errc::idempotency_key_reused));
  CHECK(history("a").size() == 2);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a deposit whose outcome is unknown puts the account in doubt until it "
                 "is reconciled with the ledger, and the next entry continues the ledger's record",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  kill(ledger, bank::ledger_service);
  stalled_appends = 0;
  caf::actor stalling;
  std::int64_t expected = 0;
  SECTION("the ledger recorded it, then died before answering") {
    stalling = start(make_stalling_ledger(ledger_db));
    expected = 105;
  }
  SECTION("the ledger died before recording it") {
    stalling = start(make_stalling_ledger());
    expected = 100;
  }
  auto in_flight = std::async(std::launch::async, [this] { return deposit("alice", 5); });
  REQUIRE(wait_until([] { return stalled_appends.load() == 1; }));
  kill(stalling, bank::ledger_service);
  auto unknown = in_flight.get();
  REQUIRE_FALSE(unknown);
  INFO(microlith::describe(unknown.error()));
  CHECK(microlith::is(unknown.error(), errc::service_down));
  CHECK_THAT(microlith::message_of(unknown.error()),
             Contains("the outcome of a deposit of 5 to account alice is unknown")
               && Contains("send an Idempotency-Key to retry safely"));

  // Nothing is answered or recorded from a state the ledger may not have.
  for (auto refused : {balance_of("alice"), deposit("alice", 1)}) {
    REQUIRE_FALSE(refused);
    CHECK(microlith::is(refused.error(), errc::service_unavailable));
    CHECK_THAT(microlith::message_of(refused.error()),
               Contains("account alice is being reconciled with the ledger"));
  }

  ledger = start_ledger();
  CHECK(settled_balance("alice") == expected);
  auto next = deposit("alice", 1);
  REQUIRE(next);
  CHECK(next->balance() == expected + 1);
  auto entries = history("alice");
  check_chain(entries);
  CHECK(entries.back().balance_after() == expected + 1);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a deposit whose outcome was unknown, retried with the same "
                 "Idempotency-Key, is applied exactly once",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  kill(ledger, bank::ledger_service);
  stalled_appends = 0;
  caf::actor stalling;
  SECTION("the ledger recorded the first try") {
    stalling = start(make_stalling_ledger(ledger_db));
  }
  SECTION("the ledger lost the first try") {
    stalling = start(make_stalling_ledger());
  }
  auto in_flight =
    std::async(std::launch::async, [this] { return deposit("alice", 5, {}, keyed("dep-1")); });
  REQUIRE(wait_until([] { return stalled_appends.load() == 1; }));
  kill(stalling, bank::ledger_service);
  auto unknown = in_flight.get();
  REQUIRE_FALSE(unknown);
  CHECK(microlith::is(unknown.error(), errc::service_down));
  CHECK_THAT(microlith::message_of(unknown.error()),
             Contains("a retry with the same Idempotency-Key is safe"));

  ledger = start_ledger();
  caf::expected<bank::Account> retried{caf::error{}};
  REQUIRE(wait_until([&] {
    retried = deposit("alice", 5, {}, keyed("dep-1"));
    return retried || !microlith::is(retried.error(), errc::service_unavailable);
  }));
  REQUIRE(retried);
  CHECK(retried->balance() == 105);
  CHECK(keyed_history("dep-1").size() == 1);
  auto again = deposit("alice", 5, {}, keyed("dep-1"));
  REQUIRE(again);
  CHECK(again->balance() == 105);
  CHECK(balance("alice") == 105);
  CHECK(history("alice").size() == 2);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a change the ledger refuses as not continuing its record is answered "
                 "aborted, and the account is reconciled to the ledger's balance",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  append({ledger_entry("alice", 7, 107, "deposit")}); // another writer accounts does not know
  auto refused = deposit("alice", 1);
  REQUIRE_FALSE(refused);
  INFO(microlith::describe(refused.error()));
  CHECK(microlith::is(refused.error(), errc::aborted));
  CHECK_THAT(microlith::message_of(refused.error()),
             Contains("the entry says balance_after 101, expected 108")
               && Contains("account alice is being reconciled with the ledger"));
  CHECK(settled_balance("alice") == 107);
  auto next = deposit("alice", 1);
  REQUIRE(next);
  CHECK(next->balance() == 108);
  check_chain(history("alice"));
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a rebuild follows the ledger where its history does not add up, logs "
                 "each entry at fault, and starts",
                 "[unit]") {
  kill(accounts, bank::accounts_service);
  // Rows the ledger would refuse now, as an older program could have written them.
  std::string rows;
  std::string account;
  std::int64_t followed = 0;
  std::string warning;
  SECTION("a balance_after that the replay does not reach") {
    rows = "('a', 100, 100, 'open', '', ''), ('a', 5, 200, 'deposit', '', '')";
    account = "a";
    followed = 200;
    warning = "ledger entry 2 (deposit of 5 for account a, balance_after 200): replaying it gives "
              "the balance 105, the entry says 200; following the ledger";
  }
  SECTION("an entry for an account that was never opened") {
    rows = "('a', 100, 100, 'open', '', ''), ('b', 10, 10, 'transfer_in', '', 'a')";
    account = "b";
    followed = 10;
    warning = "ledger entry 2 (transfer_in of 10 for account b, balance_after 10): the account "
              "was never opened; following the ledger";
  }
  SECTION("an account opened twice") {
    rows = "('a', 100, 100, 'open', '', ''), ('a', 0, 0, 'open', '', '')";
    account = "a";
    followed = 0;
    warning = "ledger entry 2 (open of 0 for account a, balance_after 0): the account was opened "
              "already, with the balance 100; following the ledger";
  }
  run_sql(ledger_db, ("INSERT INTO entries (account_id, delta, balance_after, kind, "
                      "correlation_id, counterparty) VALUES "
                      + rows)
                       .c_str());
  stderr_capture log{folder.path() / "stderr.log"};
  auto started = n.spawn(bank::make_accounts());
  auto output = log.finish();
  INFO(output);
  REQUIRE(started);
  accounts = *started;
  CHECK_THAT(output, Contains(warning));
  CHECK_THAT(output, Contains("(1 inconsistent entries followed as the ledger recorded them)"));
  CHECK(balance(account) == followed);
  // And new entries continue the ledger's record from there.
  auto next = deposit(account, 1);
  REQUIRE(next);
  CHECK(next->balance() == followed + 1);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a repeated Idempotency-Key answers the first outcome and applies "
                 "nothing, even when it would be refused now and after accounts restarts",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(open("bob", 0));
  std::function<std::string()> request;
  std::size_t entries_per_key = 1;
  SECTION("a deposit") {
    request = [this] { return rendered(deposit("alice", 50, {}, keyed("k"))); };
  }
  SECTION("a withdrawal that the balance no longer covers") {
    request = [this] { return rendered(withdraw("alice", 100, keyed("k"))); };
  }
  SECTION("the opening of an account that exists now") {
    request = [this] { return rendered(open("carol", 5, keyed("k"))); };
  }
  SECTION("a transfer") {
    request = [this] { return rendered(transfer("alice", "bob", 60, keyed("k"))); };
    entries_per_key = 2;
  }
  auto first = request();
  REQUIRE(first.rfind("error: ", 0) == std::string::npos);
  const auto entries_after_first = history().size();
  REQUIRE(deposit("bob", 1)); // the state moves on
  CHECK(request() == first);
  CHECK(history().size() == entries_after_first + 1);

  kill(accounts, bank::accounts_service);
  accounts = start(bank::make_accounts());
  CHECK(request() == first);
  CHECK(keyed_history("k").size() == entries_per_key);
  CHECK(history().size() == entries_after_first + 1);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: an Idempotency-Key reused with another request is refused with "
                 "idempotency_key_reused and changes nothing",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(deposit("alice", 50, {}, keyed("k-9")));
  auto check_reused = [&] {
    for (auto reused : {deposit("alice", 51, {}, keyed("k-9")), withdraw("alice", 50, keyed("k-9")),
                        deposit("alice", 50, "a memo", keyed("k-9"))}) {
      REQUIRE_FALSE(reused);
      INFO(microlith::describe(reused.error()));
      CHECK(microlith::is(reused.error(), errc::idempotency_key_reused));
      CHECK_THAT(microlith::message_of(reused.error()), Contains("\"k-9\""));
    }
    CHECK(balance("alice") == 150);
  };
  check_reused();
  kill(accounts, bank::accounts_service);
  accounts = start(bank::make_accounts());
  check_reused();
  CHECK(history("alice").size() == 2);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: concurrent requests with one Idempotency-Key apply it once", "[unit]") {
  REQUIRE(open("alice", 100));
  std::vector<std::future<caf::expected<bank::Account>>> racing;
  for (int i = 0; i < 8; ++i)
    racing.push_back(
      std::async(std::launch::async, [this] { return deposit("alice", 10, {}, keyed("same")); }));
  int applied = 0;
  for (auto& f : racing) {
    auto r = f.get();
    if (r) {
      ++applied;
      CHECK(r->balance() == 110); // every success is the one outcome
    } else {
      INFO(microlith::describe(r.error()));
      CHECK(microlith::is(r.error(), errc::aborted)); // still in progress: retry
      CHECK_THAT(microlith::message_of(r.error()), Contains("still in progress"));
    }
  }
  CHECK(applied >= 1);
  CHECK(keyed_history("same").size() == 1);
  CHECK(balance("alice") == 110);
}

TEST_CASE_METHOD(bank_fixture,
                 "accounts: a keyed request that the ledger recorded without accounts knowing "
                 "answers that first outcome",
                 "[unit]") {
  REQUIRE(open("alice", 100));
  REQUIRE(open("bob", 0));
  // An earlier accounts instance's transfer, recorded after this instance read the ledger.
  bank::TransferRequest moved;
  moved.set_from("alice");
  moved.set_to("bob");
  moved.set_amount(100);
  bank::AppendRequest late;
  *late.add_entries() = ledger_entry("alice", -100, 0, "transfer_out", "bob");
  *late.add_entries() = ledger_entry("bob", 100, 100, "transfer_in", "alice");
  late.set_idempotency_key("late");
  late.set_request_fingerprint(bank::request_fingerprint("bank.Accounts/Transfer", moved));
  auto recorded = n.call<bank::AppendReply>(bank::ledger_service, "Append", late);
  REQUIRE(recorded);

  SECTION("accounts still believes the transfer is covered: the ledger answers the key") {}
  SECTION("accounts would refuse it now: it asks the ledger for the key before refusing") {
    // An append from accounts' stale view is refused; alice is reconciled to 0.
    auto stale = withdraw("alice", 10);
    REQUIRE_FALSE(stale);
    CHECK(microlith::is(stale.error(), errc::aborted));
    REQUIRE(settled_balance("alice") == 0);
  }
  auto receipt = transfer("alice", "bob", 100, keyed("late"));
  REQUIRE(receipt);
  CHECK(receipt->from().balance() == 0);
  CHECK(receipt->to().balance() == 100);
  CHECK(receipt->ledger_sequence() == recorded->entries(0).sequence());
  CHECK(keyed_history("late").size() == 2);
  CHECK(settled_balance("alice") == 0);
  CHECK(settled_balance("bob") == 100); // reconciled: the entries were news to accounts
  check_chain(history("bob"));
}
