// Route prefixes of installed modules (code_server.hpp): how a module's route key is served under
// its prefix, and which prefixes are refused.
#include "microlith/actors/error.hpp"
#include "microlith/services/code_server.hpp"

#include <catch2/catch.hpp>

#include <string>

using microlith::check_route_prefix;
using microlith::message_of;
using microlith::prefixed_route_key;

TEST_CASE("a module's route is served under its prefix", "[modules][routes]") {
  CHECK(prefixed_route_key("GET /statements/{account_id}", "/clients/acme")
        == "GET /clients/acme/statements/{account_id}");
  CHECK(prefixed_route_key("POST /", "/clients/acme") == "POST /clients/acme");
  CHECK(prefixed_route_key("GET /statements/{account_id}", "") == "GET /statements/{account_id}");
}

TEST_CASE("a well-formed route prefix is accepted", "[modules][routes]") {
  CHECK_FALSE(check_route_prefix(""));
  CHECK_FALSE(check_route_prefix("/clients/acme"));
  CHECK_FALSE(check_route_prefix("/v1.2/a_b-c~d"));
}

TEST_CASE("a malformed route prefix is refused, saying what was expected", "[modules][routes]") {
  auto [prefix, why] = GENERATE(table<std::string, std::string>({
    {"clients/acme", "does not start with '/'"},
    {"/clients/acme/", "ends with '/'"},
    {"/clients//acme", "holds an empty segment"},
    {"/clients/{id}", "holds '{'"},
    {"/clients/a b", "holds ' '"},
    {"/clients/%2e%2e", "holds '%'"},
  }));
  CAPTURE(prefix);
  auto err = check_route_prefix(prefix);
  REQUIRE(err);
  auto text = message_of(err);
  CHECK(text.find(why) != std::string::npos);
  CHECK(text.find("e.g. /clients/acme") != std::string::npos);
}
