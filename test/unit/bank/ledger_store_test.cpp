// The ledger's SQLite store (examples/bank/src/ledger_store.cpp) on real files in a temp folder:
// entries survive reopening, two stores on one file (two replicas) see each other's entries, a
// batch is numbered in order, and a database that cannot be opened is refused naming its path.
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
