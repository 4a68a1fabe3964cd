// The system file's [modules] table (system_config::modules, docs/modules.md): where a node
// keeps its installed modules, which must load, the largest archive it takes, and each mistake
// reported with the file, line, column and key.
#include <microlith/services/system_file.hpp>

#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace system_file_checks;

namespace {

// Four lines; a [modules] table appended starts on line 5.
const std::string base = "[system]\nname = \"bank\"\n[groups.ledger]\nmodule = \"bank.ledger\"\n";

} // namespace

TEST_CASE("the [modules] table is read into system_config::modules", "[unit]") {
  SECTION("every key") {
    auto config = microlith::parse_system_file(
      base
        + "[modules]\ndir = \"/var/lib/bank/modules\"\nrequired = [\"acme.statements\", "
          "\"acme_2.audit\"]\nmax_archive_bytes = 1048576\n",
      "bank.toml");
    CHECK(config.modules.dir == "/var/lib/bank/modules");
    CHECK(config.modules.required == std::vector<std::string>{"acme.statements", "acme_2.audit"});
    CHECK(config.modules.max_archive_bytes == 1048576);
    CHECK(config.modules.line == 5);
  }
  SECTION("absent: no store, the defaults") {
    auto config = microlith::parse_system_file(base, "bank.toml");
    CHECK(config.modules.dir.empty());
    CHECK(config.modules.required.empty());
    CHECK(config.modules.max_archive_bytes == 64u * 1024u * 1024u);
    CHECK(config.modules.line == 0);
  }
  SECTION("a relative dir is resolved against the system file's folder") {
    auto config = microlith::parse_system_file(base + "[modules]\ndir = \"state/modules\"\n",
                                               "/etc/bank/bank.toml");
    CHECK(config.modules.dir == "/etc/bank/state/modules");
    auto beside =
      microlith::parse_system_file(base + "[modules]\ndir = \"./modules\"\n", "bank.toml");
    CHECK(beside.modules.dir == "modules");
  }
  SECTION("the limits of max_archive_bytes are accepted") {
    auto low =
      microlith::parse_system_file(base + "[modules]\nmax_archive_bytes = 1024\n", "bank.toml");
    CHECK(low.modules.max_archive_bytes == 1024);
    auto high = microlith::parse_system_file(base + "[modules]\nmax_archive_bytes = 1073741824\n",
                                             "bank.toml");
    CHECK(high.modules.max_archive_bytes == 1073741824u);
  }
}

TEST_CASE("mistakes in [modules] are reported with line, column and key", "[unit]") {
  SECTION("dir of the wrong type") {
    auto error = single_error(base + "[modules]\ndir = 3\n");
    check_error(error, 6, "modules.dir", "expected a folder as a string, got an integer");
    CHECK(error.column == 7);
  }
  SECTION("an empty dir") {
    check_single(base + "[modules]\ndir = \"\"\n", 6, "modules.dir", "expected a folder");
  }
  SECTION("an unknown key") {
    auto error = single_error(base + "[modules]\ndir = \"m\"\nfolder = \"x\"\n");
    check_error(error, 7, "modules.folder",
                "unknown key \"folder\"; expected one of dir, required, max_archive_bytes");
    CHECK(error.column == 1);
  }
  SECTION("required that is not an array") {
    check_single(base + "[modules]\ndir = \"m\"\nrequired = \"acme\"\n", 7, "modules.required",
                 "expected an array of module names, got a string");
  }
  SECTION("a required entry that is not a string") {
    check_single(base + "[modules]\ndir = \"m\"\nrequired = [\"acme\", 2]\n", 7,
                 "modules.required[1]", "expected a module name as a string, got an integer");
  }
  SECTION("a required name that is not a module name") {
    for (const std::string name : {"../x", "a/b", "", ".hidden", "a..b", "Acme"}) {
      INFO(name);
      auto error =
        single_error(base + "[modules]\ndir = \"m\"\nrequired = [\"ok\", \"" + name + "\"]\n");
      check_error(error, 7, "modules.required", "invalid module name \"" + name + "\"");
      CHECK(error.column == 19);
    }
  }
  SECTION("a required name listed twice") {
    auto error = single_error(base
                              + "[modules]\ndir = \"m\"\nrequired = [\n  \"acme\",\n  \"audit\",\n "
                                " \"acme\",\n]\n");
    check_error(error, 10, "modules.required",
                "module \"acme\" is listed more than once (first on line 8)");
    CHECK(error.column == 3);
  }
  SECTION("required without dir") {
    check_single(base + "[modules]\nrequired = [\"acme\"]\n", 6, "modules.required",
                 "set [modules] dir");
  }
  SECTION("max_archive_bytes out of range or of the wrong type") {
    check_single(base + "[modules]\nmax_archive_bytes = 1023\n", 6, "modules.max_archive_bytes",
                 "expected an integer from 1024 (1 KiB) to 1073741824 (1 GiB), got 1023");
    check_single(base + "[modules]\nmax_archive_bytes = 1073741825\n", 6,
                 "modules.max_archive_bytes", "got 1073741825");
    check_single(base + "[modules]\nmax_archive_bytes = \"64MiB\"\n", 6,
                 "modules.max_archive_bytes", "expected an integer (bytes), got a string");
  }
  SECTION("[modules] that is not a table") {
    check_single("modules = 1\n" + base, 1, "modules", "expected a table, got an integer");
  }
  SECTION("every mistake of the table at once") {
    auto errors =
      errors_of(base + "[modules]\nrequired = [\"a/b\"]\nmax_archive_bytes = 0\nx = 1\n");
    INFO(microlith::system_file_errors(errors).what());
    REQUIRE(errors.size() == 4);
    check_error(errors[0], 6, "modules.required", "set [modules] dir");
    check_error(errors[1], 6, "modules.required", "invalid module name \"a/b\"");
    check_error(errors[2], 7, "modules.max_archive_bytes", "got 0");
    check_error(errors[3], 8, "modules.x", "unknown key \"x\"");
  }
}
