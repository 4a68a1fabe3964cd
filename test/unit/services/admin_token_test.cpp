// The admin token (docs/admin.md): the system file's [admin] table, the environment variable
// MICROLITH_ADMIN_TOKEN that wins over it (admin_token_for), check_system refusing a gateway
// group with admin = true while no token is set, and a running system's admin endpoint taking
// the token in force. Each ctest entry runs one test case in its own process, so changing the
// environment here touches no other test.
#include <microlith/actors/error.hpp>
#include <microlith/services/gateway_module.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include "integration/http_client.hpp"
#include "support/temp_folder.hpp"
#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <string>

using namespace system_file_checks;
using Catch::Matchers::Contains;
namespace http = boost::beast::http;

namespace {

const std::string file_token = "file-token-0123456789";
const std::string env_token = "environment-token-0123456789";

// Sets MICROLITH_ADMIN_TOKEN (or unsets it with nullopt) for its lifetime, then restores it.
class admin_variable {
public:
  explicit admin_variable(const std::optional<std::string>& value) {
    if (const char* old = std::getenv("MICROLITH_ADMIN_TOKEN"))
      saved_ = old;
    if (value)
      ::setenv("MICROLITH_ADMIN_TOKEN", value->c_str(), 1);
    else
      ::unsetenv("MICROLITH_ADMIN_TOKEN");
  }
  ~admin_variable() {
    if (saved_)
      ::setenv("MICROLITH_ADMIN_TOKEN", saved_->c_str(), 1);
    else
      ::unsetenv("MICROLITH_ADMIN_TOKEN");
  }
  admin_variable(const admin_variable&) = delete;
  admin_variable& operator=(const admin_variable&) = delete;

private:
  std::optional<std::string> saved_;
};

// The modules of these tests: the built-in ones (the gateway) only.
microlith::module_catalogue& test_modules() {
  static microlith::module_catalogue modules;
  static const bool filled = [] {
    microlith::detail::add_builtin_modules(modules);
    return true;
  }();
  (void)filled;
  return modules;
}

// A gateway group "web" with admin = true (line 7, its value at column 9) listening on a port the
// OS chooses; `rest` follows (line 8 on).
std::string admin_system(const std::string& rest = {}) {
  return "[system]\nname = \"acme\"\nthreads = 2\n"
         "[groups.web]\nmodule = \"microlith.gateway\"\n"
         "[groups.web.http]\nadmin = true\nlisten = \"127.0.0.1:0\"\n"
         + rest;
}

microlith::system_config parse(const std::string& text) {
  return microlith::parse_system_file(text, "inline.toml", test_modules());
}

// The errors check_system reports for `text`.
std::vector<microlith::system_file_error> checked(const std::string& text) {
  return microlith::check_system(parse(text), test_modules());
}

} // namespace

TEST_CASE("the system file's [admin] table holds the admin token", "[unit]") {
  const std::string base = "[system]\nname = \"bank\"\n[groups.ledger]\nmodule = \"bank.ledger\"\n";

  SECTION("read with its line") {
    auto config =
      microlith::parse_system_file(base + "[admin]\ntoken = \"" + file_token + "\"\n", "bank.toml");
    CHECK(config.admin.token == file_token);
    CHECK(config.admin.line == 6);
  }
  SECTION("absent: no token") {
    auto config = microlith::parse_system_file(base, "bank.toml");
    CHECK(config.admin.token.empty());
  }
  SECTION("a short token is refused with file, line, column and key, and not quoted back") {
    auto error = single_error(base + "[admin]\ntoken = \"short-secret\"\n");
    check_error(error, 6, "admin.token", "at least 16 characters");
    CHECK(error.column == 9);
    CHECK_THAT(error.message, Contains("got 12 characters"));
    CHECK(error.to_string().find("short-secret") == std::string::npos);
    CHECK_THAT(error.to_string(), Contains("bank.toml:6:9: admin.token:"));
  }
  SECTION("an empty token is refused") {
    check_single(base + "[admin]\ntoken = \"\"\n", 6, "admin.token", "got 0 characters");
  }
  SECTION("a token a Bearer header cannot carry is refused") {
    check_single(base + "[admin]\ntoken = \"has spaces in it, 16+ chars\"\n", 6, "admin.token",
                 "with others among them");
  }
  SECTION("a token that is not a string is refused") {
    check_single(base + "[admin]\ntoken = 1234567890123456789\n", 6, "admin.token",
                 "expected a string");
  }
  SECTION("unknown keys are refused") {
    check_single(base + "[admin]\ntoken = \"" + file_token + "\"\nusers = 1\n", 7, "admin.users",
                 "unknown key \"users\"; expected one of token");
  }
}

TEST_CASE("MICROLITH_ADMIN_TOKEN wins over [admin] token", "[unit]") {
  auto with_file = microlith::parse_system_file(
    "[system]\nname = \"bank\"\n[groups.ledger]\nmodule = \"bank.ledger\"\n[admin]\ntoken = \""
      + file_token + "\"\n",
    "bank.toml");
  auto without = microlith::parse_system_file(
    "[system]\nname = \"bank\"\n[groups.ledger]\nmodule = \"bank.ledger\"\n", "bank.toml");
  SECTION("unset: the file's") {
    admin_variable unset{std::nullopt};
    CHECK(microlith::admin_token_for(with_file) == file_token);
    CHECK(microlith::admin_token_for(without).empty());
  }
  SECTION("set: the environment's") {
    admin_variable set{env_token};
    CHECK(microlith::admin_token_for(with_file) == env_token);
    CHECK(microlith::admin_token_for(without) == env_token);
  }
  SECTION("set but empty: as if unset") {
    admin_variable empty{std::string{}};
    CHECK(microlith::admin_token_for(with_file) == file_token);
  }
}

TEST_CASE("a gateway with admin = true and no admin token is refused by check", "[unit]") {
  SECTION("neither the file nor the environment: refused at the admin key") {
    admin_variable unset{std::nullopt};
    auto errors = checked(admin_system());
    REQUIRE(errors.size() == 1);
    const auto& e = errors.front();
    INFO(e.to_string());
    CHECK(e.file == "inline.toml");
    CHECK(e.line == 7);
    CHECK(e.column == 9); // the value, as the parser points at values
    CHECK(e.key == "groups.web.http.admin");
    CHECK_THAT(e.message, Contains("[admin] token") && Contains("MICROLITH_ADMIN_TOKEN"));
  }
  SECTION("a token in the file: accepted") {
    admin_variable unset{std::nullopt};
    CHECK(checked(admin_system("[admin]\ntoken = \"" + file_token + "\"\n")).empty());
  }
  SECTION("a token in the environment: accepted") {
    admin_variable set{env_token};
    CHECK(checked(admin_system()).empty());
  }
  SECTION("admin = false needs no token") {
    admin_variable unset{std::nullopt};
    auto text = admin_system();
    text.replace(text.find("admin = true"), 12, "admin = false");
    CHECK(checked(text).empty());
  }
  SECTION("a short token in the environment is refused, without quoting it") {
    admin_variable set{std::string{"tiny"}};
    auto errors = checked(admin_system());
    REQUIRE(errors.size() == 1);
    CHECK(errors.front().key == "MICROLITH_ADMIN_TOKEN");
    CHECK_THAT(errors.front().message, Contains("at least 16 characters"));
    CHECK(errors.front().to_string().find("tiny") == std::string::npos);
  }
  SECTION("a host does not start such a group") {
    admin_variable unset{std::nullopt};
    auto config = parse(admin_system());
    microlith::node n{microlith::node_options_for(config)};
    microlith::host h{n, config, test_modules()};
    auto err = h.start();
    REQUIRE(err);
    CHECK_THAT(microlith::message_of(err), Contains("groups.web.http.admin"));
    CHECK(h.http_port("web") == 0);
    h.stop();
    n.shutdown();
  }
}

TEST_CASE("a gateway with metrics = admin and no admin token is refused by check", "[unit]") {
  admin_variable unset{std::nullopt};
  auto text = admin_system();
  text.replace(text.find("admin = true"), 12, "metrics = \"admin\"");
  auto errors = checked(text);
  REQUIRE(errors.size() == 1);
  const auto& e = errors.front();
  INFO(e.to_string());
  CHECK(e.line == 7);
  CHECK(e.column == 11);
  CHECK(e.key == "groups.web.http.metrics");
  CHECK_THAT(e.message, Contains("[admin] token") && Contains("MICROLITH_ADMIN_TOKEN"));
  CHECK(checked(text + "[admin]\ntoken = \"" + file_token + "\"\n").empty());
  text.replace(text.find("metrics = \"admin\""), 17, "metrics = \"open\"");
  CHECK(checked(text).empty());
}

TEST_CASE("a running system's admin endpoint takes the token in force", "[unit]") {
  test_support::temp_folder folder{"admin"};
  const std::string path = (folder.path() / "acme.toml").string();
  {
    std::ofstream out{path};
    out << admin_system("[admin]\ntoken = \"" + file_token + "\"\n");
  }
  auto reload = [](std::uint16_t port, const std::string& token) {
    bank_test::http_client client{port};
    return client.request(http::verb::post, "/_microlith/reload", {},
                          {{"Authorization", "Bearer " + token}});
  };
  auto run = [&](const std::function<void(std::uint16_t)>& test) {
    auto config = microlith::load_system_file(path, test_modules());
    microlith::node n{microlith::node_options_for(config)};
    microlith::host h{n, config, test_modules()};
    auto err = h.start();
    if (!err) {
      REQUIRE(h.http_port("web") != 0);
      test(h.http_port("web"));
    }
    h.stop();
    n.shutdown();
    REQUIRE_FALSE(err);
  };

  SECTION("the file's token when the environment has none") {
    admin_variable unset{std::nullopt};
    run([&](std::uint16_t port) {
      auto ok = reload(port, file_token);
      CHECK(ok.status == 200);
      CHECK_THAT(ok.body, Contains("\"reloaded\":true") && Contains("\"generation\":2"));
      CHECK(reload(port, env_token).status == 403);
    });
  }
  SECTION("the environment's token wins over the file's") {
    admin_variable set{env_token};
    run([&](std::uint16_t port) {
      CHECK(reload(port, file_token).status == 403);
      auto ok = reload(port, env_token);
      CHECK(ok.status == 200);
      CHECK_THAT(ok.body, Contains("\"generation\":2")); // the reload happened
    });
  }
}
