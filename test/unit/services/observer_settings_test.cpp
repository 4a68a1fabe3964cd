// The system file's [observer] table (system_config::observer, docs/observer.md "A node's own
// metrics"): where a process serves its own GET /metrics without a gateway group, per node in a
// cluster file, who may read it, and each mistake reported with the file, line, column and key.
#include <microlith/services/gateway_module.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using namespace system_file_checks;

namespace {

// Four lines; an [observer] table appended starts on line 5.
const std::string base = "[system]\nname = \"bank\"\n[groups.ledger]\nmodule = \"bank.ledger\"\n";

// Two nodes (lines 5 to 12); an [observer] table appended starts on line 13.
const std::string cluster = base
                            + "[nodes.front]\nlisten = \"127.0.0.1:7001\"\ngroups = [\"ledger\"]\n"
                              "[nodes.back]\nlisten = \"127.0.0.1:7002\"\ngroups = [\"ledger\"]\n"
                              "[cluster]\ncookie = \"0123456789abcdef0123456789abcdef\"\n";

} // namespace

TEST_CASE("the [observer] table says where a process serves its own metrics", "[unit]") {
  SECTION("a system in one process") {
    auto config = microlith::parse_system_file(
      base + "[observer]\nmetrics = \"127.0.0.1:9464\"\nmetrics_access = \"admin\"\n", "bank.toml");
    REQUIRE(config.observer.metrics);
    CHECK(config.observer.metrics->host == "127.0.0.1");
    CHECK(config.observer.metrics->port == 9464);
    CHECK(config.observer.metrics->line == 6);
    CHECK(config.observer.metrics_need_token);
    CHECK(config.observer.line == 5);
    REQUIRE(config.observer.metrics_of("") != nullptr);
    CHECK(config.observer.metrics_of("")->port == 9464);
    CHECK(config.observer.metrics_of("front") == nullptr);
  }
  SECTION("each node of a cluster file its own, port 0 the OS's choice") {
    auto config =
      microlith::parse_system_file(cluster
                                     + "[observer.nodes.back]\nmetrics = \"[::1]:0\"\n"
                                       "[observer.nodes.front]\nmetrics = \"0.0.0.0:9465\"\n",
                                   "bank.toml");
    CHECK_FALSE(config.observer.metrics);
    CHECK_FALSE(config.observer.metrics_need_token);
    REQUIRE(config.observer.metrics_of("back") != nullptr);
    CHECK(config.observer.metrics_of("back")->host == "::1");
    CHECK(config.observer.metrics_of("back")->port == 0);
    REQUIRE(config.observer.metrics_of("front") != nullptr);
    CHECK(config.observer.metrics_of("front")->port == 9465);
    CHECK(config.observer.metrics_of("") == nullptr);
  }
  SECTION("absent: no listener of its own") {
    auto config = microlith::parse_system_file(base, "bank.toml");
    CHECK_FALSE(config.observer.metrics);
    CHECK(config.observer.node_metrics.empty());
    CHECK(config.observer.line == 0);
  }
}

TEST_CASE("mistakes in [observer] are reported with line and key", "[unit]") {
  SECTION("an unknown key") {
    check_single(base + "[observer]\nmetric = \"127.0.0.1:1\"\n", 6, "observer.metric",
                 "unknown key \"metric\"; expected metrics, metrics_access or "
                 "[observer.nodes.NAME]");
  }
  SECTION("an address that is not HOST:PORT") {
    check_single(base + "[observer]\nmetrics = \"9464\"\n", 6, "observer.metrics",
                 "expected an address to serve GET /metrics on, as \"HOST:PORT\"");
    check_single(base + "[observer]\nmetrics = 9464\n", 6, "observer.metrics", "got 9464");
    check_single(base + "[observer]\nmetrics = \"127.0.0.1:70000\"\n", 6, "observer.metrics",
                 "HOST:PORT");
  }
  SECTION("an access that is neither open nor admin") {
    check_single(base + "[observer]\nmetrics_access = \"off\"\n", 6, "observer.metrics_access",
                 "expected \"open\" (anyone may GET /metrics) or \"admin\"");
  }
  SECTION("a node the file does not have") {
    check_single(cluster + "[observer.nodes.middle]\nmetrics = \"127.0.0.1:0\"\n", 13,
                 "observer.nodes.middle",
                 "no node \"middle\" in this file; expected the name of a [nodes.NAME] table "
                 "(front, back)");
    check_single(base + "[observer.nodes.front]\nmetrics = \"127.0.0.1:0\"\n", 5,
                 "observer.nodes.front", "(the file has none)");
  }
  SECTION("a node entry that is not a table or has another key") {
    check_single(cluster + "[observer.nodes]\nback = \"127.0.0.1:0\"\n", 14, "observer.nodes.back",
                 "expected a table with metrics = \"HOST:PORT\"");
    check_single(cluster + "[observer.nodes.back]\nlisten = \"127.0.0.1:0\"\n", 14,
                 "observer.nodes.back.listen", "unknown key \"listen\"; expected metrics");
  }
}

TEST_CASE("microlith check refuses metrics_access = admin without the admin token", "[unit]") {
  ::unsetenv("MICROLITH_ADMIN_TOKEN"); // each test case runs in its own process
  microlith::module_catalogue modules;
  microlith::detail::add_builtin_modules(modules);
  const std::string text =
    "[system]\nname = \"acme\"\n[groups.web]\nmodule = \"microlith.gateway\"\n"
    "[groups.web.http]\nlisten = \"127.0.0.1:0\"\n"
    "[observer]\nmetrics = \"127.0.0.1:0\"\nmetrics_access = \"admin\"\n";
  auto errors =
    microlith::check_system(microlith::parse_system_file(text, "acme.toml", modules), modules);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].line == 9);
  CHECK(errors[0].key == "observer.metrics_access");
  CHECK_THAT(errors[0].message,
             Catch::Matchers::Contains("requires the admin token: set [admin] token"));
  auto with_token = microlith::check_system(
    microlith::parse_system_file(text + "[admin]\ntoken = \"0123456789abcdef0123\"\n", "acme.toml",
                                 modules),
    modules);
  CHECK(with_token.empty());
}
