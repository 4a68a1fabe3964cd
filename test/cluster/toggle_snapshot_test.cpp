// The toggle values a request entered the system with, across nodes (docs/toggles.md, "One
// request sees one snapshot"), with real processes: two nodes of the snapshot probe
// (test/cluster/probe/snapshot_probe_node.cpp, the `microlith` command with a probe module
// linked in), node a running the outer service and b the inner one, each with a gateway that
// serves the admin routes. A request enters a through its gateway; its handler reads demo.flag,
// then waits for a file while the test changes demo.flag through a's admin route (the change's
// answer names b: it is in force there), then calls inner on b, which answers what it sees.
#include "cluster_fixture.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <future>
#include <map>
#include <string>
#include <vector>

using namespace cluster_test;
namespace http = boost::beast::http;
using Catch::Matchers::Contains;

namespace {

const std::string admin_token = "snapshot-cluster-admin-token-0123";
const std::vector<std::string> node_names{"a", "b"};

/// Two nodes: a runs the outer group, b the inner one; both a gateway with the admin routes.
struct probe_cluster {
  temp_folder folder;
  std::map<std::string, std::uint16_t> http_ports{{"a", free_port()}, {"b", free_port()}};
  fs::path file;
  std::map<std::string, std::unique_ptr<process>> nodes;

  probe_cluster() {
    std::string text = "[system]\nname = \"snapcluster\"\nthreads = 4\nlog_level = \"debug\"\n\n"
                       "[admin]\ntoken = \""
                       + admin_token
                       + "\"\n\n[toggles.\"demo.flag\"]\ndefault = false\n"
                         "description = \"the flag the probe reports\"\n\n"
                         "[toggles.\"demo.other\"]\ndefault = false\n"
                         "description = \"another flag\"\n\n"
                         "[groups.outer]\nmodule = \"test.snapshot_probe\"\n\n"
                         "[groups.inner]\nmodule = \"test.snapshot_probe\"\n";
    const std::map<std::string, std::string> runs{{"a", "outer"}, {"b", "inner"}};
    for (const auto& name : node_names) {
      text += fmt::format("\n[groups.{0}_gateway]\nmodule = \"microlith.gateway\"\n"
                          "restart = \"transient\"\n[groups.{0}_gateway.http]\n"
                          "listen = \"127.0.0.1:{1}\"\nadmin = true\nrequest_timeout = \"90s\"\n",
                          name, http_ports.at(name));
      text += fmt::format("\n[nodes.{0}]\nlisten = \"127.0.0.1:{1}\"\n"
                          "groups = [\"{0}_gateway\", \"{2}\"]\n",
                          name, free_port(), runs.at(name));
    }
    text += "\n[cluster]\ncookie = \"snapshot-cluster-cookie\"\n";
    file = write_file(folder.path(), "snapcluster.toml", text);
  }

  /// Starts both nodes and waits until each runs and has exchanged toggle values with the other.
  void start_all() {
    for (const auto& name : node_names)
      nodes[name] = std::make_unique<process>(
        std::vector<std::string>{SNAPSHOT_PROBE_NODE, "run", file.string(), "--node", name},
        folder.path() / (name + ".log"));
    for (const auto& name : node_names) {
      INFO(logs());
      REQUIRE(
        wait_for_log(*nodes.at(name), "node " + name + " of system snapcluster running", 90s));
      REQUIRE(wait_for_log(
        *nodes.at(name),
        "exchanged toggle values with node " + std::string{name == "a" ? "b" : "a"}, 60s));
    }
    INFO(logs());
    REQUIRE(eventually([&] { return gateway_ready(http_ports.at("a")); }, 60s));
  }

  /// `verb target` on node `node`'s gateway, with the admin token (status 0: nothing answered).
  bank_test::http_answer on(const std::string& node, http::verb verb, const std::string& target,
                            const std::string& json = {}) const {
    try {
      http_client client{http_ports.at(node)};
      return client.request(verb, target, json, {{"Authorization", "Bearer " + admin_token}});
    } catch (const std::exception&) {
      return {};
    }
  }

  /// POST /probe/enter on a: the request creates `entered` once it has read demo.flag, and
  /// waits for `wait_for` before its nested call (empty: neither).
  bank_test::http_answer enter(const fs::path& entered = {}, const fs::path& wait_for = {}) const {
    return on(
      "a", http::verb::post, "/probe/enter",
      fmt::format(R"({{"entered":"{}","wait_for":"{}"}})", entered.string(), wait_for.string()));
  }

  /// Sets demo.flag (or another toggle) through a's admin route; requires that both nodes
  /// applied it when the answer came.
  void set(const std::string& query, const std::string& toggle = "demo.flag") const {
    auto answer = on("a", http::verb::post, "/_microlith/toggles/" + toggle + "?" + query);
    INFO(answer.body << logs());
    REQUIRE(answer.status == 200);
    REQUIRE_THAT(answer.body, Contains(R"("applied_on":["a","b"])"));
  }

  /// Node `node`'s count of snapshots from other nodes it did not hold.
  std::uint64_t misses(const std::string& node) const {
    auto list = on(node, http::verb::get, "/_microlith/toggles");
    REQUIRE(list.status == 200);
    const std::string field = "\"snapshot_misses\":";
    auto at = list.body.find(field);
    REQUIRE(at != std::string::npos);
    return std::stoull(list.body.substr(at + field.size()));
  }

  std::string logs() const {
    std::string out;
    for (const auto& [name, p] : nodes)
      out += "--- " + name + "\n" + p->output();
    return out;
  }
};

} // namespace

TEST_CASE("cluster: a nested call on another node sees the toggle values its request entered "
          "with",
          "[cluster]") {
  probe_cluster c;
  c.start_all();
  const auto misses_before = c.misses("b");
  const auto entered = c.folder.path() / "entered";
  const auto go = c.folder.path() / "go";

  // The request enters a with demo.flag off and waits in its handler.
  auto request = std::async(std::launch::async, [&] { return c.enter(entered, go); });
  INFO(c.logs());
  REQUIRE(eventually([&] { return fs::exists(entered); }, 60s));

  // demo.flag on, in force on a and b when the answer comes; a request entering b now sees it.
  c.set("boolean=on");
  auto direct = c.on("b", http::verb::get, "/probe/see");
  REQUIRE(direct.status == 200);
  CHECK_THAT(direct.body, Contains(R"("flag":"on")"));

  // Let the request go on: its handler on a and its nested call on b see what it entered with.
  write_file(c.folder.path(), "go", "go\n");
  auto answer = request.get();
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  CHECK_THAT(answer.body, Contains(R"("outer":"off")"));
  CHECK_THAT(answer.body, Contains(R"("outer_after":"off")"));
  CHECK_THAT(answer.body, Contains(R"("inner":"off")"));

  // A request entered after the change sees the new value on both nodes.
  auto after = c.enter();
  INFO(after.body);
  REQUIRE(after.status == 200);
  CHECK_THAT(after.body, Contains(R"("outer":"on")"));
  CHECK_THAT(after.body, Contains(R"("inner":"on")"));

  // b held every snapshot those requests named.
  CHECK(c.misses("b") == misses_before);
}

TEST_CASE("cluster: a nested call naming a snapshot the other node no longer holds uses that "
          "node's values and is counted",
          "[cluster]") {
  probe_cluster c;
  c.start_all();
  const auto misses_before = c.misses("b");
  const auto entered = c.folder.path() / "entered";
  const auto go = c.folder.path() / "go";

  auto request = std::async(std::launch::async, [&] { return c.enter(entered, go); });
  INFO(c.logs());
  REQUIRE(eventually([&] { return fs::exists(entered); }, 60s));

  // demo.flag on, then 64 other values of demo.other: b publishes 65 snapshots after the one
  // the request entered with, and its ring keeps the last 64.
  c.set("boolean=on");
  for (int percent = 1; percent <= 64; ++percent)
    c.set(fmt::format("percent_actors={}", percent), "demo.other");

  write_file(c.folder.path(), "go", "go\n");
  auto answer = request.get();
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  CHECK_THAT(answer.body, Contains(R"("outer":"off")"));
  CHECK_THAT(answer.body, Contains(R"("outer_after":"off")"));
  // b no longer holds those values: the nested call ran with b's values, and b counted it.
  CHECK_THAT(answer.body, Contains(R"("inner":"on")"));
  CHECK(c.misses("b") == misses_before + 1);
  CHECK(wait_for_log(*c.nodes.at("b"), "is not among the last 64 published on this node", 30s));
}
