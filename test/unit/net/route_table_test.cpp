// The gateway's route table (net/src/gateway/route_table.cpp): route syntax, validation against
// contracts (every problem reported at once), matching (most specific first, 404, 405 with
// Allow, parameter decoding), and the atomic switch between tables.
#include "proto/gateway_test.pb.h"
#include "proto/test.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/net/gateway/gateway.hpp>
#include <microlith/net/gateway/route_table.hpp>

#include <google/protobuf/descriptor.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace microlith::gateway;
using Catch::Matchers::Contains;

namespace {

// The registry as instances of "binder" (microlith.test.gateway.Binder) and "echo"
// (microlith.test.Echo) leave it: tables are checked against it through registered_contracts,
// as the gateway module checks them.
const microlith::service_registry& test_registry() {
  struct recorded {
    recorded() {
      registry.record_contract("binder", "microlith.test.gateway.Binder");
      registry.record_contract("echo", "microlith.test.Echo");
    }
    microlith::service_registry registry;
  };
  static const recorded instance;
  return instance.registry;
}

contract_lookup test_contracts() {
  return registered_contracts(test_registry());
}

route_spec spec(std::string key, std::string target) {
  auto parsed = parse_route(key, target);
  REQUIRE(parsed);
  return *parsed;
}

std::shared_ptr<const route_table> must_build(std::vector<route_spec> specs,
                                              std::vector<std::string> reserved = {}) {
  auto table = route_table::build(std::move(specs), test_contracts(), reserved);
  if (!table)
    FAIL(microlith::message_of(table.error()));
  return *table;
}

std::string build_error(std::vector<route_spec> specs, std::vector<std::string> reserved = {}) {
  auto table = route_table::build(std::move(specs), test_contracts(), reserved);
  REQUIRE_FALSE(table);
  return microlith::message_of(table.error());
}

} // namespace

TEST_CASE("a route is written VERB /path = service.Method", "[unit]") {
  SECTION("accepted") {
    auto s = spec("POST /accounts/{account_id}/deposit", "accounts.Deposit");
    CHECK(s.verb == "POST");
    CHECK(s.pattern == "/accounts/{account_id}/deposit");
    CHECK(s.service == "accounts");
    CHECK(s.method == "Deposit");
    CHECK(s.to_string() == "POST /accounts/{account_id}/deposit -> accounts.Deposit");
    CHECK(spec("GET /", "a.b.Method").service == "a.b"); // the last dot splits
    CHECK(s.status == 200);
  }
  SECTION("with the status of a successful answer after the method") {
    auto s = spec("POST /webhooks/payments", "payments.Receive 202");
    CHECK(s.service == "payments");
    CHECK(s.method == "Receive");
    CHECK(s.status == 202);
    CHECK(s.to_string() == "POST /webhooks/payments -> payments.Receive 202");
    CHECK(spec("POST /a", "a.Make 201").status == 201);
    CHECK(spec("POST /a", "a.Make 200").status == 200);
    CHECK(spec("POST /a", "a.Make 200").to_string() == "POST /a -> a.Make");
  }
  SECTION("refused, saying what was expected") {
    auto refused = [](std::string key, std::string target) {
      auto r = parse_route(key, target);
      REQUIRE_FALSE(r);
      return microlith::message_of(r.error());
    };
    CHECK_THAT(refused("/accounts", "a.B"), Contains("expected \"VERB /path\""));
    CHECK_THAT(refused("FETCH /accounts", "a.B"), Contains("got \"FETCH\""));
    CHECK_THAT(refused("GET accounts", "a.B"), Contains("must start with '/'"));
    CHECK_THAT(refused("GET /a//b", "a.B"), Contains("empty segment"));
    CHECK_THAT(refused("GET /a/", "a.B"), Contains("empty segment"));
    CHECK_THAT(refused("GET /a/{b", "a.B"), Contains("one whole {parameter}"));
    CHECK_THAT(refused("GET /a/x{b}", "a.B"), Contains("one whole {parameter}"));
    CHECK_THAT(refused("GET /a/{1b}", "a.B"), Contains("must be a field name"));
    CHECK_THAT(refused("GET /a/{b}/{b}", "a.B"), Contains("twice"));
    CHECK_THAT(refused("GET /a?x=1", "a.B"), Contains("'?'"));
    CHECK_THAT(refused("GET /a", "accounts"), Contains("expected a target \"service.Method\""));
    CHECK_THAT(refused("GET /a", "accounts."), Contains("expected a target"));
    CHECK_THAT(refused("GET /a", "accounts.De-posit"), Contains("not a method name"));
    CHECK_THAT(refused("POST /a", "a.Make 204"), Contains("with STATUS 200, 201 or 202"));
    CHECK_THAT(refused("POST /a", "a.Make 404"), Contains("got \"a.Make 404\""));
    CHECK_THAT(refused("POST /a", "a.Make two"), Contains("with STATUS 200, 201 or 202"));
    CHECK_THAT(refused("POST /a", "a.Make "), Contains("with STATUS 200, 201 or 202"));
  }
}

TEST_CASE("a table is validated against the contracts, every problem at once", "[unit]") {
  SECTION("a valid table") {
    auto table =
      must_build({spec("POST /binder/{name}", "binder.Bind"), spec("GET /echo", "echo.Ping")});
    CHECK(table->routes().size() == 2);
    CHECK(table->routes()[0].request_type->full_name() == "microlith.test.PingRequest");
  }
  SECTION("problems") {
    auto why = build_error(
      {
        spec("GET /a", "nobody.Ping"),
        spec("GET /b", "echo.Pong"),
        spec("GET /c/{nope}", "binder.Bind"),
        spec("GET /d/{note}", "binder.Bind"),
        spec("GET /e/{tags}", "binder.Bind"),
        spec("GET /f/{name}", "binder.Bind"),
        spec("GET /f/{amount}", "binder.Bind"),
        spec("GET /healthz", "echo.Ping"),
        spec("GET /{any}", "echo.Ping"),
        spec("GET /ws", "echo.Ping"),
        spec("POST /_microlith/{action}", "echo.Ping"),
      },
      reserved_paths("/ws", true));
    CHECK_THAT(why, Contains("GET /a -> nobody.Ping: no service named \"nobody\" is known"));
    CHECK_THAT(
      why, Contains("microlith.test.Echo (the contract of echo) has no method Pong; it has: Ping"));
    CHECK_THAT(why, Contains("{nope} is not a field of microlith.test.gateway.BindRequest"));
    CHECK_THAT(why, Contains("{note} names a message field"));
    CHECK_THAT(why, Contains("{tags} names a repeated field"));
    CHECK_THAT(
      why, Contains("GET /f/{amount} -> binder.Bind: matches the same requests as GET /f/{name}"));
    CHECK_THAT(
      why,
      Contains("GET /healthz -> echo.Ping: matches /healthz, which the gateway serves itself"));
    CHECK_THAT(why, Contains("GET /{any} -> echo.Ping: matches /healthz"));
    CHECK_THAT(why, Contains("GET /{any} -> echo.Ping: matches /readyz"));
    CHECK_THAT(why, Contains("GET /ws -> echo.Ping: matches /ws, which the gateway serves itself"));
    CHECK_THAT(why, Contains("POST /_microlith/{action} -> echo.Ping: matches /_microlith/reload"));
  }
  SECTION("the same path with another verb is not a conflict") {
    auto table =
      must_build({spec("GET /f/{name}", "binder.Bind"), spec("POST /f/{name}", "binder.Echo")});
    CHECK(table->routes().size() == 2);
  }
}

TEST_CASE("a table's problems name each route's origin", "[unit]") {
  auto from_file = spec("GET /f/{name}", "binder.Bind");
  from_file.origin = "bank.toml:12";
  auto from_module = spec("GET /f/{amount}", "binder.Bind");
  from_module.origin = "module acme.statements";
  auto unknown = spec("GET /g", "nobody.Ping");
  unknown.origin = "module acme.reports";
  auto why = build_error({from_file, from_module, unknown});
  CHECK_THAT(why, Contains("GET /f/{amount} -> binder.Bind (module acme.statements): matches the "
                           "same requests as GET /f/{name} -> binder.Bind (bank.toml:12)"));
  CHECK_THAT(why, Contains("GET /g -> nobody.Ping (module acme.reports): no service named"));
  CHECK(from_file.to_string() == "GET /f/{name} -> binder.Bind");
  CHECK(from_file.to_string_with_origin() == "GET /f/{name} -> binder.Bind (bank.toml:12)");
}

TEST_CASE("a request matches the most specific route", "[unit]") {
  auto table = must_build({
    spec("GET /binder/{name}", "binder.Bind"),
    spec("GET /binder/special", "binder.Echo"),
    spec("POST /binder/{name}/items/{amount}", "binder.Bind"),
    spec("DELETE /binder/{name}", "binder.Echo"),
    spec("GET /", "echo.Ping"),
  });
  SECTION("a literal beats a parameter") {
    auto m = table->match("GET", "/binder/special");
    REQUIRE(m.result == route_match::outcome::found);
    CHECK(m.target->spec.method == "Echo");
    CHECK(m.path_params.empty());
  }
  SECTION("parameters are bound, decoded, in pattern order") {
    auto m = table->match("POST", "/binder/ada%20l/items/12");
    REQUIRE(m.result == route_match::outcome::found);
    REQUIRE(m.path_params.size() == 2);
    CHECK(m.path_params[0].name == "name");
    CHECK(m.path_params[0].value == "ada l");
    CHECK(m.path_params[1].name == "amount");
    CHECK(m.path_params[1].value == "12");
  }
  SECTION("a path keeps '+'") {
    auto m = table->match("GET", "/binder/a+b");
    REQUIRE(m.result == route_match::outcome::found);
    CHECK(m.path_params[0].value == "a+b");
  }
  SECTION("a malformed escape is reported") {
    auto m = table->match("GET", "/binder/a%zz");
    REQUIRE(m.result == route_match::outcome::found);
    CHECK_THAT(m.decode_error, Contains("path parameter name"));
  }
  SECTION("the root") {
    CHECK(table->match("GET", "/").result == route_match::outcome::found);
  }
  SECTION("no route: 404") {
    CHECK(table->match("GET", "/nothing").result == route_match::outcome::no_route);
    CHECK(table->match("GET", "/binder/").result == route_match::outcome::no_route);
    CHECK(table->match("GET", "/binder/a/b").result == route_match::outcome::no_route);
    CHECK(table->match("GET", "/binder//items/1").result == route_match::outcome::no_route);
  }
  SECTION("wrong verb: 405 with the verbs that match") {
    auto m = table->match("PUT", "/binder/ada");
    REQUIRE(m.result == route_match::outcome::wrong_verb);
    CHECK(m.allow == "GET, DELETE");
    auto special = table->match("POST", "/binder/special");
    REQUIRE(special.result == route_match::outcome::wrong_verb);
    CHECK(special.allow == "GET, DELETE");
  }
}

TEST_CASE("the route switch swaps tables atomically", "[unit]") {
  route_switch routes;
  CHECK(routes.generation() == 0);
  CHECK(routes.current()->routes().empty());
  auto first = must_build({spec("GET /a", "echo.Ping")});
  CHECK(routes.install(first) == 1);
  auto held = routes.current(); // a request in flight holds its table
  CHECK(routes.install(must_build({spec("GET /b", "echo.Ping")})) == 2);
  CHECK(held->match("GET", "/a").result == route_match::outcome::found);
  CHECK(routes.current()->match("GET", "/a").result == route_match::outcome::no_route);
  CHECK(routes.current()->match("GET", "/b").result == route_match::outcome::found);
}

TEST_CASE("the route switch's current table is never null, also after installing none", "[unit]") {
  route_switch routes;
  routes.install(must_build({spec("GET /a", "echo.Ping")}));
  CHECK(routes.install(nullptr) == 2);
  REQUIRE(routes.current() != nullptr);
  CHECK(routes.current()->routes().empty());
  CHECK(routes.current()->match("GET", "/a").result == route_match::outcome::no_route);
}

TEST_CASE("a table that does not build is not installed", "[unit]") {
  route_switch routes;
  REQUIRE(routes.install(must_build({spec("GET /a", "echo.Ping")})) == 1);
  auto before = routes.current();
  auto refused = routes.build_and_install(
    {spec("GET /b", "echo.Ping"), spec("GET /c", "nobody.Ping"), spec("GET /d", "echo.Pong")},
    test_contracts());
  REQUIRE_FALSE(refused);
  auto why = microlith::message_of(refused.error());
  CHECK_THAT(why, Contains("no service named \"nobody\" is known"));
  CHECK_THAT(why, Contains("has no method Pong"));
  CHECK(routes.generation() == 1);
  CHECK(routes.current() == before);
  // A table that builds is installed by the same call.
  auto installed = routes.build_and_install({spec("GET /b", "echo.Ping")}, test_contracts());
  REQUIRE(installed);
  CHECK(*installed == 2);
  CHECK(routes.generation() == 2);
  CHECK(routes.current()->match("GET", "/b").result == route_match::outcome::found);
  CHECK(routes.current()->match("GET", "/a").result == route_match::outcome::no_route);
}

TEST_CASE("the gateway reserves its own paths", "[unit]") {
  using paths = std::vector<std::string>;
  CHECK(reserved_paths("/ws", false) == paths{"/healthz", "/readyz", "/ws"});
  CHECK(reserved_paths("/live/updates", true)
        == paths{"/healthz", "/readyz", "/live/updates", "/_microlith/reload"});
  CHECK(reserved_paths("", false) == paths{"/healthz", "/readyz"});
  CHECK(reserved_paths("", false, {"/_microlith/modules"})
        == paths{"/healthz", "/readyz", "/_microlith/modules", "/_microlith/modules/"});
}

TEST_CASE("no route may lie under an admin operation's prefix", "[unit]") {
  auto why = build_error(
    {
      spec("GET /_microlith/modules", "echo.Ping"),
      spec("POST /_microlith/modules/{text}", "echo.Ping"),
      spec("DELETE /{text}/modules/x/y", "echo.Ping"),
      spec("GET /_microlith/modulesx", "echo.Ping"),
    },
    reserved_paths("", false, {"/_microlith/modules"}));
  CHECK_THAT(why, Contains("GET /_microlith/modules -> echo.Ping: matches /_microlith/modules, "
                           "which the gateway serves itself"));
  CHECK_THAT(why, Contains("POST /_microlith/modules/{text} -> echo.Ping: lies under "
                           "/_microlith/modules/, which the gateway serves itself"));
  CHECK_THAT(why, Contains("DELETE /{text}/modules/x/y -> echo.Ping: lies under "
                           "/_microlith/modules/"));
  CHECK_THAT(why, !Contains("GET /_microlith/modulesx"));
}

TEST_CASE("routes are checked against the contracts the registry recorded", "[unit]") {
  microlith::service_registry registry;
  auto contracts = registered_contracts(registry);
  CHECK(contracts("echo") == nullptr); // no instance ever registered
  registry.record_contract("echo", "microlith.test.Echo");
  REQUIRE(contracts("echo") != nullptr);
  CHECK(contracts("echo")->full_name() == "microlith.test.Echo");
  registry.record_contract("stale", "microlith.test.NoSuchContract");
  CHECK(contracts("stale") == nullptr); // not linked into this program
}
