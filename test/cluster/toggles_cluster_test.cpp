// Toggles across a cluster (docs/toggles.md, "Cluster-wide"), with real `microlith run --node`
// processes: three nodes, each with a gateway group of its own serving the admin routes, and
// the toggles' values kept in memory (so a restarted node has only what the others give it).
// A change made through one node is applied on every node when its answer comes back; a node
// killed meanwhile gets it when it starts again, before it reports running; a frozen node is
// named as not answering, and gets the value once it continues.
#include "cluster_fixture.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace cluster_test;
namespace http = boost::beast::http;
using Catch::Matchers::Contains;

namespace {

const std::string admin_token = "toggles-cluster-admin-token-0123";
const std::vector<std::string> node_names{"a", "b", "c"};

/// The strings of the JSON array `"field":[...]` in `body` (empty when absent).
std::vector<std::string> json_strings(const std::string& body, const std::string& field) {
  std::vector<std::string> out;
  auto at = body.find("\"" + field + "\":[");
  if (at == std::string::npos)
    return out;
  auto end = body.find(']', at);
  auto list = body.substr(at + field.size() + 4, end - at - field.size() - 4);
  for (std::size_t from = 0; (from = list.find('"', from)) != std::string::npos;) {
    auto close = list.find('"', from + 1);
    out.push_back(list.substr(from + 1, close - from - 1));
    from = close + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// The nodes a change's answer names in not_answered.
std::vector<std::string> not_answered(const std::string& body) {
  std::vector<std::string> out;
  auto at = body.find("\"not_answered\":[");
  if (at == std::string::npos)
    return out;
  auto end = body.find(']', at);
  auto list = body.substr(at, end - at);
  for (std::size_t from = 0; (from = list.find("\"node\":\"", from)) != std::string::npos;) {
    from += 8;
    out.push_back(list.substr(from, list.find('"', from) - from));
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// A system of three nodes (a, b, c), each running one gateway group with the admin endpoint on
/// its own port, and two declared toggles.
struct toggle_cluster {
  temp_folder folder;
  std::map<std::string, std::uint16_t> http_ports{
    {"a", free_port()}, {"b", free_port()}, {"c", free_port()}};
  fs::path file;
  std::map<std::string, std::unique_ptr<process>> nodes;

  toggle_cluster() {
    std::string text = "[system]\nname = \"togcluster\"\nthreads = 2\n\n[admin]\ntoken = \""
                       + admin_token
                       + "\"\n\n[toggles.\"demo.flag\"]\ndefault = false\n"
                         "description = \"a flag\"\n\n[toggles.\"demo.other\"]\n"
                         "default = false\ndescription = \"another flag\"\n";
    for (const auto& name : node_names) {
      text += fmt::format("\n[groups.{0}_gateway]\nmodule = \"microlith.gateway\"\n"
                          "restart = \"transient\"\n[groups.{0}_gateway.http]\n"
                          "listen = \"127.0.0.1:{1}\"\nadmin = true\n",
                          name, http_ports.at(name));
      text += fmt::format("\n[nodes.{0}]\nlisten = \"127.0.0.1:{1}\"\ngroups = [\"{0}_gateway\"]\n",
                          name, free_port());
    }
    text += "\n[cluster]\ncookie = \"toggles-cluster-cookie\"\n";
    file = write_file(folder.path(), "togcluster.toml", text);
  }

  /// Starts node `name` (again: a new process, its log continuing) and waits until it runs.
  process& start(const std::string& name, int nth = 1) {
    auto& p = nodes[name];
    p = run_node(folder.path(), file, name);
    INFO(logs());
    REQUIRE(wait_for_log(*p, "node " + name + " of system togcluster running", 60s, nth));
    return *p;
  }

  /// Starts the three nodes and waits until each has exchanged toggle values with the two
  /// others (each reaches the others' replica services).
  void start_all() {
    for (const auto& name : node_names)
      start(name);
    for (const auto& name : node_names)
      for (const auto& other : node_names) {
        if (other == name)
          continue;
        INFO(logs());
        REQUIRE(wait_for_log(*nodes.at(name), "exchanged toggle values with node " + other, 60s));
      }
  }

  /// `verb target` on node `node`'s gateway with the admin token (status 0: nothing answered).
  bank_test::http_answer admin(const std::string& node, http::verb verb,
                               const std::string& target) const {
    try {
      http_client client{http_ports.at(node)};
      return client.request(verb, target, {}, {{"Authorization", "Bearer " + admin_token}});
    } catch (const std::exception&) {
      return {};
    }
  }

  /// The toggle `name` as node `node` holds it (its JSON).
  bank_test::http_answer get(const std::string& node, const std::string& name) const {
    return admin(node, http::verb::get, "/_microlith/toggles/" + name);
  }

  /// Runs `microlith toggle ARGS...` with the admin token; answers its exit code and output.
  std::pair<int, std::string> command(const std::vector<std::string>& args) {
    std::vector<std::string> argv{microlith_command(), "toggle"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto log = folder.path() / fmt::format("command-{}.log", ++commands_);
    process p{argv, log, {{"MICROLITH_ADMIN_TOKEN", admin_token}}};
    int code = p.wait_exit(120s);
    return {code, p.output()};
  }

  std::string url(const std::string& node) const {
    return fmt::format("http://127.0.0.1:{}", http_ports.at(node));
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

const std::string flag_on = "\"boolean\":true";

} // namespace

TEST_CASE("cluster: toggles set through one node are applied on every node when the set "
          "answers",
          "[cluster]") {
  toggle_cluster c;
  c.start_all();

  // Through a's admin endpoint: the answer names the three nodes, and b and c hold it already.
  auto set = c.admin("a", http::verb::post, "/_microlith/toggles/demo.flag?boolean=on");
  INFO(set.body << c.logs());
  REQUIRE(set.status == 200);
  CHECK(json_strings(set.body, "applied_on") == node_names);
  CHECK(not_answered(set.body).empty());
  for (const auto& node : {"b", "c"}) {
    auto there = c.get(node, "demo.flag");
    CHECK(there.status == 200);
    CHECK_THAT(there.body, Contains(flag_on));
  }

  // The command prints where it is applied.
  auto [code, out] = c.command({"set", c.url("b"), "demo.other", "on", "--actors", "ada,bob"});
  INFO(out);
  REQUIRE(code == 0);
  CHECK_THAT(out, Contains("demo.other: on, actors ada,bob"));
  CHECK_THAT(out, Contains("applied on: b, "));
  for (const auto& node : {"a", "c"})
    CHECK_THAT(c.get(node, "demo.other").body, Contains("\"ada\":true"));

  // A group's members too.
  auto group = c.admin("c", http::verb::post, "/_microlith/toggles/_groups/staff?keys=ada,eve");
  REQUIRE(group.status == 200);
  CHECK(json_strings(group.body, "applied_on") == node_names);
  for (const auto& node : {"a", "b"})
    CHECK_THAT(c.admin(node, http::verb::get, "/_microlith/toggles").body,
               Contains("\"staff\":{\"keys\":[\"ada\",\"eve\"]}"));

  // Two nodes changing toggles at the same moment each answer the other's push: both answers
  // name the three nodes, and every node ends with both changes.
  bank_test::http_answer from_a, from_b;
  std::thread ta{
    [&] { from_a = c.admin("a", http::verb::post, "/_microlith/toggles/demo.flag?boolean=off"); }};
  std::thread tb{
    [&] { from_b = c.admin("b", http::verb::post, "/_microlith/toggles/demo.other?boolean=off"); }};
  ta.join();
  tb.join();
  INFO(from_a.body << "\n" << from_b.body);
  CHECK(json_strings(from_a.body, "applied_on") == node_names);
  CHECK(json_strings(from_b.body, "applied_on") == node_names);
  for (const auto& node : node_names) {
    CHECK_THAT(c.get(node, "demo.flag").body, Contains("\"boolean\":false"));
    CHECK_THAT(c.get(node, "demo.other").body, Contains("\"boolean\":false"));
  }
}

TEST_CASE("cluster: a toggle node killed and restarted has the values set meanwhile when it runs",
          "[cluster]") {
  toggle_cluster c;
  c.start_all();
  c.nodes.at("c")->kill9();

  auto set = c.admin("a", http::verb::post, "/_microlith/toggles/demo.flag?boolean=on");
  INFO(set.body << c.logs());
  REQUIRE(set.status == 200);
  CHECK(json_strings(set.body, "applied_on") == std::vector<std::string>{"a", "b"});
  CHECK(not_answered(set.body) == std::vector<std::string>{"c"});
  auto group = c.admin("b", http::verb::post, "/_microlith/toggles/_groups/staff?keys=ada");
  REQUIRE(group.status == 200);

  // Its values were in memory: what it holds now came from a or b before it reported running.
  c.start("c", 2);
  auto there = c.get("c", "demo.flag");
  INFO(there.body);
  CHECK(there.status == 200);
  CHECK_THAT(there.body, Contains(flag_on));
  CHECK_THAT(c.admin("c", http::verb::get, "/_microlith/toggles").body,
             Contains("\"staff\":{\"keys\":[\"ada\"]}"));
}

TEST_CASE("cluster: a frozen toggle node is named as not answering and has the value once it "
          "continues",
          "[cluster]") {
  toggle_cluster c;
  c.start_all();
  REQUIRE(c.nodes.at("c")->freeze());

  auto set = c.admin("a", http::verb::post, "/_microlith/toggles/demo.flag?boolean=on");
  INFO(set.body << c.logs());
  REQUIRE(set.status == 200);
  CHECK(json_strings(set.body, "applied_on") == std::vector<std::string>{"a", "b"});
  CHECK(not_answered(set.body) == std::vector<std::string>{"c"});
  CHECK_THAT(c.get("b", "demo.flag").body, Contains(flag_on));

  c.nodes.at("c")->signal(SIGCONT);
  CHECK(eventually([&] { return c.get("c", "demo.flag").body.find(flag_on) != std::string::npos; },
                   30s));
}
