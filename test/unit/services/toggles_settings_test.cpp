// The system file's [toggles] table (system_config::toggles, docs/toggles.md): the database,
// the test switches, the toggles the file declares, and each mistake reported with the file,
// line, column and key.
#include <microlith/services/system_file.hpp>

#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace system_file_checks;

namespace {

// Four lines; a [toggles] table appended starts on line 5.
const std::string base = "[system]\nname = \"bank\"\n[groups.ledger]\nmodule = \"bank.ledger\"\n";

} // namespace

TEST_CASE("the [toggles] table is read into system_config::toggles", "[unit]") {
  SECTION("every key, and declarations quoted and nested") {
    auto config = microlith::parse_system_file(
      base
        + "[toggles]\ndatabase = \"state/toggles.db\"\ntest_overrides = false\n"
          "require_override = false\n"
          "[toggles.\"bank.transfer_fee\"]\ndefault = false\ndescription = \"a fee of 1%\"\n"
          "[toggles.bank.new_ledger]\ndefault = true\ndescription = \"the new ledger\"\n",
      "/etc/bank/bank.toml");
    CHECK(config.toggles.database == "/etc/bank/state/toggles.db");
    CHECK_FALSE(config.toggles.test_overrides);
    CHECK_FALSE(config.toggles.require_override);
    CHECK(config.toggles.line == 5);
    REQUIRE(config.toggles.declared.size() == 2);
    CHECK(config.toggles.declared[0].name == "bank.new_ledger");
    CHECK(config.toggles.declared[0].default_value);
    CHECK(config.toggles.declared[0].description == "the new ledger");
    CHECK(config.toggles.declared[1].name == "bank.transfer_fee");
    CHECK_FALSE(config.toggles.declared[1].default_value);
    CHECK(config.toggles.declared[1].line == 9);
  }
  SECTION("absent: values in memory, overrides off, nothing declared") {
    auto config = microlith::parse_system_file(base, "bank.toml");
    CHECK(config.toggles.database.empty());
    CHECK_FALSE(config.toggles.test_overrides);
    CHECK_FALSE(config.toggles.require_override);
    CHECK(config.toggles.declared.empty());
    CHECK(config.toggles.line == 0);
  }
}

TEST_CASE("mistakes in [toggles] are reported with line and key", "[unit]") {
  SECTION("an unknown key") {
    check_single(base + "[toggles]\ndatabse = \"t.db\"\n", 6, "toggles.databse",
                 "unknown key \"databse\"; expected one of database, test_overrides, "
                 "require_override, or a toggle's table");
  }
  SECTION("database of the wrong type or empty") {
    check_single(base + "[toggles]\ndatabase = 3\n", 6, "toggles.database",
                 "expected a file path as a string, got an integer");
    check_single(base + "[toggles]\ndatabase = \"\"\n", 6, "toggles.database",
                 "expected a file (a non-empty path");
  }
  SECTION("a switch of something not built yet, turned on") {
    check_single(base + "[toggles]\ntest_overrides = true\n", 6, "toggles.test_overrides",
                 "per-call toggle overrides are not built yet");
    check_single(base + "[toggles]\nrequire_override = true\n", 6, "toggles.require_override",
                 "per-call toggle overrides are not built yet");
  }
  SECTION("a switch that is not a boolean") {
    check_single(base + "[toggles]\ntest_overrides = \"yes\"\n", 6, "toggles.test_overrides",
                 "expected true or false, got a string");
    check_single(base + "[toggles]\nrequire_override = 1\n", 6, "toggles.require_override",
                 "expected true or false, got an integer");
  }
  SECTION("a declaration without its default or description") {
    check_single(base + "[toggles.\"a.b\"]\ndescription = \"x\"\n", 5, "toggles.\"a.b\".default",
                 "missing required key default");
    check_single(base + "[toggles.\"a.b\"]\ndefault = true\n", 5, "toggles.\"a.b\".description",
                 "missing required key description");
  }
  SECTION("a declaration with a default that is not a boolean, or an unknown key") {
    check_single(base + "[toggles.\"a.b\"]\ndefault = \"on\"\ndescription = \"x\"\n", 6,
                 "toggles.\"a.b\".default", "expected true or false, got a string");
    check_single(base + "[toggles.\"a.b\"]\ndefault = true\ndescription = \"x\"\nowner = \"me\"\n",
                 8, "toggles.\"a.b\".owner",
                 "unknown key \"owner\"; expected one of default, description");
  }
  SECTION("a malformed toggle name") {
    check_single(base + "[toggles.\"Bank.Fee\"]\ndefault = true\ndescription = \"x\"\n", 5,
                 "toggles.\"Bank.Fee\"",
                 "invalid toggle name \"Bank.Fee\": a toggle name starts with a letter (a-z)");
  }
}
