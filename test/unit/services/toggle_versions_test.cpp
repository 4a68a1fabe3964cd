// The versions of toggle values (services/src/toggles/toggle_board.cpp, toggle_store.cpp;
// docs/toggles.md, "Cluster-wide"): a change from another node is taken only when its version
// is newer, a merge of another node's state publishes its values in one snapshot, concurrent
// changes and checks from several threads never see a torn value, and a database made before
// versions existed opens (migrated) with its values.
#include "support/temp_folder.hpp"
#include "toggles/toggle_board.hpp"
#include "toggles/toggle_store.hpp"

#include <microlith/actors/node.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace pb = microlith::toggles::v1;

// A node's toggle board with toggles test.left, test.right and test.solo declared in the file,
// values in `database` (in memory when empty).
struct board_fixture {
  explicit board_fixture(const std::filesystem::path& dir, const std::string& database = {},
                         const std::string& node_name = "here") {
    microlith::detail::add_builtin_modules(cat);
    std::string text = "[system]\nname = \"versions\"\nthreads = 2\n[toggles]\n";
    if (!database.empty())
      text += "database = \"" + database + "\"\n";
    for (const auto* name : {"test.left", "test.right", "test.solo"})
      text += fmt::format("[toggles.\"{}\"]\ndefault = false\ndescription = \"{}\"\n", name, name);
    text += "[groups.web]\nmodule = \"microlith.gateway\"\n[groups.web.http]\n"
            "listen = \"127.0.0.1:0\"\n";
    config = microlith::parse_system_file(text, (dir / "system.toml").string(), cat);
    auto opened = microlith::toggle_board::open(n, config, cat, node_name);
    REQUIRE(opened);
    board = std::move(*opened);
  }

  microlith::module_catalogue cat;
  microlith::system_config config;
  microlith::node n{microlith::node_options{}};
  std::unique_ptr<microlith::toggle_board> board;
};

pb::Version version(std::int64_t stamp, const std::string& node) {
  pb::Version v;
  v.set_stamp(stamp);
  v.set_node(node);
  return v;
}

pb::ReplicaChange value_change(const std::string& name, bool on, const pb::Version& v) {
  pb::ReplicaChange c;
  c.set_from(v.node());
  c.set_who("admin");
  auto* value = c.mutable_value();
  value->set_name(name);
  value->mutable_gates()->set_boolean(on);
  *value->mutable_version() = v;
  return c;
}

bool on_now(microlith::toggle_board& board, const std::string& name) {
  auto t = board.get(name);
  REQUIRE(t);
  return t->gates().boolean();
}

} // namespace

TEST_CASE("a change from another node is taken only when its version is newer", "[unit]") {
  test_support::temp_folder dir{"toggle-versions"};
  board_fixture f{dir.path()};
  const auto far = std::int64_t{1} << 50; // after any wall clock in milliseconds

  auto done = f.board->apply(value_change("test.left", true, version(far, "b")));
  REQUIRE(done);
  CHECK(*done == pb::ReplicaApplied::APPLIED);
  CHECK(on_now(*f.board, "test.left"));
  CHECK(f.n.toggles()->enabled("test.left"));

  SECTION("an older version is answered NEWER and changes nothing") {
    auto older = f.board->apply(value_change("test.left", false, version(far - 1, "z")));
    REQUIRE(older);
    CHECK(*older == pb::ReplicaApplied::NEWER);
    CHECK(on_now(*f.board, "test.left"));
  }
  SECTION("the same version again is answered APPLIED (idempotent)") {
    auto again = f.board->apply(value_change("test.left", true, version(far, "b")));
    REQUIRE(again);
    CHECK(*again == pb::ReplicaApplied::APPLIED);
    CHECK(on_now(*f.board, "test.left"));
  }
  SECTION("an equal stamp from a node whose name orders after wins") {
    auto tie = f.board->apply(value_change("test.left", false, version(far, "c")));
    REQUIRE(tie);
    CHECK(*tie == pb::ReplicaApplied::APPLIED);
    CHECK_FALSE(on_now(*f.board, "test.left"));
  }
  SECTION("a change made here afterwards orders after what was seen (the clock moved past it)") {
    pb::SetRequest req;
    req.set_name("test.left");
    req.set_boolean("off");
    auto set = f.board->set(req, "admin");
    REQUIRE(set);
    CHECK(set->version().stamp() > far);
    CHECK(set->version().node() == "here");
    CHECK_FALSE(on_now(*f.board, "test.left"));
  }
}

TEST_CASE("a merge takes the newer values and groups of another node and keeps the newer ones "
          "held",
          "[unit]") {
  test_support::temp_folder dir{"toggle-merge"};
  board_fixture f{dir.path()};
  pb::SetRequest req;
  req.set_name("test.right");
  req.set_boolean("on");
  auto mine = f.board->set(req, "admin");
  REQUIRE(mine);

  pb::ReplicaState theirs;
  theirs.set_node("other");
  auto* left = theirs.add_values();
  left->set_name("test.left");
  left->mutable_gates()->set_boolean(true);
  *left->mutable_version() = version(mine->version().stamp() + 10, "other");
  auto* right = theirs.add_values(); // older than this node's change: loses
  right->set_name("test.right");
  right->mutable_gates()->set_boolean(false);
  *right->mutable_version() = version(mine->version().stamp() - 10, "other");
  auto* staff = theirs.add_groups();
  staff->set_group("staff");
  staff->add_keys("ada");
  *staff->mutable_version() = version(mine->version().stamp() + 10, "other");

  auto taken = f.board->merge(theirs);
  REQUIRE(taken);
  CHECK(*taken == 2);
  CHECK(on_now(*f.board, "test.left"));
  CHECK(on_now(*f.board, "test.right"));
  REQUIRE(f.n.toggles()->groups().count("staff") == 1);
  CHECK(f.n.toggles()->groups().at("staff").count("ada") == 1);

  // The state handed to other nodes holds the values set and their versions.
  auto state = f.board->state();
  CHECK(state.node() == "here");
  REQUIRE(state.values_size() == 2);
  REQUIRE(state.groups_size() == 1);

  // A removed group keeps its version: an older copy of it does not bring it back.
  pb::SetGroupRequest remove;
  remove.set_group("staff");
  REQUIRE(f.board->set_group(remove, "admin"));
  CHECK(f.n.toggles()->groups().count("staff") == 0);
  auto again = f.board->merge(theirs);
  REQUIRE(again);
  CHECK(*again == 0);
  CHECK(f.n.toggles()->groups().count("staff") == 0);
}

TEST_CASE("values and versions are saved and read back after a restart", "[unit]") {
  test_support::temp_folder dir{"toggle-versions-saved"};
  const auto file = (dir.path() / "toggles.db").string();
  pb::Version held;
  {
    board_fixture f{dir.path(), file};
    auto done = f.board->apply(value_change("test.solo", true, version(123456, "b")));
    REQUIRE(done);
    pb::SetGroupRequest group;
    group.set_group("staff");
    group.add_keys("bob");
    auto set = f.board->set_group(group, "code");
    REQUIRE(set);
    held = set->version();
  }
  board_fixture f{dir.path(), file};
  auto t = f.board->get("test.solo");
  REQUIRE(t);
  CHECK(t->gates().boolean());
  CHECK(t->version().stamp() == 123456);
  CHECK(t->version().node() == "b");
  auto state = f.board->state();
  REQUIRE(state.groups_size() == 1);
  CHECK(state.groups(0).version().stamp() == held.stamp());
  // The audit says who made it, and on which node.
  auto history = f.board->history(pb::HistoryRequest{});
  REQUIRE(history);
  REQUIRE(history->changes_size() == 2);
  CHECK(history->changes(1).who() == "admin on node b");
  CHECK(history->changes(1).new_value() == "on");
}

TEST_CASE("a toggle database made before versions existed opens with its values", "[unit]") {
  test_support::temp_folder dir{"toggle-migration"};
  const auto file = (dir.path() / "old.db").string();
  {
    // The schema before versions, with one value and one group.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    const char* old_schema = R"sql(
      CREATE TABLE toggle_values (name TEXT PRIMARY KEY, gates TEXT NOT NULL);
      CREATE TABLE toggle_groups (name TEXT PRIMARY KEY, members TEXT NOT NULL);
      CREATE TABLE toggle_history (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL,
        who TEXT NOT NULL, name TEXT NOT NULL, old_value TEXT NOT NULL, new_value TEXT NOT NULL);
      INSERT INTO toggle_values VALUES ('test.left', '{"boolean":true}');
      INSERT INTO toggle_groups VALUES ('staff', '{"keys":["ada"]}');
    )sql";
    REQUIRE(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  auto store = microlith::detail::toggle_store::open(file);
  REQUIRE(store);
  auto values = store->values();
  REQUIRE(values);
  REQUIRE(values->count("test.left") == 1);
  CHECK(values->at("test.left").gates.boolean());
  CHECK(values->at("test.left").version.stamp() == 0); // older than any change
  auto groups = store->groups();
  REQUIRE(groups);
  REQUIRE(groups->count("staff") == 1);
  CHECK(groups->at("staff").keys == std::vector<std::string>{"ada"});

  // A change made now is saved with its version, in the migrated table.
  pb::Gates off;
  REQUIRE_FALSE(store->save_value(off, version(77, "a"), {"admin", "test.left", "on", "off"}));
  values = store->values();
  REQUIRE(values);
  CHECK(values->at("test.left").version.stamp() == 77);
  CHECK(values->at("test.left").version.node() == "a");

  // Opening it again does not migrate twice.
  auto again = microlith::detail::toggle_store::open(file);
  REQUIRE(again);
  CHECK(again->values()->at("test.left").version.stamp() == 77);
}

TEST_CASE("concurrent changes and checks from several threads see no torn value", "[unit]") {
  test_support::temp_folder dir{"toggle-torn"};
  board_fixture f{dir.path()}; // values in memory: the same saves, without waiting on a disk
  constexpr int writers = 3;
  constexpr int rounds = 150;
  std::atomic<int> writing{writers * 2};
  std::atomic<long> torn{0}, checks{0}, refused{0};

  // Every change of the pair test.left/test.right arrives as one merge (both with the same
  // gates); every change of test.solo sets its actors and its percentage together, and the
  // actor keys name the percentage.
  auto pair_writer = [&](int w) {
    for (int i = 1; i <= rounds; ++i) {
      pb::ReplicaState s;
      s.set_node(fmt::format("w{}", w));
      auto v = version(static_cast<std::int64_t>(i) * 10 + w, s.node());
      for (const auto* name : {"test.left", "test.right"}) {
        auto* value = s.add_values();
        value->set_name(name);
        value->mutable_gates()->set_boolean(i % 2 == 0);
        (*value->mutable_gates()->mutable_actors())[fmt::format("w{}-{}", w, i)] = true;
        *value->mutable_version() = v;
      }
      if (!f.board->merge(s))
        ++refused;
    }
    --writing;
  };
  auto solo_writer = [&](int w) {
    for (int i = 1; i <= rounds; ++i) {
      pb::SetRequest req;
      req.set_name("test.solo");
      req.set_set_actors(true);
      int percent = (w * rounds + i) % 101;
      for (int k = 0; k < 5; ++k)
        req.add_actors(fmt::format("p{}-k{}", percent, k));
      req.set_set_percent_actors(true);
      req.set_percent_actors(static_cast<std::uint32_t>(percent));
      if (!f.board->set(req, "code"))
        ++refused;
    }
    --writing;
  };
  // Whole when every actor key of test.solo names its percentage.
  auto solo_whole = [](const microlith::toggle_gates& g) {
    if (g.actors.empty())
      return g.percentage == microlith::percentage_kind::none;
    if (g.actors.size() != 5)
      return false;
    for (const auto& [key, on] : g.actors)
      if (key.rfind(fmt::format("p{}-", g.percent), 0) != 0)
        return false;
    return true;
  };
  auto checker = [&] {
    while (writing.load() > 0) {
      auto snapshot = f.n.toggles();
      const auto* left = snapshot->find("test.left");
      const auto* right = snapshot->find("test.right");
      const auto* solo = snapshot->find("test.solo");
      if (left == nullptr || right == nullptr || solo == nullptr || left->gates != right->gates
          || !solo_whole(solo->gates))
        ++torn;
      auto read = f.board->get("test.solo"); // the service's view too
      if (!read || (read->gates().actors_size() != 0 && read->gates().actors_size() != 5))
        ++torn;
      ++checks;
    }
  };

  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back(pair_writer, w);
    threads.emplace_back(solo_writer, w);
  }
  threads.emplace_back(checker);
  threads.emplace_back(checker);
  for (auto& t : threads)
    t.join();

  CHECK(refused.load() == 0);
  CHECK(checks.load() > 0);
  CHECK(torn.load() == 0);
  // The pair ends at the greatest version written: round `rounds` of writer 2.
  auto left = f.board->get("test.left");
  REQUIRE(left);
  CHECK(left->version().stamp() == rounds * 10 + (writers - 1));
  CHECK(left->gates().actors().count(fmt::format("w{}-{}", writers - 1, rounds)) == 1);
}
