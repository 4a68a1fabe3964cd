// The ledger's SQLite store (examples/bank/src/ledger_store.cpp) on real files in a temp folder:
// entries survive reopening, two stores on one file (two replicas) see each other's entries, a
// batch is numbered in order, strings with embedded NUL characters come back byte for byte, and a
// database that cannot be opened is refused naming its path.
#include "ledger_store.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;

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

struct temp_folder {
  fs::path path;
  temp_folder() {
    std::string pattern = (fs::temp_directory_path() / "microlith-ledger-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_folder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

} // namespace

TEST_CASE("ledger store: entries survive reopening and are shared by stores on one file",
          "[unit][bank]") {
  temp_folder folder;
  auto file = (folder.path / "ledger.db").string();
  {
    bank::ledger_store store{file};
    auto recorded = store.append({entry("ada", 100, 100, "open")}, "c-1");
    REQUIRE(recorded.size() == 1);
    CHECK(recorded[0].sequence() == 1);
    CHECK(recorded[0].correlation_id() == "c-1");
  }
  bank::ledger_store reopened{file};
  bank::ledger_store replica{file};
  auto batch = replica.append({entry("ada", -20, 80, "transfer_out"),
                               entry("bob", 20, 20, "transfer_in")},
                              "c-2");
  REQUIRE(batch.size() == 2);
  CHECK(batch[0].sequence() == 2);
  CHECK(batch[1].sequence() == 3);
  auto ada = reopened.history("ada");
  REQUIRE(ada.size() == 2);
  CHECK(ada[0].kind() == "open");
  CHECK(ada[1].kind() == "transfer_out");
  CHECK(ada[1].correlation_id() == "c-2");
  CHECK(reopened.history("").size() == 3);
  CHECK(reopened.history("nobody").empty());
}

TEST_CASE("ledger store: in memory, each store is its own", "[unit][bank]") {
  bank::ledger_store one{":memory:"};
  bank::ledger_store two{":memory:"};
  one.append({entry("ada", 1, 1, "open")}, "");
  CHECK(one.history("").size() == 1);
  CHECK(two.history("").empty());
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
  auto file = (folder.path / "ledger.db").string();
  const auto a = "nul\0a"s;
  const auto b = "nul\0b"s;
  const auto prefix = "nul"s;
  {
    bank::ledger_store store{file};
    auto first = entry(a, 100, 100, "open");
    first.set_counterparty("peer\0one"s);
    store.append({first}, "corr\0one"s);
    store.append({entry(b, 7, 7, "open\0x"s)}, "c-2");
    store.append({entry(prefix, 1, 1, "open")}, "c-3");
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
  CHECK(of_b[0].kind() == "open\0x"s);
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
  auto file = (folder.path / "ledger.db").string() + "\0.other"s;
  CHECK_THROWS_WITH(bank::ledger_store{file}, Contains("NUL") && Contains("ledger.db"));
  CHECK_FALSE(fs::exists(folder.path / "ledger.db"));
}
