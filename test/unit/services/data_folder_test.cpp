// The system's data folder (system_config::data_folder, docs/system-file.md): `[system] data`,
// the folder given by `microlith run --data`, the system file's folder by default, and the
// relative paths of [modules] dir, [toggles] database, [jobs] database and of a group's own
// files (group_context::data_path) resolved against it.
#include <microlith/actors/node.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace system_file_checks;

namespace {

// Four lines of [system] without `data`; tests add keys to [system] by appending after `name`.
std::string file_with(const std::string& system_keys, const std::string& rest = {}) {
  return "[system]\nname = \"bank\"\n" + system_keys + "[groups.ledger]\nmodule = \"bank.ledger\"\n"
         + rest;
}

const std::string stores = "[modules]\ndir = \"modules\"\n"
                           "[toggles]\ndatabase = \"toggles.db\"\n"
                           "[jobs]\ndatabase = \"/var/lib/jobs.sqlite\"\n";

} // namespace

TEST_CASE("the data folder is the system file's folder when nothing names one", "[unit]") {
  auto config = microlith::parse_system_file(file_with("", stores), "/etc/bank/bank.toml");
  CHECK(config.data_folder == "/etc/bank");
  CHECK(config.data_line == 0);
  CHECK(config.modules.dir == "/etc/bank/modules");
  CHECK(config.toggles.database == "/etc/bank/toggles.db");
  CHECK(config.jobs.database == "/var/lib/jobs.sqlite"); // absolute: kept as written
  REQUIRE(config.groups.size() == 1);
  CHECK(config.groups[0].data_folder == "/etc/bank");

  // A file named without a folder: relative to the working directory, as before.
  auto bare = microlith::parse_system_file(file_with("", stores), "bank.toml");
  CHECK(bare.data_folder.empty());
  CHECK(bare.toggles.database == "toggles.db");
}

TEST_CASE("[system] data names the data folder relative to the system file's folder", "[unit]") {
  auto config = microlith::parse_system_file(file_with("data = \"../state/bank\"\n", stores),
                                             "/etc/bank/bank.toml");
  CHECK(config.data_folder == "/etc/state/bank");
  CHECK(config.data_line == 3);
  CHECK(config.modules.dir == "/etc/state/bank/modules");
  CHECK(config.toggles.database == "/etc/state/bank/toggles.db");
  CHECK(config.jobs.database == "/var/lib/jobs.sqlite");
  CHECK(config.groups[0].data_folder == "/etc/state/bank");

  auto absolute = microlith::parse_system_file(file_with("data = \"/srv/bank\"\n", stores),
                                               "/etc/bank/bank.toml");
  CHECK(absolute.data_folder == "/srv/bank");
  CHECK(absolute.toggles.database == "/srv/bank/toggles.db");
}

TEST_CASE("a data folder given to the parser wins over [system] data", "[unit]") {
  auto config =
    microlith::parse_system_file(file_with("data = \"state\"\n", stores), "/etc/bank/bank.toml",
                                 microlith::module_catalogue::global(), "/tmp/run-1");
  CHECK(config.data_folder == "/tmp/run-1");
  CHECK(config.modules.dir == "/tmp/run-1/modules");
  CHECK(config.toggles.database == "/tmp/run-1/toggles.db");
  CHECK(config.groups[0].data_folder == "/tmp/run-1");
}

TEST_CASE("a [system] data that is not a folder name is refused with its line and key", "[unit]") {
  check_single(file_with("data = \"\"\n"), 3, "system.data",
               "expected a folder (a non-empty path without NUL characters), got \"\"");
  check_single(file_with("data = 7\n"), 3, "system.data", "expected a string");
}

TEST_CASE("group_context::data_path resolves a group's relative files in the data folder",
          "[unit]") {
  auto config =
    microlith::parse_system_file(file_with("data = \"state\"\n"), "/etc/bank/bank.toml");
  microlith::node n;
  microlith::group_context g{n, config.groups[0]};
  CHECK(g.data_path("ledger.db") == "/etc/bank/state/ledger.db");
  CHECK(g.data_path("sub/../ledger.db") == "/etc/bank/state/ledger.db");
  CHECK(g.data_path("/var/lib/ledger.db") == "/var/lib/ledger.db");
  n.shutdown();
}
