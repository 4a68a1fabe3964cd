// Routes a module declares in code (module_definition::route): the gateway groups of a system
// whose groups use the module serve them beside their file's [routes], start after the module's
// groups (in one process and across nodes), refuse a route that collides with another naming
// both origins, and keep them through a reload; a malformed one is reported by check_system with
// the module, the route and what was expected. Real actors, real sockets on 127.0.0.1 with ports
// the OS chooses.
#include <microlith/actors/error.hpp>
#include <microlith/services/gateway_module.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include "integration/http_client.hpp"
#include "proto/test.pb.h"
#include "support/free_port.hpp"
#include "support/log_capture.hpp"

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

namespace pb = microlith::test;
namespace http = boost::beast::http;

// A service answering microlith.test.Echo's Ping with its name and the request's text.
class named_echo {
public:
  explicit named_echo(std::string name) : name_(std::move(name)) {}

  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest& req) {
    pb::PingReply out;
    out.set_text(name_ + ":" + req.text());
    return out;
  }

private:
  std::string name_;
};

// A group whose one child is the Echo service `service`.
microlith::group_builder echo_group(std::string service) {
  return [service](microlith::group_context& g) {
    return microlith::children{
      g.service(microlith::service<named_echo>(service, "microlith.test.Echo", service)
                  .handle("Ping", &named_echo::ping))};
  };
}

// The modules of these tests, apart from the program's (a malformed route in the global
// catalogue would make every system of the test program invalid):
//   acme.statements: group statements (service statements), route GET /statements/{text};
//   acme.reports:    group reports (service reports), route GET /reports/{text};
//   acme.clash:      group clash (service clash), route GET /statements/{value}, the same
//                    requests as acme.statements' route;
//   acme.broken:     group broken, a route whose path does not start with '/';
//   acme.plain:      group plain (service plain), no routes.
microlith::module_catalogue& test_modules() {
  static microlith::module_catalogue modules;
  static const bool filled = [] {
    microlith::detail::add_builtin_modules(modules);
    modules.add(microlith::module_definition{"acme.statements"}
                  .group("statements", echo_group("statements"))
                  .route("GET /statements/{text}", "statements.Ping"));
    modules.add(microlith::module_definition{"acme.reports"}
                  .group("reports", echo_group("reports"))
                  .route("GET /reports/{text}", "reports.Ping"));
    modules.add(microlith::module_definition{"acme.clash"}
                  .group("clash", echo_group("clash"))
                  .route("GET /statements/{value}", "clash.Ping"));
    modules.add(microlith::module_definition{"acme.broken"}
                  .group("broken", echo_group("broken"))
                  .route("GET /broken/{text}", "broken.Ping")
                  .route("GET broken", "broken.Ping"));
    modules.add(microlith::module_definition{"acme.plain"}.group("plain", echo_group("plain")));
    return true;
  }();
  (void)filled;
  return modules;
}

microlith::system_config parse(const std::string& text) {
  return microlith::parse_system_file(text, "inline.toml", test_modules());
}

// "[system]" and a gateway group "web" listening on a port the OS chooses, with `routes` as its
// [routes] table (lines 1-7; with routes, the table's header is line 8 and its first route line
// 9); `groups` follow.
std::string system_with(const std::string& groups, const std::string& routes = {}) {
  return "[system]\nname = \"acme\"\nthreads = 2\n"
         "[groups.web]\nmodule = \"microlith.gateway\"\n"
         "[groups.web.http]\nlisten = \"127.0.0.1:0\"\n"
         + (routes.empty() ? std::string{} : "[groups.web.routes]\n" + routes) + groups;
}

const std::string statements_group = "[groups.statements]\nmodule = \"acme.statements\"\n";

// GET `target` on 127.0.0.1:`port`: the status and body.
bank_test::http_answer get(std::uint16_t port, const std::string& target) {
  bank_test::http_client client{port};
  return client.request(http::verb::get, target);
}

using test_support::free_port;

// A system run in one process by a host using the test modules.
struct running_system {
  microlith::node node;
  microlith::host host;

  explicit running_system(const microlith::system_config& config)
    : node(microlith::node_options_for(config)), host(node, config, test_modules()) {}

  ~running_system() {
    host.stop();
    node.shutdown();
  }
};

// The lines check_system reports, as text.
std::vector<std::string> check_lines(const microlith::system_config& config) {
  std::vector<std::string> out;
  for (const auto& e : microlith::check_system(config, test_modules()))
    out.push_back(e.to_string());
  return out;
}

} // namespace

TEST_CASE("the parser hands the routes modules declare to the gateway group, which starts after "
          "their groups",
          "[unit][routes]") {
  // The gateway comes first in the file and names no needs.
  auto config = parse(system_with(statements_group
                                  + "[groups.plain]\nmodule = \"acme.plain\"\n"
                                    "[groups.reports]\nmodule = \"acme.reports\"\n"
                                    "[groups.more]\nmodule = \"acme.statements\"\n"));
  const auto* web = config.find_group("web");
  REQUIRE(web != nullptr);
  CHECK(web->needs.empty());
  CHECK(web->route_needs == std::vector<std::string>{"statements", "reports", "more"});
  REQUIRE(web->module_routes.size() == 2); // acme.statements once, though two groups use it
  CHECK(web->module_routes[0].module == "acme.statements");
  CHECK(web->module_routes[0].spec.to_string() == "GET /statements/{text} -> statements.Ping");
  CHECK(web->module_routes[0].spec.origin == "module acme.statements");
  CHECK(web->module_routes[1].module == "acme.reports");
  CHECK(config.find_group("statements")->module_routes.empty());
  CHECK(config.find_group("statements")->route_needs.empty());
  std::vector<std::string> order;
  for (const auto* g : config.start_order())
    order.push_back(g->name);
  CHECK(order == std::vector<std::string>{"statements", "plain", "reports", "more", "web"});

  SECTION("the gateway describes the module routes with their origin, counted with its own") {
    auto described = test_modules().find("microlith.gateway")->describe_group(*web, nullptr);
    CHECK(described
          == std::vector<std::string>{
            "gateway web: listens on 127.0.0.1:0 (2 routes, WebSocket /ws)",
            "  GET /statements/{text} -> statements.Ping  (module acme.statements)",
            "  GET /reports/{text} -> reports.Ping  (module acme.reports)"});
  }
  SECTION("a route group that needs the gateway closes a cycle, reported with the reason") {
    try {
      parse(system_with("[groups.statements]\nmodule = \"acme.statements\"\nneeds = [\"web\"]\n"));
      FAIL("the cycle was not reported");
    } catch (const microlith::system_file_errors& e) {
      REQUIRE(e.errors().size() == 1);
      CHECK_THAT(e.errors()[0].message, Contains("dependency cycle: ")
                                          && Contains("web starts after statements because "
                                                      "it serves the routes module "
                                                      "acme.statements declares"));
    }
  }
}

TEST_CASE("a route a module declares in code is served by the system's gateway", "[unit][routes]") {
  // The file's needs do not name statements, and the gateway comes first in the file.
  auto config =
    parse(system_with(statements_group, "\"GET /echo/{text}\" = \"statements.Ping\"\n"));
  REQUIRE(check_lines(config).empty());
  test_support::log_capture log;
  running_system sys{config};
  REQUIRE_FALSE(sys.host.start());
  // The gateway started after the group whose module declares its route.
  CHECK(sys.host.running_groups() == std::vector<std::string>{"statements", "web"});
  CHECK(log.text().find("starting group statements") < log.text().find("starting group web"));
  const auto port = sys.host.http_port("web");
  REQUIRE(port != 0);
  auto module_route = get(port, "/statements/ada");
  CHECK(module_route.status == 200);
  CHECK_THAT(module_route.body, Contains(R"("text":"statements:ada")"));
  auto file_route = get(port, "/echo/bob");
  CHECK(file_route.status == 200);
  CHECK_THAT(file_route.body, Contains(R"("text":"statements:bob")"));
  // What `microlith run` prints: the bound port, both routes, the module route with its origin.
  const microlith::group_status status{port};
  auto described =
    test_modules().find("microlith.gateway")->describe_group(*config.find_group("web"), &status);
  REQUIRE(described.size() == 3);
  CHECK_THAT(described[0], Contains("(2 routes"));
  CHECK(described[1] == "  GET /echo/{text} -> statements.Ping");
  CHECK(described[2] == "  GET /statements/{text} -> statements.Ping  (module acme.statements)");
}

TEST_CASE("a malformed route a module declares is reported with the module, the route and what "
          "was expected",
          "[unit][routes]") {
  auto config = parse(system_with("[groups.broken]\nmodule = \"acme.broken\"\n"));
  auto lines = check_lines(config);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]
        == "inline.toml:9: groups.broken.module: module acme.broken declares a malformed route "
           "\"GET broken\" = \"broken.Ping\" in its code: the path \"broken\" must start with '/'");
  // Its well-formed route is still one of the gateway's.
  CHECK(config.find_group("web")->module_routes.size() == 1);
  // A system that does not use the module is not concerned.
  CHECK(check_lines(parse(system_with(statements_group))).empty());
  // The host refuses to start it, and nothing starts.
  running_system sys{config};
  auto err = sys.host.start();
  REQUIRE(err);
  CHECK_THAT(microlith::message_of(err), Contains("module acme.broken declares a malformed route"));
  CHECK(sys.host.running_groups().empty());
}

TEST_CASE("a module route that collides with another route is refused naming both origins",
          "[unit][routes]") {
  SECTION("with a route of the file") {
    // The file's route is on line 9.
    auto config =
      parse(system_with(statements_group, "\"GET /statements/{value}\" = \"statements.Ping\"\n"));
    running_system sys{config};
    auto err = sys.host.start();
    REQUIRE(err);
    CHECK_THAT(microlith::message_of(err),
               Contains("GET /statements/{text} -> statements.Ping (module acme.statements): "
                        "matches the same requests as GET /statements/{value} -> "
                        "statements.Ping (inline.toml:9)"));
    CHECK(sys.host.running_groups().empty());
  }
  SECTION("with another module's route") {
    auto config =
      parse(system_with(statements_group + "[groups.clash]\nmodule = \"acme.clash\"\n"));
    running_system sys{config};
    auto err = sys.host.start();
    REQUIRE(err);
    CHECK_THAT(microlith::message_of(err),
               Contains("GET /statements/{value} -> clash.Ping (module acme.clash): matches the "
                        "same requests as GET /statements/{text} -> statements.Ping (module "
                        "acme.statements)"));
  }
}

TEST_CASE("the module routes are still served after a reload that changes the file's routes",
          "[unit][routes]") {
  auto config =
    parse(system_with(statements_group, "\"GET /ping/{text}\" = \"statements.Ping\"\n"));
  running_system sys{config};
  REQUIRE_FALSE(sys.host.start());
  const auto port = sys.host.http_port("web");
  REQUIRE(port != 0);
  REQUIRE(get(port, "/ping/a").status == 200);
  REQUIRE(get(port, "/statements/a").status == 200);

  auto next = parse(system_with(statements_group, "\"GET /echo/{text}\" = \"statements.Ping\"\n"));
  REQUIRE_FALSE(sys.host.reload(next));
  CHECK(get(port, "/ping/a").status == 404);
  CHECK(get(port, "/echo/a").status == 200);
  auto module_route = get(port, "/statements/b");
  CHECK(module_route.status == 200);
  CHECK_THAT(module_route.body, Contains(R"("text":"statements:b")"));

  SECTION("a reload whose file route collides with a module route is refused") {
    auto clashing =
      parse(system_with(statements_group, "\"GET /statements/{value}\" = \"statements.Ping\"\n"));
    auto err = sys.host.reload(clashing);
    REQUIRE(err);
    CHECK_THAT(microlith::message_of(err),
               Contains("(module acme.statements)") && Contains("(inline.toml:9)"));
    CHECK(get(port, "/echo/a").status == 200); // the table before stays
  }
}

TEST_CASE("across nodes, the gateway waits for the group whose module declares its routes",
          "[unit][routes]") {
  // web on node one, statements on node two; web's needs do not name statements.
  auto port = [] { return std::to_string(free_port()); };
  auto config =
    parse(system_with(statements_group + "[nodes.one]\nlisten = \"127.0.0.1:" + port()
                      + "\"\ngroups = [\"web\"]\n[nodes.two]\nlisten = \"127.0.0.1:" + port()
                      + "\"\ngroups = [\"statements\"]\n[cluster]\ncookie = "
                        "\"routes\"\n"));
  test_support::log_capture log;
  microlith::node one_node{microlith::node_options_for(config, "one")};
  microlith::host one{one_node, config, test_modules(), "one"};
  auto started = std::async(std::launch::async, [&] { return one.start(); });
  // Should a check below fail while start() still waits, end the wait before the future's
  // destructor waits for it.
  struct end_wait {
    microlith::host& h;
    ~end_wait() { h.request_stop(); }
  } guard{one};
  // Node one waits for statements instead of starting its gateway without the route's service.
  REQUIRE(log.wait_for("group web waits for group(s) statements on other nodes"));
  CHECK(started.wait_for(0s) == std::future_status::timeout);
  CHECK(one.running_groups().empty());

  {
    microlith::node two_node{microlith::node_options_for(config, "two")};
    microlith::host two{two_node, config, test_modules(), "two"};
    REQUIRE_FALSE(two.start());
    REQUIRE(started.wait_for(10s) == std::future_status::ready);
    REQUIRE_FALSE(started.get());
    CHECK(one.running_groups() == std::vector<std::string>{"web"});
    // Node one's gateway serves the module's route, answered by node two's service.
    const auto http_port = one.http_port("web");
    REQUIRE(http_port != 0);
    auto answer = get(http_port, "/statements/ada");
    CHECK(answer.status == 200);
    CHECK_THAT(answer.body, Contains(R"("text":"statements:ada")"));
    one.stop();
    two.stop();
    two_node.shutdown();
  }
}
