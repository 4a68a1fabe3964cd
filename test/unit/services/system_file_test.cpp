// Unit tests for the system file parser (microlith/services/system_file.hpp).
#include "microlith/services/host.hpp"
#include "microlith/services/system_file.hpp"

#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using namespace system_file_checks;
using microlith::config_value;
using microlith::parse_system_file;
using microlith::restart_type;
using microlith::shutdown_setting;

using microlith::system_config;
using microlith::system_file_error;
using microlith::system_file_errors;

namespace {

// The smallest valid file; tests append to it (it is 5 lines long, ending in a newline).
constexpr std::string_view minimal = R"([system]
name = "bank"

[groups.ledger]
module = "bank.ledger"
)";

std::string with_minimal(std::string_view rest) {
  return std::string(minimal) + std::string(rest);
}

} // namespace

TEST_CASE("a full system file is read back field by field", "[unit]") {
  const std::string text = R"(# the bank
[system]
name = "bank"
threads = 4
shutdown_timeout = "30s"
log_level = "debug"

[groups.ledger]
module = "bank.ledger"
needs = ["accounts"]
restart = "transient"
strategy = "rest_for_one"
intensity = 3
period = "10s"
shutdown = "2500ms"

[groups.ledger.backoff]
min = "10ms"
max = "1s"
jitter = 0.5
reset_after = "2m"

[groups.ledger.config]
currency = "EUR"
max_accounts = 1000
fee = 0.25
audit = true

[groups.accounts]
module = "bank.accounts"
restart = "temporary"
strategy = "one_for_all"
shutdown = "brutal_kill"

[nodes.b]
listen = "127.0.0.1:7002"
groups = ["ledger", "accounts"]

[nodes.a]
listen = "[::1]:0"
groups = ["accounts"]

[cluster]
cookie = "secret"
heartbeat_interval = "200ms"
heartbeat_timeout = "1s"
)";
  const system_config config = parse_system_file(text, "bank.toml");

  CHECK(config.path == "bank.toml");
  CHECK(config.name == "bank");
  CHECK(config.threads == 4);
  CHECK(config.shutdown_timeout == 30s);
  CHECK(config.log_level == "debug");

  REQUIRE(config.groups.size() == 2);
  const auto& ledger = config.groups[0]; // file order, not alphabetical
  CHECK(ledger.name == "ledger");
  CHECK(ledger.module == "bank.ledger");
  CHECK(ledger.needs == std::vector<std::string>{"accounts"});
  CHECK(ledger.restart == restart_type::transient);
  CHECK(ledger.strategy == microlith::strategy::rest_for_one);
  CHECK(ledger.intensity == 3);
  CHECK(ledger.period == 10s);
  CHECK(ledger.shutdown.k == shutdown_setting::kind::timeout);
  CHECK(ledger.shutdown.timeout == 2500ms);
  REQUIRE(ledger.backoff.has_value());
  CHECK(ledger.backoff->min == 10ms);
  CHECK(ledger.backoff->max == 1s);
  CHECK(ledger.backoff->jitter == Approx(0.5));
  CHECK(ledger.backoff->reset_after == 2min);
  REQUIRE(ledger.config.size() == 4);
  CHECK(std::get<std::string>(ledger.config.at("currency")) == "EUR");
  CHECK(std::get<std::int64_t>(ledger.config.at("max_accounts")) == 1000);
  CHECK(std::get<double>(ledger.config.at("fee")) == Approx(0.25));
  CHECK(std::get<bool>(ledger.config.at("audit")) == true);
  CHECK(ledger.line == 8);
  CHECK(ledger.module_line == 9);

  const auto& accounts = config.groups[1];
  CHECK(accounts.name == "accounts");
  CHECK(accounts.module == "bank.accounts");
  CHECK(accounts.needs.empty());
  CHECK(accounts.restart == restart_type::temporary);
  CHECK(accounts.strategy == microlith::strategy::one_for_all);
  CHECK(accounts.shutdown.k == shutdown_setting::kind::brutal_kill);
  CHECK_FALSE(accounts.backoff.has_value());
  CHECK(accounts.config.empty());
  CHECK(accounts.line == 29);
  CHECK(accounts.module_line == 30);

  REQUIRE(config.nodes.size() == 2);
  CHECK(config.nodes[0].name == "b");
  CHECK(config.nodes[0].host == "127.0.0.1");
  CHECK(config.nodes[0].port == 7002);
  CHECK(config.nodes[0].groups == std::vector<std::string>{"ledger", "accounts"});
  CHECK(config.nodes[0].line == 35);
  CHECK(config.nodes[1].name == "a");
  CHECK(config.nodes[1].host == "::1");
  CHECK(config.nodes[1].port == 0);
  CHECK(config.nodes[1].groups == std::vector<std::string>{"accounts"});
  CHECK(config.nodes[1].line == 39);

  CHECK(config.cluster.cookie == "secret");
  CHECK(config.cluster.heartbeat_interval == std::optional<std::chrono::milliseconds>(200ms));
  CHECK(config.cluster.heartbeat_timeout == std::optional<std::chrono::milliseconds>(1s));
}

TEST_CASE("omitted optional keys take their defaults", "[unit]") {
  SECTION("system, group, nodes and cluster") {
    const system_config config = parse_system_file(minimal, "bank.toml");
    CHECK(config.threads == 0);
    CHECK(config.shutdown_timeout == 10s);
    CHECK(config.log_level == "info");
    REQUIRE(config.groups.size() == 1);
    const auto& group = config.groups[0];
    CHECK(group.needs.empty());
    CHECK(group.restart == restart_type::permanent);
    CHECK(group.strategy == microlith::strategy::one_for_one);
    CHECK(group.intensity == 1);
    CHECK(group.period == 5s);
    CHECK(group.shutdown.k == shutdown_setting::kind::infinity);
    CHECK_FALSE(group.backoff.has_value());
    CHECK(group.config.empty());
    CHECK(config.nodes.empty());
    CHECK(config.cluster.cookie.empty());
    CHECK_FALSE(config.cluster.heartbeat_interval.has_value());
    CHECK_FALSE(config.cluster.heartbeat_timeout.has_value());
  }
  SECTION("backoff") {
    const system_config config = parse_system_file(with_minimal(R"([groups.ledger.backoff]
min = "5ms"
max = "5ms"
)"),
                                                   "bank.toml");
    REQUIRE(config.groups[0].backoff.has_value());
    CHECK(config.groups[0].backoff->jitter == Approx(0.2));
    CHECK(config.groups[0].backoff->reset_after == 30s);
  }
  SECTION("threads = 0 means hardware concurrency") {
    const system_config config = parse_system_file(
      "[system]\nname = \"x\"\nthreads = 0\n[groups.g]\nmodule = \"m\"\n", "bank.toml");
    CHECK(config.threads == 0);
  }
  SECTION("idle_spin_polls defaults to CAF's 100 and can be set") {
    CHECK(parse_system_file(with_minimal(""), "bank.toml").idle_spin_polls == 100);
    const system_config config = parse_system_file(
      "[system]\nname = \"x\"\nidle_spin_polls = 2000\n[groups.g]\nmodule = \"m\"\n", "bank.toml");
    CHECK(config.idle_spin_polls == 2000);
    CHECK(node_options_for(config).idle_spin_polls == 2000);
  }
  SECTION("idle_nap_polls defaults to 0 and can be set") {
    CHECK(parse_system_file(with_minimal(""), "bank.toml").idle_nap_polls == 0);
    const system_config config = parse_system_file(
      "[system]\nname = \"x\"\nidle_nap_polls = 500\n[groups.g]\nmodule = \"m\"\n", "bank.toml");
    CHECK(config.idle_nap_polls == 500);
    CHECK(node_options_for(config).idle_nap_polls == 500);
  }
  SECTION("idle_wait defaults to 1ms and can be set") {
    CHECK(parse_system_file(with_minimal(""), "bank.toml").idle_wait
          == std::chrono::milliseconds{1});
    const system_config config = parse_system_file(
      "[system]\nname = \"x\"\nidle_wait = \"10ms\"\n[groups.g]\nmodule = \"m\"\n", "bank.toml");
    CHECK(config.idle_wait == std::chrono::milliseconds{10});
    CHECK(node_options_for(config).idle_wait == std::chrono::milliseconds{10});
  }
  SECTION("shutdown infinity spelled out") {
    const system_config config =
      parse_system_file(with_minimal("shutdown = \"infinity\"\n"), "bank.toml");
    CHECK(config.groups[0].shutdown.k == shutdown_setting::kind::infinity);
  }
}

TEST_CASE("TOML syntax errors are reported with their position", "[unit]") {
  SECTION("unterminated string") {
    const auto error = single_error("[system]\nname = \"bank\n");
    CHECK(error.line == 2);
    CHECK(error.column > 0);
    CHECK(error.key.empty());
    CHECK_FALSE(error.message.empty());
  }
  SECTION("redefined table") {
    const auto error = single_error(with_minimal("[system]\n"));
    CHECK(error.line == 6);
    CHECK(error.column == 1);
  }
  // Non-ASCII characters where a key goes (toml++ 3.3.0 asks whether they are whitespace through
  // a branch it marks unreachable: test/fuzz/CMakeLists.txt): reported with the character.
  SECTION("a non-ASCII character in a table header") {
    for (const char* header : {"[grouqs\xcb\x98reeter]", "[groups.\xd0\x96]", "[\xe3\x81\x82]"}) {
      INFO(header);
      const auto error = single_error(std::string{"[system]\nname = \"bank\"\n"} + header + "\n");
      CHECK(error.line == 3);
      CHECK_THAT(error.message, Contains("saw '"));
    }
  }
}

TEST_CASE("the [system] table and its name are required", "[unit]") {
  SECTION("no [system] table") {
    check_single("[groups.g]\nmodule = \"m\"\n", 0, "system", "missing required table [system]");
  }
  SECTION("system is not a table") {
    check_single("system = 1\n[groups.g]\nmodule = \"m\"\n", 1, "system",
                 "expected a table, got an integer");
  }
  SECTION("no name") {
    check_single("\n[system]\nthreads = 1\n[groups.g]\nmodule = \"m\"\n", 2, "system.name",
                 "missing required key");
  }
  SECTION("name with forbidden characters") {
    check_single("[system]\nname = \"my bank\"\n[groups.g]\nmodule = \"m\"\n", 2, "system.name",
                 "expected a name made of letters, digits, '_', '.' and '-', got \"my bank\"");
  }
  SECTION("empty name") {
    check_single("[system]\nname = \"\"\n[groups.g]\nmodule = \"m\"\n", 2, "system.name",
                 "expected a name");
  }
}

TEST_CASE("values of the wrong type or out of range are reported with key and expectation",
          "[unit]") {
  SECTION("system.name is not a string") {
    check_single("[system]\nname = 7\n[groups.g]\nmodule = \"m\"\n", 2, "system.name",
                 "expected a string, got an integer");
  }
  SECTION("threads is not an integer") {
    check_single("[system]\nname = \"x\"\nthreads = \"2\"\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.threads", "expected an integer, got a string");
  }
  SECTION("idle_spin_polls out of range") {
    check_single("[system]\nname = \"x\"\nidle_spin_polls = 0\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.idle_spin_polls", "expected an integer from 1 to 10000000, got 0");
  }
  SECTION("idle_nap_polls out of range") {
    check_single("[system]\nname = \"x\"\nidle_nap_polls = -1\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.idle_nap_polls", "expected an integer from 0 to 10000000, got -1");
  }
  SECTION("idle_wait of zero") {
    check_single("[system]\nname = \"x\"\nidle_wait = \"0ms\"\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.idle_wait", "expected a duration greater than 0, got \"0ms\"");
  }
  SECTION("threads out of range") {
    check_single("[system]\nname = \"x\"\nthreads = 257\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.threads",
                 "expected an integer from 0 to 256 (0 = hardware concurrency), got 257");
    check_single("[system]\nname = \"x\"\nthreads = -1\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.threads", "got -1");
  }
  SECTION("shutdown_timeout is a bare integer") {
    check_single("[system]\nname = \"x\"\nshutdown_timeout = 10\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.shutdown_timeout",
                 R"(expected a duration string such as "5s" or "250ms")");
  }
  SECTION("log_level not one of the levels") {
    check_single("[system]\nname = \"x\"\nlog_level = \"loud\"\n[groups.g]\nmodule = \"m\"\n", 3,
                 "system.log_level",
                 R"(expected one of trace, debug, info, warn, error, got "loud")");
  }
  SECTION("module missing") {
    check_single("[system]\nname = \"x\"\n\n[groups.g]\nneeds = []\n", 4, "groups.g.module",
                 "missing required key");
  }
  SECTION("module is not a string") {
    check_single(with_minimal("[groups.other]\nmodule = true\n"), 7, "groups.other.module",
                 "expected a string, got a boolean");
  }
  SECTION("needs is not an array") {
    check_single(with_minimal("needs = \"x\"\n"), 6, "groups.ledger.needs",
                 "expected an array of strings, got a string");
  }
  SECTION("needs element is not a string") {
    check_single(with_minimal("needs = [1]\n"), 6, "groups.ledger.needs[0]",
                 "expected a string, got an integer");
  }
  SECTION("restart not a policy") {
    check_single(with_minimal("restart = \"sometimes\"\n"), 6, "groups.ledger.restart",
                 R"(expected one of permanent, transient, temporary, got "sometimes")");
  }
  SECTION("strategy not a strategy") {
    const auto error = single_error(with_minimal("strategy = \"one_for_everyone\"\n"));
    check_error(
      error, 6, "groups.ledger.strategy",
      R"(expected one of one_for_one, one_for_all, rest_for_one, got "one_for_everyone")");
    CHECK(error.column == 12);
    CHECK_THAT(
      error.to_string(),
      Equals(R"(bank.toml:6:12: groups.ledger.strategy: expected one of one_for_one, one_for_all, )"
             R"(rest_for_one, got "one_for_everyone")"));
  }
  SECTION("intensity negative or not an integer") {
    check_single(with_minimal("intensity = -1\n"), 6, "groups.ledger.intensity",
                 "expected an integer >= 0, got -1");
    check_single(with_minimal("intensity = 1.5\n"), 6, "groups.ledger.intensity",
                 "expected an integer, got a float");
  }
  SECTION("period malformed or zero") {
    check_single(with_minimal("period = \"5 s\"\n"), 6, "groups.ledger.period",
                 R"(expected a duration string such as "5s" or "250ms", got "5 s")");
    check_single(with_minimal("period = 5\n"), 6, "groups.ledger.period",
                 R"(expected a duration string such as "5s" or "250ms", got an integer)");
    check_single(with_minimal("period = \"0s\"\n"), 6, "groups.ledger.period",
                 "expected a duration greater than 0");
  }
  SECTION("shutdown neither a duration nor a keyword") {
    check_single(with_minimal("shutdown = \"never\"\n"), 6, "groups.ledger.shutdown",
                 R"(or "infinity" or "brutal_kill", got "never")");
    check_single(with_minimal("shutdown = 5000\n"), 6, "groups.ledger.shutdown",
                 R"(expected a duration string such as "5s" or "250ms")");
  }
  SECTION("backoff is not a table") {
    check_single(with_minimal("backoff = \"1s\"\n"), 6, "groups.ledger.backoff",
                 "expected a table, got a string");
  }
  SECTION("backoff without min and max") {
    const auto errors = errors_of(with_minimal("\n[groups.ledger.backoff]\njitter = 0.1\n"));
    REQUIRE(errors.size() == 2);
    check_error(errors[0], 7, "groups.ledger.backoff.min", "missing required key");
    check_error(errors[1], 7, "groups.ledger.backoff.max", "missing required key");
  }
  SECTION("backoff max below min") {
    check_single(with_minimal("[groups.ledger.backoff]\nmin = \"2s\"\nmax = \"1s\"\n"), 8,
                 "groups.ledger.backoff.max", R"(expected a duration >= min ("2s"), got "1s")");
  }
  SECTION("backoff jitter out of range or not a number") {
    check_single(
      with_minimal("[groups.ledger.backoff]\nmin = \"1s\"\nmax = \"2s\"\njitter = 1.5\n"), 9,
      "groups.ledger.backoff.jitter", "expected a number from 0.0 to 1.0, got 1.5");
    check_single(
      with_minimal("[groups.ledger.backoff]\nmin = \"1s\"\nmax = \"2s\"\njitter = \"a\"\n"), 9,
      "groups.ledger.backoff.jitter", "expected a number from 0.0 to 1.0, got a string");
  }
  SECTION("backoff jitter given as an integer") {
    const auto config = parse_system_file(
      with_minimal("[groups.ledger.backoff]\nmin = \"1s\"\nmax = \"2s\"\njitter = 1\n"),
      "bank.toml");
    CHECK(config.groups[0].backoff->jitter == Approx(1.0));
  }
  SECTION("config is not a table") {
    check_single(with_minimal("config = 3\n"), 6, "groups.ledger.config",
                 "expected a table, got an integer");
  }
  SECTION("a group that is not a table") {
    check_single(with_minimal("[groups]\nother = 3\n"), 7, "groups.other",
                 "expected a table, got an integer");
  }
  SECTION("invalid group name") {
    check_single("[system]\nname = \"x\"\n[groups.\"a b\"]\nmodule = \"m\"\n", 3, "groups.\"a b\"",
                 "invalid group name \"a b\"");
  }
  SECTION("cookie is not a string") {
    check_single(with_minimal("[cluster]\ncookie = 1\n"), 7, "cluster.cookie",
                 "expected a string, got an integer");
  }
  SECTION("heartbeat_interval malformed") {
    check_single(with_minimal("[cluster]\nheartbeat_interval = \"fast\"\n"), 7,
                 "cluster.heartbeat_interval",
                 R"(expected a duration string such as "5s" or "250ms", got "fast")");
  }
}

TEST_CASE("unknown keys are reported with the keys that are allowed", "[unit]") {
  SECTION("top-level table") {
    check_single(with_minimal("[extra]\na = 1\n"), 6, "extra",
                 R"(unknown key "extra"; expected one of system, groups, nodes, cluster)");
  }
  SECTION("in [system]") {
    check_single(
      "[system]\nname = \"x\"\nthread = 2\n[groups.g]\nmodule = \"m\"\n", 3, "system.thread",
      R"(unknown key "thread"; expected one of name, threads, idle_spin_polls, idle_nap_polls, idle_wait, shutdown_timeout, log_level)");
  }
  SECTION("in a group") {
    const auto error = single_error(with_minimal("stratgy = \"one_for_all\"\n"));
    check_error(
      error, 6, "groups.ledger.stratgy",
      R"(unknown key "stratgy"; expected one of module, needs, restart, strategy, intensity, )"
      R"(period, shutdown, backoff, config)");
    CHECK(error.column == 1);
  }
  SECTION("in a backoff") {
    check_single(
      with_minimal("[groups.ledger.backoff]\nmin = \"1s\"\nmax = \"2s\"\nmaximum = \"3s\"\n"), 9,
      "groups.ledger.backoff.maximum",
      R"(unknown key "maximum"; expected one of min, max, jitter, reset_after)");
  }
  SECTION("in a node") {
    check_single(with_minimal("[nodes.a]\nlisten = \"h:1\"\ngroups = [\"ledger\"]\nport = 1\n"), 9,
                 "nodes.a.port", R"(unknown key "port"; expected one of listen, groups, tls)");
  }
  SECTION("in [cluster]") {
    check_single(
      with_minimal("[cluster]\nsecret = \"x\"\n"), 7, "cluster.secret",
      R"(unknown key "secret"; expected one of cookie, heartbeat_interval, heartbeat_timeout, tls)");
  }
  SECTION("any key is allowed in a group's config") {
    const auto config =
      parse_system_file(with_minimal("[groups.ledger.config]\nwhatever = 1\n"), "bank.toml");
    CHECK(config.groups[0].config.count("whatever") == 1);
  }
}

TEST_CASE("a system without groups is rejected", "[unit]") {
  SECTION("no [groups] at all") {
    check_single("[system]\nname = \"x\"\n", 0, "groups", "no groups defined");
  }
  SECTION("an empty [groups] table") {
    check_single("[system]\nname = \"x\"\n\n[groups]\n", 4, "groups", "no groups defined");
  }
}

TEST_CASE("needs must name other groups of the file", "[unit]") {
  SECTION("unknown group") {
    check_single(with_minimal("needs = [\"ledgr\"]\n"), 6, "groups.ledger.needs",
                 R"(unknown group "ledgr")");
  }
  SECTION("a group needing itself") {
    check_single(with_minimal("needs = [\"ledger\"]\n"), 6, "groups.ledger.needs",
                 R"(group "ledger" needs itself)");
  }
  SECTION("the same group twice") {
    check_single(with_minimal("needs = [\"audit\", \"audit\"]\n[groups.audit]\nmodule = \"m\"\n"),
                 6, "groups.ledger.needs", R"(group "audit" is listed more than once)");
  }
}

TEST_CASE("dependency cycles are reported with the cycle spelled out", "[unit]") {
  SECTION("two groups") {
    check_single(R"([system]
name = "x"
[groups.a]
module = "m"
needs = ["b"]
[groups.b]
module = "m"
needs = ["a"]
)",
                 8, "groups.b.needs", "dependency cycle: a -> b -> a");
  }
  SECTION("three groups, with an unrelated one") {
    check_single(R"([system]
name = "x"
[groups.free]
module = "m"
[groups.a]
module = "m"
needs = ["free", "c"]
[groups.b]
module = "m"
needs = ["a"]
[groups.c]
module = "m"
needs = ["b"]
)",
                 10, "groups.b.needs", "dependency cycle: a -> c -> b -> a");
  }
}

TEST_CASE("nodes must place known groups, and every group somewhere", "[unit]") {
  SECTION("unknown group on a node") {
    check_single(with_minimal("[nodes.a]\nlisten = \"h:1\"\ngroups = [\"ledger\", \"ghost\"]\n"), 8,
                 "nodes.a.groups", R"(unknown group "ghost")");
  }
  SECTION("a group placed on no node") {
    check_single(
      with_minimal(
        "[groups.audit]\nmodule = \"m\"\n[nodes.a]\nlisten = \"h:1\"\ngroups = [\"ledger\"]\n"),
      6, "groups.audit", R"(group "audit" is not placed on any node)");
  }
  SECTION("without nodes no placement is needed") {
    const auto config =
      parse_system_file(with_minimal("[groups.audit]\nmodule = \"m\"\n"), "bank.toml");
    CHECK(config.nodes.empty());
  }
  SECTION("a group may be on several nodes") {
    const auto config = parse_system_file(with_minimal(R"([nodes.a]
listen = "h:1"
groups = ["ledger"]
[nodes.b]
listen = "h:2"
groups = ["ledger"]
)"),
                                          "bank.toml");
    CHECK(config.nodes.size() == 2);
  }
  SECTION("groups missing, malformed or empty") {
    check_single(with_minimal("[nodes.a]\nlisten = \"h:1\"\n"), 6, "nodes.a.groups",
                 "missing required key");
    check_single(with_minimal("[nodes.a]\nlisten = \"h:1\"\ngroups = \"ledger\"\n"), 8,
                 "nodes.a.groups", "expected an array of strings, got a string");
    check_single(with_minimal("[nodes.a]\nlisten = \"h:1\"\ngroups = [1]\n"), 8,
                 "nodes.a.groups[0]", "expected a string, got an integer");
    check_single(with_minimal("[nodes.a]\nlisten = \"h:1\"\ngroups = []\n"), 8, "nodes.a.groups",
                 "expected a non-empty array of group names");
  }
  SECTION("listen missing") {
    check_single(with_minimal("\n[nodes.a]\ngroups = [\"ledger\"]\n"), 7, "nodes.a.listen",
                 "missing required key");
  }
}

TEST_CASE("listen addresses must be host:port and not shared", "[unit]") {
  SECTION("malformed addresses") {
    const char* bad[] = {"localhost", "localhost:", ":7001",     "h:port", "h:65536",
                         "h:-1",      "::1:7001",   "[::1]7001", "[::1",   "h:123456"};
    for (const char* listen : bad) {
      INFO(listen);
      const std::string text =
        with_minimal("[nodes.a]\ngroups = [\"ledger\"]\nlisten = \"") + listen + "\"\n";
      check_single(text, 8, "nodes.a.listen",
                   std::string(R"(expected "host:port" with a port from 0 to 65535, got ")")
                     + listen + "\"");
    }
  }
  SECTION("listen is not a string") {
    check_single(with_minimal("[nodes.a]\ngroups = [\"ledger\"]\nlisten = 7001\n"), 8,
                 "nodes.a.listen", "expected a string, got an integer");
  }
  SECTION("two nodes on the same host and port") {
    check_single(with_minimal(R"([nodes.a]
listen = "127.0.0.1:7001"
groups = ["ledger"]
[nodes.b]
listen = "127.0.0.1:7001"
groups = ["ledger"]
)"),
                 10, "nodes.b.listen", R"(address "127.0.0.1:7001" is already used by node "a")");
  }
  SECTION("port 0 may be shared, different hosts may share a port") {
    const auto config = parse_system_file(with_minimal(R"([nodes.a]
listen = "127.0.0.1:0"
groups = ["ledger"]
[nodes.b]
listen = "127.0.0.1:0"
groups = ["ledger"]
[nodes.c]
listen = "127.0.0.2:7001"
groups = ["ledger"]
[nodes.d]
listen = "127.0.0.1:7001"
groups = ["ledger"]
)"),
                                          "bank.toml");
    REQUIRE(config.nodes.size() == 4);
    CHECK(config.nodes[3].port == 7001);
  }
  SECTION("largest port") {
    const auto config = parse_system_file(
      with_minimal("[nodes.a]\nlisten = \"host.example:65535\"\ngroups = [\"ledger\"]\n"),
      "bank.toml");
    CHECK(config.nodes[0].host == "host.example");
    CHECK(config.nodes[0].port == 65535);
  }
}

TEST_CASE("the heartbeat timeout must exceed the heartbeat interval", "[unit]") {
  SECTION("equal") {
    check_single(
      with_minimal("[cluster]\nheartbeat_interval = \"1s\"\nheartbeat_timeout = \"1000ms\"\n"), 8,
      "cluster.heartbeat_timeout",
      R"(expected a duration greater than heartbeat_interval ("1s"), got "1000ms")");
  }
  SECTION("smaller") {
    check_single(
      with_minimal("[cluster]\nheartbeat_interval = \"1s\"\nheartbeat_timeout = \"500ms\"\n"), 8,
      "cluster.heartbeat_timeout", "expected a duration greater than heartbeat_interval");
  }
  SECTION("only one of them given") {
    const auto config =
      parse_system_file(with_minimal("[cluster]\nheartbeat_timeout = \"50ms\"\n"), "bank.toml");
    CHECK(config.cluster.heartbeat_timeout == std::optional<std::chrono::milliseconds>(50ms));
    CHECK_FALSE(config.cluster.heartbeat_interval.has_value());
  }
}

TEST_CASE("a group's config values must be scalars", "[unit]") {
  SECTION("table") {
    check_single(with_minimal("[groups.ledger.config]\nlimits = { max = 1 }\n"), 7,
                 "groups.ledger.config.limits",
                 "expected a string, integer, float or boolean, got a table");
  }
  SECTION("array") {
    check_single(with_minimal("[groups.ledger.config]\nok = 1\nports = [1, 2]\n"), 8,
                 "groups.ledger.config.ports",
                 "expected a string, integer, float or boolean, got an array");
  }
  SECTION("date") {
    check_single(with_minimal("[groups.ledger.config]\nsince = 2024-01-01\n"), 7,
                 "groups.ledger.config.since", "got a date");
  }
}

TEST_CASE("all errors are reported, not just the first", "[unit]") {
  const std::string text = R"([system]
name = "bank"
log_level = "chatty"

[groups.ledger]
module = "bank.ledger"
stratgy = "one_for_one"
needs = ["nobody"]
)";
  try {
    (void)parse_system_file(text, "bank.toml");
    FAIL("accepted");
  } catch (const system_file_errors& e) {
    const auto& errors = e.errors();
    REQUIRE(errors.size() == 3);
    check_error(errors[0], 3, "system.log_level", R"(got "chatty")");
    check_error(errors[1], 7, "groups.ledger.stratgy", R"(unknown key "stratgy")");
    check_error(errors[2], 8, "groups.ledger.needs", R"(unknown group "nobody")");
    CHECK(std::string(e.what())
          == errors[0].to_string() + "\n" + errors[1].to_string() + "\n" + errors[2].to_string());
  }
}

TEST_CASE("start_order puts needed groups first and otherwise keeps file order", "[unit]") {
  const auto names = [](const system_config& config) {
    std::vector<std::string> out;
    for (const auto* group : config.start_order())
      out.push_back(group->name);
    return out;
  };
  SECTION("no dependencies: file order") {
    const auto config = parse_system_file(R"([system]
name = "x"
[groups.zeta]
module = "m"
[groups.alpha]
module = "m"
[groups.mid]
module = "m"
)",
                                          "bank.toml");
    CHECK(names(config) == std::vector<std::string>{"zeta", "alpha", "mid"});
  }
  SECTION("a dependency later in the file moves ahead") {
    const auto config = parse_system_file(R"([system]
name = "x"
[groups.web]
module = "m"
needs = ["db"]
[groups.cache]
module = "m"
[groups.db]
module = "m"
)",
                                          "bank.toml");
    CHECK(names(config) == std::vector<std::string>{"cache", "db", "web"});
  }
  SECTION("chain and diamond") {
    const auto config = parse_system_file(R"([system]
name = "x"
[groups.api]
module = "m"
needs = ["left", "right"]
[groups.left]
module = "m"
needs = ["base"]
[groups.right]
module = "m"
needs = ["base"]
[groups.base]
module = "m"
[groups.tools]
module = "m"
)",
                                          "bank.toml");
    CHECK(names(config) == std::vector<std::string>{"base", "left", "right", "api", "tools"});
  }
  SECTION("empty system") {
    CHECK(system_config{}.start_order().empty());
  }
}

TEST_CASE("find_group looks groups up by name", "[unit]") {
  const auto config =
    parse_system_file(with_minimal("[groups.audit]\nmodule = \"bank.audit\"\n"), "bank.toml");
  REQUIRE(config.find_group("audit") != nullptr);
  CHECK(config.find_group("audit")->module == "bank.audit");
  CHECK(config.find_group("ledger") == &config.groups[0]);
  CHECK(config.find_group("nothing") == nullptr);
}

TEST_CASE("parse_duration reads integer-and-unit strings", "[unit]") {
  using microlith::parse_duration;
  SECTION("valid") {
    struct row {
      std::string_view text;
      std::chrono::milliseconds expected;
    };
    const row rows[] = {{"250ms", 250ms}, {"0ms", 0ms}, {"5s", 5s},   {"0s", 0ms},
                        {"2m", 2min},     {"1h", 1h},   {"007s", 7s}, {"86400000ms", 24h}};
    for (const auto& r : rows) {
      INFO(r.text);
      CHECK(parse_duration(r.text) == std::optional<std::chrono::milliseconds>(r.expected));
    }
  }
  SECTION("invalid") {
    const std::string_view rows[] = {"",
                                     "5",
                                     "s",
                                     "5 s",
                                     " 5s",
                                     "5s ",
                                     "-5s",
                                     "+5s",
                                     "1.5s",
                                     "5sec",
                                     "5S",
                                     "5us",
                                     "1d",
                                     "5ms5",
                                     "ms",
                                     "5hs",
                                     "0x10s",
                                     "1e3ms",
                                     "9999999999999999999ms",
                                     "999999999999999999h"};
    for (const auto text : rows) {
      INFO(text);
      CHECK_FALSE(parse_duration(text).has_value());
    }
  }
}

TEST_CASE("enums and errors print as the file spells them", "[unit]") {
  SECTION("restart policies") {
    CHECK(microlith::to_string(restart_type::permanent) == "permanent");
    CHECK(microlith::to_string(restart_type::transient) == "transient");
    CHECK(microlith::to_string(restart_type::temporary) == "temporary");
  }
  SECTION("strategies") {
    CHECK(microlith::to_string(microlith::strategy::one_for_one) == "one_for_one");
    CHECK(microlith::to_string(microlith::strategy::one_for_all) == "one_for_all");
    CHECK(microlith::to_string(microlith::strategy::rest_for_one) == "rest_for_one");
  }
  SECTION("errors with and without position or key") {
    CHECK(system_file_error{"f.toml", 3, 7, "system.name", "bad"}.to_string()
          == "f.toml:3:7: system.name: bad");
    CHECK(system_file_error{"f.toml", 0, 0, "groups", "none"}.to_string()
          == "f.toml: groups: none");
    CHECK(system_file_error{"f.toml", 2, 1, "", "syntax"}.to_string() == "f.toml:2:1: syntax");
  }
}

TEST_CASE("load_system_file reports unreadable paths", "[unit]") {
  const std::string path = "/nonexistent-microlith-dir/bank.toml";
  try {
    (void)microlith::load_system_file(path);
    FAIL("accepted");
  } catch (const system_file_errors& e) {
    REQUIRE(e.errors().size() == 1);
    CHECK(e.errors()[0].file == path);
    CHECK(e.errors()[0].line == 0);
    CHECK_THAT(e.errors()[0].message, Contains("No such file or directory"));
    CHECK_THAT(std::string(e.what()), Contains(path));
  }
}

TEST_CASE("load_system_file reads a file from disk", "[unit]") {
  namespace fs = std::filesystem;
  const fs::path dir =
    fs::temp_directory_path() / ("microlith-system-file-" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  const fs::path file = dir / "bank.toml";
  {
    std::ofstream out(file);
    out << minimal << "[groups.audit]\nmodule = \"bank.audit\"\nneeds = [\"ledger\"]\n";
  }
  SECTION("valid file") {
    const auto config = microlith::load_system_file(file.string());
    CHECK(config.path == file.string());
    CHECK(config.name == "bank");
    REQUIRE(config.groups.size() == 2);
    CHECK(config.groups[1].needs == std::vector<std::string>{"ledger"});
  }
  SECTION("errors name the file") {
    {
      std::ofstream out(file, std::ios::app);
      out << "restart = \"never\"\n";
    }
    try {
      (void)microlith::load_system_file(file.string());
      FAIL("accepted");
    } catch (const system_file_errors& e) {
      REQUIRE(e.errors().size() == 1);
      CHECK(e.errors()[0].file == file.string());
      CHECK(e.errors()[0].line == 9);
      CHECK_THAT(std::string(e.what()), Contains(file.string() + ":9:"));
    }
  }
  SECTION("a directory is not a file") {
    CHECK_THROWS_AS(microlith::load_system_file(dir.string()), system_file_errors);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  CHECK_FALSE(fs::exists(dir));
}
