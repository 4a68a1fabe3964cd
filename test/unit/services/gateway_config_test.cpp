// The gateway's tables in the system file, which the built-in module microlith.gateway reads
// itself (services/src/gateway_module.cpp): [groups.NAME.http] and [groups.NAME.routes], only
// for groups of that module, read field by field with their defaults, and every mistake
// reported with line and key.
#include "microlith/services/gateway_module.hpp"
#include "microlith/services/system_file.hpp"

#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <any>
#include <string>
#include <string_view>
#include <vector>

using namespace system_file_checks;
using microlith::gateway_settings;
using microlith::parse_system_file;
using microlith::system_config;

namespace {

// A system with one service group and a gateway group (lines 1-9); tests append to it.
constexpr std::string_view gateway_file = R"([system]
name = "bank"
[groups.accounts]
module = "bank.accounts"
[groups.web]
module = "microlith.gateway"
needs = ["accounts"]
[groups.web.http]
listen = "127.0.0.1:0"
)";

std::string with_gateway(std::string_view rest) {
  return std::string(gateway_file) + std::string(rest);
}

// The gateway settings the module read for `group`, or nullptr.
const gateway_settings* settings_of(const system_config& config, std::string_view group) {
  const auto* g = config.find_group(group);
  REQUIRE(g != nullptr);
  return std::any_cast<gateway_settings>(&g->settings);
}

} // namespace

TEST_CASE("a gateway group's http and routes tables are read", "[unit]") {
  SECTION("defaults") {
    auto config = parse_system_file(gateway_file, "bank.toml");
    const auto* web = settings_of(config, "web");
    REQUIRE(web != nullptr);
    const auto& http = web->options;
    CHECK(http.host == "127.0.0.1");
    CHECK(http.port == 0);
    CHECK(http.io_threads == 1);
    CHECK(http.max_connections == 1024);
    CHECK(http.max_header_bytes == 8192);
    CHECK(http.max_body_bytes == 1048576);
    CHECK(http.request_timeout == std::chrono::seconds(10));
    CHECK(http.idle_timeout == std::chrono::seconds(60));
    CHECK(http.websocket_path == "/ws");
    CHECK(http.websocket_queue == 256);
    CHECK(http.metrics_endpoint == microlith::gateway::metrics_access::open);
    CHECK_FALSE(web->admin);
    CHECK(web->routes.empty());
    CHECK(settings_of(config, "accounts") == nullptr);
  }
  SECTION("every setting, and routes in file order") {
    auto config = parse_system_file(with_gateway(R"(io_threads = 2
max_connections = 10
max_header_bytes = 1024
max_body_bytes = 0
request_timeout = "2s"
idle_timeout = "500ms"
websocket_path = ""
websocket_queue = 8
admin = true
metrics = "off"
[groups.web.routes]
"POST /accounts" = "accounts.Open"
"GET /accounts/{account_id}" = "accounts.Balance"
)"),
                                    "bank.toml");
    const auto* web = settings_of(config, "web");
    REQUIRE(web != nullptr);
    const auto& http = web->options;
    CHECK(http.io_threads == 2);
    CHECK(http.max_connections == 10);
    CHECK(http.max_header_bytes == 1024);
    CHECK(http.max_body_bytes == 0);
    CHECK(http.request_timeout == std::chrono::seconds(2));
    CHECK(http.idle_timeout == std::chrono::milliseconds(500));
    CHECK(http.websocket_path.empty());
    CHECK(http.websocket_queue == 8);
    CHECK(web->admin);
    CHECK(http.metrics_endpoint == microlith::gateway::metrics_access::off);
    const auto& routes = web->routes;
    REQUIRE(routes.size() == 2);
    CHECK(routes[0].spec.verb == "POST");
    CHECK(routes[0].spec.pattern == "/accounts");
    CHECK(routes[0].spec.service == "accounts");
    CHECK(routes[0].spec.method == "Open");
    CHECK(routes[0].line == 21);
    CHECK(routes[0].spec.origin == "bank.toml:21"); // what the table's problems name
    CHECK(routes[1].spec.pattern == "/accounts/{account_id}");
    CHECK(routes[1].spec.method == "Balance");
  }
}

TEST_CASE("mistakes in a gateway group are reported with line and key", "[unit]") {
  SECTION("a route table on a group that is not the gateway") {
    check_single(R"([system]
name = "bank"
[groups.accounts]
module = "bank.accounts"
[groups.accounts.routes]
"GET /a" = "accounts.Balance"
)",
                 5, "groups.accounts.routes",
                 "only groups of module \"microlith.gateway\" (the gateway) have a [routes] table");
  }
  SECTION("a gateway group without [http]") {
    check_single("[system]\nname = \"bank\"\n[groups.web]\nmodule = \"microlith.gateway\"\n", 3,
                 "groups.web.http", "a gateway group needs a [groups.web.http] table");
  }
  SECTION("no listen address") {
    check_single("[system]\nname = \"bank\"\n[groups.web]\nmodule = \"microlith.gateway\"\n"
                 "[groups.web.http]\nio_threads = 1\n",
                 5, "groups.web.http.listen", "missing required key");
  }
  SECTION("a bad listen address") {
    check_single("[system]\nname = \"bank\"\n[groups.web]\nmodule = \"microlith.gateway\"\n"
                 "[groups.web.http]\nlisten = \"localhost\"\n",
                 6, "groups.web.http.listen", "expected host:port");
  }
  SECTION("a setting out of range") {
    check_single(with_gateway("io_threads = 0\n"), 10, "groups.web.http.io_threads",
                 "expected an integer from 1 to 64, got 0");
    check_single(with_gateway("max_header_bytes = 100\n"), 10, "groups.web.http.max_header_bytes",
                 "expected an integer >= 512, got 100");
    check_single(with_gateway("websocket_path = \"ws\"\n"), 10, "groups.web.http.websocket_path",
                 "a path starting with '/'");
  }
  SECTION("admin is a boolean") {
    check_single(with_gateway("admin = 1\n"), 10, "groups.web.http.admin",
                 "expected true or false, got an integer");
  }
  SECTION("metrics is open admin or off") {
    check_single(with_gateway("metrics = \"public\"\n"), 10, "groups.web.http.metrics",
                 "expected \"open\" (anyone may GET /metrics), \"admin\" (bearers of the admin "
                 "token) or \"off\" (no /metrics), got \"public\"");
    check_single(with_gateway("metrics = true\n"), 10, "groups.web.http.metrics", "got a boolean");
  }
  SECTION("an unknown setting") {
    check_single(with_gateway("max_bodyy = 1\n"), 10, "groups.web.http.max_bodyy",
                 "unknown key \"max_bodyy\"");
  }
  SECTION("a malformed route") {
    check_single(with_gateway("[groups.web.routes]\n\"FETCH /a\" = \"accounts.Open\"\n"), 11,
                 "groups.web.routes.\"FETCH /a\"",
                 "expected a verb GET, HEAD, POST, PUT, PATCH or DELETE");
    check_single(with_gateway("[groups.web.routes]\n\"GET /a\" = \"accounts\"\n"), 11,
                 "groups.web.routes.\"GET /a\"", "expected a target \"service.Method\"");
    check_single(with_gateway("[groups.web.routes]\n\"GET /a\" = 3\n"), 11,
                 "groups.web.routes.\"GET /a\"", "a target string");
  }
}
