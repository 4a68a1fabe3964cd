// What `microlith run` prints for a person, checked on real processes: the gateway's URL with the
// port it bound (also when the file says port 0), and the supervision tree (`--print-tree`,
// `kill -USR1`) with each child's id, kind, state, restarts, actor id and mailbox — local actor
// ids in one process, ids with the node's name on a node.
#include "cluster_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace cluster_test;

namespace {

/// The `count` lines of `p`'s output that follow the `nth` line equal to `first` (that line
/// included); fewer when the output has fewer.
std::vector<std::string> lines_from(const process& p, const std::string& first, std::size_t count,
                                    int nth = 1) {
  std::istringstream in{p.output()};
  std::vector<std::string> out;
  int seen = 0;
  for (std::string line; std::getline(in, line);) {
    if (out.empty() && line == first && ++seen < nth)
      continue;
    if (out.empty() && line != first)
      continue;
    out.push_back(line);
    if (out.size() == count)
      break;
  }
  return out;
}

/// Waits like wait_for_log(); on time-out fails the test with `p`'s whole output.
void require_log(const process& p, const std::string& text, std::chrono::milliseconds limit,
                 int nth = 1) {
  if (!wait_for_log(p, text, limit, nth))
    FAIL("no \"" << text << "\" (occurrence " << nth << ") within " << limit.count()
                 << " ms; output:\n"
                 << p.output());
}

/// Checks `lines` against `patterns` line by line; answers the actor ids they capture.
std::vector<std::string> match_tree(const std::vector<std::string>& lines,
                                    const std::vector<std::string>& patterns) {
  std::vector<std::string> ids;
  REQUIRE(lines.size() == patterns.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO("line " << i << ": " << lines[i] << "\nexpected: " << patterns[i]);
    std::smatch m;
    REQUIRE(std::regex_match(lines[i], m, std::regex{patterns[i]}));
    if (m.size() > 1)
      ids.push_back(m[1]);
  }
  return ids;
}

} // namespace

TEST_CASE("microlith run prints the port its gateway bound when the file says port 0",
          "[cluster]") {
  temp_folder folder;
  auto file =
    write_file(folder.path(), "bank.toml", bank_file_text(0, folder.path() / "ledger.db", {}));
  REQUIRE_THAT(read_text(file), Catch::Contains("listen = \"127.0.0.1:0\""));
  auto bank = run_node(folder.path(), file);
  require_log(*bank, "gateway web: ", 30s);
  auto out = bank->output();
  INFO(out);
  std::smatch m;
  REQUIRE(std::regex_search(
    out, m,
    std::regex{
      R"(gateway web: http://127\.0\.0\.1:(\d+)/ \(7 routes, WebSocket ws://127\.0\.0\.1:(\d+)/ws\))"}));
  auto port = std::stoi(m[1]);
  CHECK(port > 0);
  CHECK(port < 65536);
  CHECK(m[2] == m[1]);
  // The gateway's own log line names the same port.
  CHECK_THAT(out, Catch::Contains("listening on http://127.0.0.1:" + std::to_string(port)));
  // And that port answers HTTP.
  REQUIRE(eventually([&] { return gateway_ready(static_cast<std::uint16_t>(port)); }, 15s));
  http_client client{static_cast<std::uint16_t>(port)};
  auto opened = client.request(boost::beast::http::verb::post, "/accounts",
                               R"({"id":"ada","initial_balance":100})");
  CHECK(opened.status == 200);
  CHECK(bank->stop() == 0);
}

TEST_CASE("microlith run --print-tree and kill -USR1 print every group's children with local "
          "actor ids",
          "[cluster]") {
  temp_folder folder;
  auto file =
    write_file(folder.path(), "bank.toml", bank_file_text(0, folder.path() / "ledger.db", {}));
  process bank{{microlith_command(), "run", file.string(), "--print-tree"},
               folder.path() / "bank.log"};
  // The built-in groups too: observer, toggles and jobs before the file's groups, the job
  // workers after them.
  const std::vector<std::string> tree{
    R"(bank system running)",
    R"(  observer supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    observer worker running restarts=0 actor=(\d+) mailbox=\d+ services=observer)",
    R"(  toggles supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    toggles worker running restarts=0 actor=(\d+) mailbox=\d+ services=toggles)",
    R"(  jobs supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    jobs worker running restarts=0 actor=(\d+) mailbox=\d+ services=jobs)",
    R"(  ledger supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    ledger worker running restarts=0 actor=(\d+) mailbox=\d+ services=ledger)",
    R"(  accounts supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    accounts worker running restarts=0 actor=(\d+) mailbox=\d+ services=accounts)",
    R"(  payments supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    payments worker running restarts=0 actor=(\d+) mailbox=\d+ services=payments)",
    R"(  web supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    http worker running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(  jobs.workers supervisor running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    jobs/payments/1 worker running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    jobs/payments/2 worker running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    jobs/payments/3 worker running restarts=0 actor=(\d+) mailbox=\d+)",
    R"(    jobs/payments/4 worker running restarts=0 actor=(\d+) mailbox=\d+)",
  };
  require_log(bank, "    jobs/payments/4 worker running", 30s);
  INFO(bank.output());
  auto printed = match_tree(lines_from(bank, "bank system running", tree.size()), tree);
  // 19 actors, 19 different ids, none of them CAF's "invalid" 0.
  CHECK(std::set<std::string>(printed.begin(), printed.end()).size() == 19);
  CHECK(std::find(printed.begin(), printed.end(), "0") == printed.end());
  CHECK_THAT(bank.output(), !Catch::Contains("invalid-node"));
  // Every worker answered the supervisor's info request (the job workers too): CAF printed no
  // "unexpected message".
  CHECK_THAT(bank.output(), !Catch::Contains("unexpected message"));

  // kill -USR1 prints the same tree again: the same actors, nothing restarted.
  require_log(bank, "running in one process", 10s);
  bank.signal(SIGUSR1);
  require_log(bank, "    jobs/payments/4 worker running", 10s, 2);
  auto again = match_tree(lines_from(bank, "bank system running", tree.size(), 2), tree);
  CHECK(again == printed);
  CHECK(bank.stop() == 0);
}

TEST_CASE("kill -USR1 on a node prints the node's groups with actor ids named after the node",
          "[cluster]") {
  temp_folder folder;
  auto file = write_file(folder.path(), "bank.toml",
                         bank_file_text(0, folder.path() / "ledger.db",
                                        {{"core", {"ledger", "accounts"}}, {"edge", {"web"}}}));
  auto core = run_node(folder.path(), file, "core");
  auto edge = run_node(folder.path(), file, "edge");
  require_log(*core, "node core of system bank running", 30s);
  require_log(*edge, "node edge of system bank running", 30s);
  INFO("--- core\n" << core->output() << "--- edge\n" << edge->output());

  // Each node's built-in groups too: its observer and toggles replica named after it, the jobs'
  // rescuer, and the job workers on the node that runs the payments queue.
  const std::vector<std::string> builtin{
    R"(  observer supervisor running restarts=0 actor=(\d+)@NODE mailbox=\d+)",
    R"(    observer@NODE worker running restarts=0 actor=(\d+)@NODE mailbox=\d+ services=observer@NODE)",
    R"(  toggles supervisor running restarts=0 actor=(\d+)@NODE mailbox=\d+)",
    R"(    toggles worker running restarts=0 actor=(\d+)@NODE mailbox=\d+ services=toggles)",
    R"(    toggles@NODE worker running restarts=0 actor=(\d+)@NODE mailbox=\d+ services=toggles@NODE)",
    R"(  jobs supervisor running restarts=0 actor=(\d+)@NODE mailbox=\d+)",
    R"(    jobs worker running restarts=0 actor=(\d+)@NODE mailbox=\d+ services=jobs)",
    R"(    jobs/rescuer worker running restarts=0 actor=(\d+)@NODE mailbox=\d+)"};
  auto tree_of = [&](const std::string& node, std::vector<std::string> groups) {
    std::vector<std::string> out{"bank system running node=" + node};
    for (auto line : builtin) {
      for (auto at = line.find("NODE"); at != std::string::npos; at = line.find("NODE"))
        line.replace(at, 4, node);
      out.push_back(line);
    }
    out.insert(out.end(), groups.begin(), groups.end());
    return out;
  };

  core->signal(SIGUSR1);
  require_log(*core, "    jobs/payments/4 worker running", 10s);
  auto core_tree = tree_of(
    "core",
    {R"(  ledger supervisor running restarts=0 actor=(\d+)@core mailbox=\d+)",
     R"(    ledger worker running restarts=0 actor=(\d+)@core mailbox=\d+ services=ledger)",
     R"(  accounts supervisor running restarts=0 actor=(\d+)@core mailbox=\d+)",
     R"(    accounts worker running restarts=0 actor=(\d+)@core mailbox=\d+ services=accounts)",
     R"(  payments supervisor running restarts=0 actor=(\d+)@core mailbox=\d+)",
     R"(    payments worker running restarts=0 actor=(\d+)@core mailbox=\d+ services=payments)",
     R"(  jobs.workers supervisor running restarts=0 actor=(\d+)@core mailbox=\d+)",
     R"(    jobs/payments/1 worker running restarts=0 actor=(\d+)@core mailbox=\d+)",
     R"(    jobs/payments/2 worker running restarts=0 actor=(\d+)@core mailbox=\d+)",
     R"(    jobs/payments/3 worker running restarts=0 actor=(\d+)@core mailbox=\d+)",
     R"(    jobs/payments/4 worker running restarts=0 actor=(\d+)@core mailbox=\d+)"});
  match_tree(lines_from(*core, "bank system running node=core", core_tree.size()), core_tree);

  edge->signal(SIGUSR1);
  require_log(*edge, "    http worker running", 10s);
  auto edge_tree =
    tree_of("edge", {R"(  web supervisor running restarts=0 actor=(\d+)@edge mailbox=\d+)",
                     R"(    http worker running restarts=0 actor=(\d+)@edge mailbox=\d+)"});
  match_tree(lines_from(*edge, "bank system running node=edge", edge_tree.size()), edge_tree);
  // The edge node prints its gateway's bound port too.
  auto edge_out = edge->output();
  CHECK(std::regex_search(edge_out, std::regex{R"(gateway web: http://127\.0\.0\.1:[1-9]\d*/ )"}));
  CHECK(edge->stop() == 0);
  CHECK(core->stop() == 0);
}
