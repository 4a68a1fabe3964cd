// Installed modules in a cluster (docs/modules.md, "Modules in a cluster"), with real
// `microlith run --node` processes: three nodes, each with a gateway group of its own and its
// own module store (DIR/NODE); the test greeter module (test/modules) installed through one
// node's admin endpoint by the `microlith modules` command, run by another node, served by every
// node's gateway, caught up by a node started after the install, and failing with
// service_unavailable while the node that runs it is killed, until it restarts.
#include "cluster_fixture.hpp"

#include "test_module_paths.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

using namespace cluster_test;
namespace http = boost::beast::http;
using Catch::Matchers::Contains;

namespace {

const std::string admin_token = "modules-cluster-admin-token-0123";

/// A system of three nodes (web, work, late), each running one gateway group with the admin
/// endpoint on its own port, and a module store under [modules] dir. The gateway of `late` is
/// transient: the others are ready before it starts.
struct module_cluster {
  temp_folder folder;
  std::map<std::string, std::uint16_t> http_ports{
    {"web", free_port()}, {"work", free_port()}, {"late", free_port()}};
  fs::path file;
  std::map<std::string, std::unique_ptr<process>> nodes;

  module_cluster() {
    std::string text = "[system]\nname = \"modcluster\"\nthreads = 2\n\n[admin]\ntoken = \""
                       + admin_token + "\"\n\n[modules]\ndir = \"modules\"\n";
    for (const auto& name : {"web", "work", "late"}) {
      text += fmt::format("\n[groups.{0}_gateway]\nmodule = \"microlith.gateway\"\n{1}"
                          "[groups.{0}_gateway.http]\nlisten = \"127.0.0.1:{2}\"\nadmin = true\n",
                          name, std::string{name} == "late" ? "restart = \"transient\"\n" : "",
                          http_ports.at(name));
      text += fmt::format("\n[nodes.{0}]\nlisten = \"127.0.0.1:{1}\"\ngroups = [\"{0}_gateway\"]\n",
                          name, free_port());
    }
    text += "\n[cluster]\ncookie = \"modules-cluster-cookie\"\n";
    file = write_file(folder.path(), "modcluster.toml", text);
  }

  /// Starts node `name` (again: a new process, its log continuing) and waits until it runs.
  process& start(const std::string& name, int nth = 1) {
    auto& p = nodes[name];
    p = run_node(folder.path(), file, name);
    INFO(logs());
    REQUIRE(wait_for_log(*p, "node " + name + " of system modcluster running", 60s, nth));
    return *p;
  }

  /// Runs `microlith modules ARGS...` with the admin token; answers its exit code and output.
  std::pair<int, std::string> command(const std::vector<std::string>& args) {
    std::vector<std::string> argv{microlith_command(), "modules"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto log = folder.path() / fmt::format("command-{}.log", ++commands_);
    process p{argv, log, {{"MICROLITH_ADMIN_TOKEN", admin_token}}};
    int code = p.wait_exit(120s);
    return {code, p.output()};
  }

  std::string url(const std::string& node) const {
    return fmt::format("http://127.0.0.1:{}", http_ports.at(node));
  }

  /// GET `target` on node `node`'s gateway (status 0 when nothing answers).
  bank_test::http_answer get(const std::string& node, const std::string& target) const {
    try {
      http_client client{http_ports.at(node)};
      return client.request(http::verb::get, target);
    } catch (const std::exception&) {
      return {};
    }
  }

  /// Every node's log, for a failing test's output.
  std::string logs() const {
    std::string out;
    for (const auto& [name, p] : nodes)
      out += "--- " + name + "\n" + p->output();
    return out;
  }

private:
  int commands_ = 0;
};

const std::string greeter_archive = test_modules::greeter_v1.package;

} // namespace

TEST_CASE("cluster: a module installed with --node runs its groups on that node and every "
          "gateway of the system serves its routes",
          "[cluster]") {
  module_cluster c;
  c.start("web");
  c.start("work");

  // Through web's admin endpoint, run by work.
  auto [code, out] = c.command({"install", c.url("web"), greeter_archive, "--route-prefix", "/m",
                                "--activate", "--node", "work"});
  INFO(out << c.logs());
  REQUIRE(code == 0);
  CHECK_THAT(out, Contains("installed test.greeter 1.0.0") && Contains("on node work"));

  // Served by the gateway of the node that received it, and by the one of the node running it.
  for (const auto& node : {"web", "work"}) {
    auto answer = c.get(node, "/m/greet/ada");
    CHECK(answer.status == 200);
    CHECK_THAT(answer.body, Contains("hello ada from 1.0.0"));
  }

  // Its groups run on work only: work loaded it; web serves its routes and did not load it (its
  // log line for serving comes first, so the absence of a load is read after it).
  CHECK(wait_for_log(*c.nodes.at("work"), "test.greeter 1.0.0 loaded", 10s));
  REQUIRE(wait_for_log(*c.nodes.at("web"),
                       "test.greeter 1.0.0 served here: its routes on this node's gateways, its "
                       "groups on node work",
                       10s));
  CHECK_THAT(c.nodes.at("web")->output(), !Contains("test.greeter 1.0.0 loaded"));

  // The registry row names the node that runs it, whichever node is asked.
  for (const auto& node : {"web", "work"}) {
    auto [list_code, list] = c.command({"list", c.url(node)});
    INFO(list);
    CHECK(list_code == 0);
    CHECK_THAT(list, Contains("test.greeter") && Contains("/m") && Contains("work"));
  }

  // Each node keeps its own store, DIR/NODE, with the version in it.
  auto modules = c.folder.path() / "modules";
  CHECK(fs::exists(modules / "web" / "test.greeter" / "1.0.0" / "manifest.toml"));
  CHECK(fs::exists(modules / "work" / "test.greeter" / "1.0.0" / "manifest.toml"));

  // A node started after the install catches up (before it reports running when it reaches
  // another node in time, else once it does), then serves it.
  auto& late = c.start("late");
  CHECK(wait_for_log(late, "node late caught up with node", 20s));
  CHECK(fs::exists(modules / "late" / "test.greeter" / "1.0.0" / "manifest.toml"));
  CHECK(eventually([&] { return c.get("late", "/m/greet/bob").status == 200; }, 20s));
  CHECK_THAT(c.get("late", "/m/greet/bob").body, Contains("hello bob from 1.0.0"));
  CHECK_THAT(late.output(), !Contains("test.greeter 1.0.0 loaded"));
}

TEST_CASE("cluster: installing for a node the system does not have is refused naming its nodes",
          "[cluster]") {
  module_cluster c;
  c.start("web");
  auto [code, out] =
    c.command({"install", c.url("web"), greeter_archive, "--activate", "--node", "nowhere"});
  INFO(out << c.logs());
  CHECK(code == 1);
  CHECK_THAT(out, Contains("node \"nowhere\" is not a node of this system")
                    && Contains("web, work, late"));
  // Nothing was installed.
  auto [list_code, list] = c.command({"list", c.url("web")});
  CHECK(list_code == 0);
  CHECK_THAT(list, Contains("no modules installed"));
}

TEST_CASE("cluster: a module's route answers service_unavailable while the node running it is "
          "killed and serves again once that node restarts",
          "[cluster]") {
  module_cluster c;
  c.start("web");
  c.start("work");
  auto [code, out] = c.command({"install", c.url("web"), greeter_archive, "--route-prefix", "/m",
                                "--activate", "--node", "work"});
  INFO(out << c.logs());
  REQUIRE(code == 0);
  REQUIRE(c.get("web", "/m/greet/ada").status == 200);

  c.nodes.at("work")->kill9();
  // A request that reaches the gateway before web has declared work down goes to work's lost
  // instance and fails with service_down; once it has, service_unavailable. Both are 503.
  bank_test::http_answer failed;
  std::vector<unsigned> statuses;
  CHECK(eventually(
    [&] {
      failed = c.get("web", "/m/greet/ada");
      statuses.push_back(failed.status);
      return failed.body.find("service_unavailable") != std::string::npos;
    },
    20s));
  CHECK(failed.status == 503);
  CHECK_THAT(failed.body, Contains("no instance of service greeter is running"));
  for (auto status : statuses)
    CHECK(status == 503);

  // The restarted node loads it again from its own store, and web's route reaches it.
  auto& work = c.start("work", 2);
  CHECK(wait_for_log(work, "test.greeter 1.0.0 loaded", 10s, 2));
  CHECK(eventually([&] { return c.get("web", "/m/greet/ada").status == 200; }, 20s));
  CHECK_THAT(c.get("web", "/m/greet/ada").body, Contains("hello ada from 1.0.0"));
}

TEST_CASE("cluster: activating a version with --node moves the module to that node and removing "
          "it removes it from every node",
          "[cluster]") {
  module_cluster c;
  c.start("web");
  c.start("work");
  c.start("late");
  auto [code, out] = c.command({"install", c.url("web"), greeter_archive, "--route-prefix", "/m",
                                "--activate", "--node", "work"});
  INFO(out << c.logs());
  REQUIRE(code == 0);
  auto [stored, stored_out] =
    c.command({"install", c.url("work"), test_modules::greeter_v2.package, "--route-prefix", "/m"});
  INFO(stored_out);
  REQUIRE(stored == 0);

  // 2.0.0 run by late replaces 1.0.0 run by work, on every gateway.
  auto [moved, moved_out] =
    c.command({"activate", c.url("web"), "test.greeter", "2.0.0", "--node", "late"});
  INFO(moved_out);
  REQUIRE(moved == 0);
  CHECK_THAT(moved_out, Contains("on node late"));
  for (const auto& node : {"web", "work", "late"})
    CHECK_THAT(c.get(node, "/m/greet/ada").body, Contains("hello ada from 2.0.0"));
  CHECK(wait_for_log(*c.nodes.at("late"), "test.greeter 2.0.0 replaced test.greeter 1.0.0", 10s));
  // work stopped its groups: its 1.0.0 left when 2.0.0 (served from late) replaced it.
  CHECK(wait_for_log(*c.nodes.at("work"), "test.greeter 2.0.0 replaced test.greeter 1.0.0", 10s));
  auto [list_code, list] = c.command({"list", c.url("work")});
  INFO(list);
  CHECK(list_code == 0);
  CHECK_THAT(list, Contains("2.0.0    yes     yes     /m            late"));

  // Removed through late: gone from every node's gateway and store.
  auto [removed, removed_out] = c.command({"remove", c.url("late"), "test.greeter"});
  INFO(removed_out);
  REQUIRE(removed == 0);
  for (const auto& node : {"web", "work", "late"}) {
    CHECK(c.get(node, "/m/greet/ada").status == 404);
    CHECK_FALSE(fs::exists(c.folder.path() / "modules" / node / "test.greeter"));
  }
}
