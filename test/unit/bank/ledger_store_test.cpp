// The ledger's SQLite store (examples/bank/src/ledger_store.cpp) on real files in a temp folder:
// entries survive reopening, two stores on one file (two replicas) see each other's entries, a
// batch is numbered in order, an entry that does not continue its account's record is refused,
// an idempotency key is recorded once (also by two stores racing on one file), a file written
// before the idempotency columns existed still opens, strings with embedded NUL characters come
// back byte for byte, and a database that cannot be opened (or whose path holds a NUL) is refused
// naming its path.
#include "bank_fixture.hpp"
#include "ledger_store.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using outcome = bank::append_result::outcome;
using bank_unit::run_sql;
using bank_unit::temp_folder;

namespace {

bank::Entry entry(const std::string& account, std::int64_t delta, std::int64_t after,
                  const std::string& kind) {
  bank::Entry e;
  e.set_account_id(account);
  e.set_delta(delta);
  e.set_balance_after(after);
  e.set_kind(kind);
  return e;
}

} // namespace

TEST_CASE("ledger store: entries survive reopening and are shared by stores on one file",
          "[unit][bank]") {
  temp_folder folder;
  auto file = (folder.path() / "ledger.db").string();
  {
    bank::ledger_store store{file};
    auto recorded = store.append({entry("ada", 100, 100, "open")}, "c-1");
    REQUIRE(recorded.result == outcome::recorded);
    REQUIRE(recorded.entries.size() == 1);
    CHECK(recorded.entries[0].sequence() == 1);
    CHECK(recorded.entries[0].correlation_id() == "c-1");
  }
  bank::ledger_store reopened{file};
  bank::ledger_store replica{file};
  REQUIRE(replica.append({entry("bob", 0, 0, "open")}, "c-2").result == outcome::recorded);
  auto batch = replica.append(
    {entry("ada", -20, 80, "transfer_out"), entry("bob", 20, 20, "transfer_in")}, "c-3");
  REQUIRE(batch.result == outcome::recorded);
  REQUIRE(batch.entries.size() == 2);
  CHECK(batch.entries[0].sequence() == 3);
  CHECK(batch.entries[1].sequence() == 4);
  auto ada = reopened.history("ada");
  REQUIRE(ada.size() == 2);
  CHECK(ada[0].kind() == "open");
  CHECK(ada[1].kind() == "transfer_out");
  CHECK(ada[1].correlation_id() == "c-3");
  CHECK(reopened.history("").size() == 4);
  CHECK(reopened.history("nobody").empty());
}

TEST_CASE("ledger store: in memory, each store is its own", "[unit][bank]") {
  bank::ledger_store one{":memory:"};
  bank::ledger_store two{":memory:"};
  REQUIRE(one.append({entry("ada", 1, 1, "open")}, "").result == outcome::recorded);
  CHECK(one.history("").size() == 1);
  CHECK(two.history("").empty());
}

TEST_CASE("ledger store: an entry that does not continue its account's record is refused",
          "[unit][bank]") {
  bank::ledger_store store{":memory:"};
  REQUIRE(store.append({entry("ada", 1200, 1200, "open")}, "").result == outcome::recorded);
  REQUIRE(store.append({entry("ada", 1, 1201, "deposit")}, "").result == outcome::recorded);
  std::string expected;
  bank::append_result refused;
  SECTION("a balance_after from a state the ledger does not have") {
    // What accounts sent after undoing a deposit the ledger kept: the same balance_after again.
    refused = store.append({entry("ada", 1, 1201, "deposit")}, "");
    expected = "ledger entry 0 (deposit of 1 for account ada): the entry says balance_after 1201, "
               "expected 1202 (the recorded balance 1201 plus the delta)";
  }
  SECTION("a second open") {
    refused = store.append({entry("ada", 5, 5, "open")}, "");
    expected = "ledger entry 0 (open of 5 for account ada): the account is open already, with the "
               "recorded balance 1201; an open must be its first entry";
  }
  SECTION("an account the ledger never opened") {
    refused = store.append({entry("bob", 5, 5, "deposit")}, "");
    expected = "ledger entry 0 (deposit of 5 for account bob): the ledger has no entry for the "
               "account (it must be opened first)";
  }
  SECTION("an open whose balance_after is not its delta") {
    refused = store.append({entry("bob", 5, 7, "open")}, "");
    expected = "ledger entry 0 (open of 5 for account bob): an open's balance_after must be its "
               "delta 5, the entry says 7";
  }
  SECTION("a later entry of a batch checked against the earlier ones") {
    refused =
      store.append({entry("ada", -1, 1200, "transfer_out"), entry("ada", 1, 1200, "deposit")}, "");
    expected = "ledger entry 1 (deposit of 1 for account ada): the entry says balance_after 1200, "
               "expected 1201 (the recorded balance 1200 plus the delta)";
  }
  CHECK(refused.result == outcome::mismatch);
  CHECK(refused.reason == expected);
  CHECK(refused.entries.empty());
  CHECK(store.history("").size() == 2); // nothing of a refused batch was recorded
  CHECK(store.append({entry("ada", 1, 1202, "deposit")}, "").result == outcome::recorded);
}

TEST_CASE("ledger store: a key is recorded once; a repeat answers the first entries and a "
          "reused key is refused",
          "[unit][bank]") {
  temp_folder folder;
  auto file = (folder.path() / "ledger.db").string();
  bank::ledger_store store{file};
  REQUIRE(store.append({entry("ada", 0, 0, "open")}, "c-0").result == outcome::recorded);
  REQUIRE(store.append({entry("bob", 0, 0, "open")}, "c-0").result == outcome::recorded);
  auto first = store.append({entry("ada", 10, 10, "deposit")}, "c-1", "key-1", "fp-a");
  REQUIRE(first.result == outcome::recorded);
  REQUIRE(first.entries.size() == 1);
  CHECK(first.entries[0].idempotency_key() == "key-1");
  CHECK(first.entries[0].request_fingerprint() == "fp-a");

  // The repeat carries balances from another state: the key is found before they are checked.
  auto again = store.append({entry("ada", 10, 20, "deposit")}, "c-2", "key-1", "fp-a");
  CHECK(again.result == outcome::replayed);
  REQUIRE(again.entries.size() == 1);
  CHECK(again.entries[0].sequence() == first.entries[0].sequence());
  CHECK(again.entries[0].correlation_id() == "c-1");
  CHECK(again.entries[0].balance_after() == 10);

  auto reused = store.append({entry("ada", 5, 15, "deposit")}, "c-3", "key-1", "fp-b");
  CHECK(reused.result == outcome::key_reused);
  CHECK_THAT(reused.reason, Contains("\"key-1\"") && Contains("fp-a") && Contains("fp-b"));

  // A batch under one key is answered whole; after reopening too.
  auto moved =
    store.append({entry("ada", -4, 6, "transfer_out"), entry("bob", 4, 4, "transfer_in")}, "c-4",
                 "key-2", "fp-t");
  REQUIRE(moved.result == outcome::recorded);
  bank::ledger_store reopened{file};
  auto replayed = reopened.append({entry("ada", -4, 2, "transfer_out")}, "c-5", "key-2", "fp-t");
  CHECK(replayed.result == outcome::replayed);
  REQUIRE(replayed.entries.size() == 2);
  CHECK(replayed.entries[0].account_id() == "ada");
  CHECK(replayed.entries[1].account_id() == "bob");
  CHECK(reopened.history("", "key-2").size() == 2);
  CHECK(reopened.history("bob", "key-2").size() == 1);
  CHECK(reopened.history("", "no-such-key").empty());
  CHECK(reopened.history("").size() == 5);
}

TEST_CASE("ledger store: two stores on one file racing with one key record it once",
          "[unit][bank]") {
  temp_folder folder;
  auto file = (folder.path() / "ledger.db").string();
  {
    bank::ledger_store setup{file};
    REQUIRE(setup.append({entry("ada", 0, 0, "open")}, "").result == outcome::recorded);
  }
  constexpr int rounds = 50;
  std::atomic<int> recorded{0};
  std::atomic<int> replayed{0};
  std::atomic<int> other{0};
  auto race = [&](int) {
    bank::ledger_store store{file}; // a replica of its own, as on another node
    for (int i = 0; i < rounds; ++i) {
      // Both replicas append the same deposit under the same key, from the same balance: one
      // records it, the other gets it back (the key is looked up inside the write transaction).
      auto r =
        store.append({entry("ada", 1, i + 1, "deposit")}, "", "race-" + std::to_string(i), "fp");
      if (r.result == outcome::recorded)
        ++recorded;
      else if (r.result == outcome::replayed)
        ++replayed;
      else
        ++other;
    }
  };
  std::thread a{race, 0};
  std::thread b{race, 1};
  a.join();
  b.join();
  CHECK(recorded == rounds);
  CHECK(replayed == rounds);
  CHECK(other == 0);
  bank::ledger_store check{file};
  CHECK(check.history("ada").size() == rounds + 1);
  CHECK(check.history("ada").back().balance_after() == rounds);
}

TEST_CASE("ledger store: a file written before the idempotency columns existed still opens",
          "[unit][bank]") {
  temp_folder folder;
  auto file = (folder.path() / "old-ledger.db").string();
  // The schema and rows of a ledger file from before idempotency keys.
  run_sql(file, R"sql(
    CREATE TABLE entries (
      sequence INTEGER PRIMARY KEY AUTOINCREMENT,
      account_id TEXT NOT NULL,
      delta INTEGER NOT NULL,
      balance_after INTEGER NOT NULL,
      kind TEXT NOT NULL,
      correlation_id TEXT NOT NULL,
      counterparty TEXT NOT NULL
    );
    CREATE INDEX entries_by_account ON entries (account_id, sequence);
    INSERT INTO entries (account_id, delta, balance_after, kind, correlation_id, counterparty)
      VALUES ('ada', 100, 100, 'open', 'c-old', ''), ('ada', 5, 105, 'deposit', 'c-old-2', '');
  )sql");
  {
    bank::ledger_store store{file};
    auto old = store.history("ada");
    REQUIRE(old.size() == 2);
    CHECK(old[1].balance_after() == 105);
    CHECK(old[1].correlation_id() == "c-old-2");
    CHECK(old[1].idempotency_key().empty());
    auto keyed = store.append({entry("ada", 1, 106, "deposit")}, "c-new", "key-new", "fp");
    REQUIRE(keyed.result == outcome::recorded);
    CHECK(keyed.entries[0].sequence() == 3);
  }
  bank::ledger_store again{file}; // the columns exist now: opening adds nothing twice
  CHECK(again.append({entry("ada", 1, 107, "deposit")}, "", "key-new", "fp").result
        == outcome::replayed);
  CHECK(again.history("ada").size() == 3);
}

TEST_CASE("ledger store: a database that cannot be opened is refused with its path",
          "[unit][bank]") {
  CHECK_THROWS_WITH(bank::ledger_store{"/nonexistent-folder/ledger.db"},
                    Contains("/nonexistent-folder/ledger.db"));
}

TEST_CASE("ledger store: strings with embedded NUL characters are kept byte for byte",
          "[unit][bank]") {
  using namespace std::string_literals;
  temp_folder folder;
  auto file = (folder.path() / "ledger.db").string();
  const auto a = "nul\0a"s;
  const auto b = "nul\0b"s;
  const auto prefix = "nul"s;
  {
    bank::ledger_store store{file};
    auto first = entry(a, 100, 100, "open");
    first.set_counterparty("peer\0one"s);
    REQUIRE(store.append({first}, "corr\0one"s).result == outcome::recorded);
    auto second = entry(b, 7, 7, "open");
    second.set_counterparty("x\0y"s);
    REQUIRE(store.append({second}, "c-2").result == outcome::recorded);
    REQUIRE(store.append({entry(prefix, 1, 1, "open")}, "c-3").result == outcome::recorded);
  }
  bank::ledger_store reopened{file}; // read back from the file, not from the writer's memory
  auto of_a = reopened.history(a);
  REQUIRE(of_a.size() == 1);
  CHECK(of_a[0].account_id() == a);
  CHECK(of_a[0].account_id().size() == 5);
  CHECK(of_a[0].balance_after() == 100);
  CHECK(of_a[0].counterparty() == "peer\0one"s);
  CHECK(of_a[0].correlation_id() == "corr\0one"s);
  auto of_b = reopened.history(b);
  REQUIRE(of_b.size() == 1);
  CHECK(of_b[0].account_id() == b);
  CHECK(of_b[0].counterparty() == "x\0y"s);
  auto of_prefix = reopened.history(prefix);
  REQUIRE(of_prefix.size() == 1);
  CHECK(of_prefix[0].account_id() == prefix);
  CHECK(reopened.history("nul\0"s).empty());
  auto all = reopened.history("");
  REQUIRE(all.size() == 3);
  CHECK(all[0].account_id() == a);
  CHECK(all[1].account_id() == b);
  CHECK(all[2].account_id() == prefix);
}

TEST_CASE("ledger store: a database path holding a NUL character is refused", "[unit][bank]") {
  using namespace std::string_literals;
  temp_folder folder;
  auto file = (folder.path() / "ledger.db").string() + "\0.other"s;
  CHECK_THROWS_WITH(bank::ledger_store{file}, Contains("NUL") && Contains("ledger.db"));
  CHECK_FALSE(fs::exists(folder.path() / "ledger.db"));
}
