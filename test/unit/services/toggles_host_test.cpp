// Toggles in a running host (services/src/toggles/, docs/toggles.md): declared by a module and
// by the system file, saved in a real SQLite file in a temp folder and in force again after a
// restart before the groups start, every change audited, the admin routes behind the token on a
// real gateway socket, and the refusals at start.
#include "integration/http_client.hpp"
#include "proto/microlith_toggles.pb.h"
#include "proto/test.pb.h"
#include "support/temp_folder.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

namespace {

namespace pb = microlith::toggles::v1;
namespace http = boost::beast::http;
using Catch::Matchers::Contains;

const std::string admin_token = "toggles-test-admin-token-0123456789";

bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// Echo.Ping of the module's service: answers what "test.flag" was when the instance was built
// (text) and what it is for the request (value 1 on, 0 off).
struct flags_state {
  explicit flags_state(microlith::call_context& ctx) : at_start_(ctx.enabled("test.flag")) {}
  microlith::reply<microlith::test::PingReply> ping(microlith::call_context& ctx,
                                                    const microlith::test::PingRequest&) {
    microlith::test::PingReply r;
    r.set_text(at_start_ ? "on" : "off");
    r.set_value(ctx.enabled("test.flag") ? 1 : 0);
    return r;
  }
  bool at_start_;
};

// A catalogue with the gateway and "test.flags", whose group "flags" runs the service "flags"
// and declares "test.flag" (default off); with `careless`, the service also checks a toggle
// nobody declares.
void fill(microlith::module_catalogue& cat, bool careless = false) {
  microlith::detail::add_builtin_modules(cat);
  cat.add(microlith::module_definition{"test.flags"}
            .toggle("test.flag", false, "a flag the tests flip")
            .group("flags", [careless](microlith::group_context& g) {
              auto def = microlith::service<flags_state>("flags", "microlith.test.Echo")
                           .handle("Ping", &flags_state::ping)
                           .checks_toggles({"test.flag"});
              if (careless)
                def.checks_toggles({"test.forgotten"});
              return microlith::children{g.service(def)};
            }));
}

std::string system_text(const std::string& toggles_table) {
  return "[system]\nname = \"toggles-test\"\nthreads = 2\n[admin]\ntoken = \"" + admin_token
         + "\"\n" + toggles_table
         + "[groups.flags]\nmodule = \"test.flags\"\n"
           "[groups.web]\nmodule = \"microlith.gateway\"\nneeds = [\"flags\"]\n"
           "[groups.web.http]\nadmin = true\nlisten = \"127.0.0.1:0\"\n";
}

const std::string with_database = "[toggles]\ndatabase = \"toggles.db\"\n"
                                  "[toggles.\"test.from_file\"]\ndefault = true\n"
                                  "description = \"declared in the file\"\n";

struct running {
  running(const std::filesystem::path& dir, const std::string& toggles_table,
          const microlith::module_catalogue& cat)
    : config(microlith::parse_system_file(system_text(toggles_table),
                                          (dir / "system.toml").string(), cat)),
      h(n, config, cat) {}

  caf::error start() { return h.start(); }

  std::uint16_t port() {
    REQUIRE(eventually([&] { return h.http_port("web") != 0; }));
    return h.http_port("web");
  }

  bank_test::http_answer request(http::verb verb, const std::string& target, bool token = true) {
    bank_test::http_client c{port()};
    if (!token)
      return c.request(verb, target);
    return c.request(verb, target, {}, {{"Authorization", "Bearer " + admin_token}});
  }

  microlith::test::PingReply ping() {
    auto r = n.call<microlith::test::PingReply>("flags", "Ping", microlith::test::PingRequest{});
    REQUIRE(r);
    return *r;
  }

  microlith::system_config config;
  microlith::node n{microlith::node_options{}};
  microlith::host h;
};

pb::SetRequest turn(const std::string& name, const std::string& value) {
  pb::SetRequest r;
  r.set_name(name);
  r.set_boolean(value);
  return r;
}

} // namespace

TEST_CASE("toggles declared by a module and by the file are listed and checked", "[unit]") {
  test_support::temp_folder dir{"toggles"};
  microlith::module_catalogue cat;
  fill(cat);
  running sys{dir.path(), with_database, cat};
  REQUIRE_FALSE(sys.start());
  auto all = sys.n.call<pb::ToggleList>("toggles", "List", pb::ListRequest{});
  REQUIRE(all);
  REQUIRE(all->toggles_size() == 2);
  CHECK(all->toggles(0).name() == "test.flag");
  CHECK(all->toggles(0).declared_by() == "module test.flags");
  CHECK_FALSE(all->toggles(0).gates().boolean());
  CHECK(all->toggles(1).name() == "test.from_file");
  CHECK(all->toggles(1).declared_by() == "system file");
  CHECK(all->toggles(1).default_value());
  CHECK(sys.n.toggles()->enabled("test.from_file"));
  CHECK(sys.ping().value() == 0);
  auto set = sys.n.call<pb::Toggle>("toggles", "Set", turn("test.flag", "on"));
  REQUIRE(set);
  CHECK(set->gates().boolean());
  CHECK(sys.ping().value() == 1);
}

TEST_CASE("saved toggle values are in force after a restart before the groups start", "[unit]") {
  test_support::temp_folder dir{"toggles"};
  microlith::module_catalogue cat;
  fill(cat);
  {
    running sys{dir.path(), with_database, cat};
    REQUIRE_FALSE(sys.start());
    CHECK(sys.ping().text() == "off");
    pb::SetRequest req = turn("test.flag", "on");
    req.set_set_actors(true);
    req.add_actors("alice");
    req.set_set_percent_actors(true);
    req.set_percent_actors(40);
    REQUIRE(sys.n.call<pb::Toggle>("toggles", "Set", req));
    REQUIRE(sys.n.call<pb::Toggle>("toggles", "Set", turn("test.from_file", "off")));
  }
  CHECK(std::filesystem::exists(dir.path() / "toggles.db"));
  running again{dir.path(), with_database, cat};
  REQUIRE_FALSE(again.start());
  // The service's state was built with the saved value in force.
  CHECK(again.ping().text() == "on");
  auto flag = again.n.call<pb::Toggle>("toggles", "Get", [] {
    pb::GetRequest r;
    r.set_name("test.flag");
    return r;
  }());
  REQUIRE(flag);
  CHECK(flag->gates().boolean());
  CHECK(flag->gates().actors().at("alice"));
  CHECK(flag->gates().percent_actors() == 40);
  CHECK_FALSE(again.n.toggles()->enabled("test.from_file"));
}

TEST_CASE("every toggle change is audited with who and when and the old and new value", "[unit]") {
  test_support::temp_folder dir{"toggles"};
  microlith::module_catalogue cat;
  fill(cat);
  running sys{dir.path(), with_database, cat};
  REQUIRE_FALSE(sys.start());
  auto before = std::chrono::system_clock::now();
  REQUIRE(sys.n.call<pb::Toggle>("toggles", "Set", turn("test.flag", "on")));
  auto by_admin = sys.request(http::verb::post, "/_microlith/toggles/test.flag?actors=bob,carol");
  REQUIRE(by_admin.status == 200);
  auto history = sys.n.call<pb::ChangeList>("toggles", "History", pb::HistoryRequest{});
  REQUIRE(history);
  REQUIRE(history->changes_size() == 2);
  const auto& last = history->changes(0);
  CHECK(last.who() == "admin");
  CHECK(last.name() == "test.flag");
  CHECK(last.old_value() == "on");
  CHECK(last.new_value() == "on, actors bob,carol");
  const auto& first = history->changes(1);
  CHECK(first.who() == "code");
  CHECK(first.old_value() == "off");
  CHECK(first.new_value() == "on");
  auto since = std::chrono::duration_cast<std::chrono::seconds>(before.time_since_epoch()).count();
  CHECK(first.at() >= since);
  CHECK(first.at() <= since + 60);
}

TEST_CASE("the toggles admin routes answer only with the admin token", "[unit]") {
  test_support::temp_folder dir{"toggles"};
  microlith::module_catalogue cat;
  fill(cat);
  running sys{dir.path(), with_database, cat};
  REQUIRE_FALSE(sys.start());
  SECTION("without it: 401 for each route, and nothing changes") {
    CHECK(sys.request(http::verb::get, "/_microlith/toggles", false).status == 401);
    CHECK(sys.request(http::verb::get, "/_microlith/toggles/test.flag", false).status == 401);
    CHECK(sys.request(http::verb::post, "/_microlith/toggles/test.flag?boolean=on", false).status
          == 401);
    CHECK(sys.request(http::verb::get, "/_microlith/toggles/_history", false).status == 401);
    CHECK_FALSE(sys.n.toggles()->enabled("test.flag"));
  }
  SECTION("with it: list, set, get and history") {
    auto list = sys.request(http::verb::get, "/_microlith/toggles");
    REQUIRE(list.status == 200);
    CHECK_THAT(list.body, Contains("\"name\":\"test.flag\""));
    auto set = sys.request(http::verb::post, "/_microlith/toggles/test.flag?boolean=on");
    REQUIRE(set.status == 200);
    CHECK(sys.n.toggles()->enabled("test.flag"));
    auto get = sys.request(http::verb::get, "/_microlith/toggles/test.flag");
    REQUIRE(get.status == 200);
    CHECK_THAT(get.body, Contains("\"boolean\":true"));
    auto history = sys.request(http::verb::get, "/_microlith/toggles/_history?name=test.flag");
    REQUIRE(history.status == 200);
    CHECK_THAT(history.body, Contains("\"who\":\"admin\""));
  }
  SECTION("with it: an undeclared name is 404 and a bad value 400, naming the problem") {
    auto unknown = sys.request(http::verb::post, "/_microlith/toggles/test.nope?boolean=on");
    CHECK(unknown.status == 404);
    CHECK_THAT(unknown.body, Contains("toggle \\\"test.nope\\\" is not declared"));
    auto bad = sys.request(http::verb::post, "/_microlith/toggles/test.flag?percent_actors=101");
    CHECK(bad.status == 400);
    CHECK_THAT(bad.body, Contains("percent_actors"));
    auto nothing = sys.request(http::verb::post, "/_microlith/toggles/test.flag");
    CHECK(nothing.status == 400);
    CHECK_THAT(nothing.body, Contains("nothing to change"));
  }
}

TEST_CASE("a toggle database that cannot be used stops the start naming the file", "[unit]") {
  test_support::temp_folder dir{"toggles"};
  microlith::module_catalogue cat;
  fill(cat);
  SECTION("a file that is not a database") {
    std::ofstream{dir.path() / "toggles.db"} << "this is not a SQLite database, not at all; "
                                                "it is long enough to have a header to read.\n";
    running sys{dir.path(), with_database, cat};
    auto err = sys.start();
    REQUIRE(err);
    CHECK_THAT(microlith::describe(err),
               Contains((dir.path() / "toggles.db").string()) && Contains("not a database"));
    CHECK(sys.h.running_groups().empty());
  }
  SECTION("a file in a folder that does not exist") {
    running sys{dir.path(), "[toggles]\ndatabase = \"missing/toggles.db\"\n", cat};
    auto err = sys.start();
    REQUIRE(err);
    CHECK_THAT(microlith::describe(err), Contains((dir.path() / "missing/toggles.db").string()));
    CHECK(sys.h.running_groups().empty());
  }
}

TEST_CASE("a group whose service checks an undeclared toggle does not start", "[unit]") {
  test_support::temp_folder dir{"toggles"};
  microlith::module_catalogue cat;
  fill(cat, true);
  running sys{dir.path(), "", cat};
  auto err = sys.start();
  REQUIRE(err);
  CHECK_THAT(microlith::describe(err), Contains("flags checks toggle \"test.forgotten\", which is "
                                                "not declared"));
}
