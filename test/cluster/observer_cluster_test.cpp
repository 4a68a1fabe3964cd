// The observer across real node processes (docs/observer.md): the bank on two nodes, `front`
// (web, ledger) and `back` (accounts, payments). The system view the gateway collects shows each
// node's tree as it is after starts, a crash and restart, the loss of a node (kill -9) and its
// return; the request log shows a traced deposit's calls on both nodes with their parents; and
// GET /metrics?nodes=all has both nodes' samples. `back`, which has no gateway group, answers
// for its own metrics on the port its [observer.nodes.back] table names; the link between the
// nodes shows the round trip of their agents' ping.
#include "cluster_fixture.hpp"

#include "proto/microlith_observer.pb.h"

#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>

#include <set>

using namespace cluster_test;
namespace http = boost::beast::http;
namespace pb = microlith::observer::v1;

namespace {

constexpr const char* token = "observer-cluster-admin-token";

// The bank on two nodes with its gateway's admin paths on and an admin token.
struct observed_cluster {
  temp_folder folder;
  std::uint16_t http_port = free_port();
  std::uint16_t back_metrics_port = free_port();
  fs::path file;
  std::map<std::string, std::unique_ptr<process>> nodes;

  observed_cluster() {
    placement where{{"front", {"web", "ledger"}}, {"back", {"accounts"}}};
    auto text = bank_file_text(http_port, folder.path() / "ledger.db", where);
    auto listen = "listen = \"127.0.0.1:" + std::to_string(http_port) + "\"";
    auto at = text.find(listen);
    REQUIRE(at != std::string::npos);
    text.insert(at + listen.size(), "\nadmin = true");
    text += "\n[admin]\ntoken = \"" + std::string{token} + "\"\n";
    text +=
      "[observer.nodes.back]\nmetrics = \"127.0.0.1:" + std::to_string(back_metrics_port) + "\"\n";
    file = write_file(folder.path(), "bank.toml", text);
    for (const auto& [name, groups] : where)
      nodes[name] = run_node(folder.path(), file, name);
  }

  std::string logs() const {
    std::string out;
    for (const auto& [name, p] : nodes)
      out += "--- " + name + "\n" + p->output();
    return out;
  }

  bank_test::http_answer request(http::verb verb, const std::string& target,
                                 const std::string& json = {},
                                 std::vector<std::pair<std::string, std::string>> headers = {}) {
    bank_test::http_client client{http_port};
    return client.request(verb, target, json, headers);
  }

  // The system view (an empty one when it cannot be read: the caller's poll tries again).
  pb::SystemView view() {
    pb::SystemView out;
    try {
      auto answer = request(http::verb::get, "/_microlith/observer", {},
                            {{"Authorization", std::string{"Bearer "} + token}});
      if (answer.status == 200)
        (void)google::protobuf::util::JsonStringToMessage(answer.body, &out);
    } catch (const std::exception&) {
    }
    return out;
  }
};

const pb::NodeStatus* node_of(const pb::SystemView& view, const std::string& name) {
  for (const auto& n : view.nodes())
    if (n.node() == name)
      return &n;
  return nullptr;
}

const pb::TreeEntry* entry_of(const pb::NodeStatus& node, const std::vector<std::string>& path) {
  const pb::TreeEntry* at = &node.report().tree();
  for (const auto& id : path) {
    const pb::TreeEntry* next = nullptr;
    for (const auto& c : at->children())
      if (c.id() == id)
        next = &c;
    if (next == nullptr)
      return nullptr;
    at = next;
  }
  return at;
}

// The ids of a node's groups of the file (the built-in ones left out), sorted.
std::vector<std::string> group_ids(const pb::NodeStatus& node) {
  const std::set<std::string> builtin{"observer", "toggles", "jobs", "jobs.workers", "jobs.cron"};
  std::vector<std::string> out;
  for (const auto& c : node.report().tree().children())
    if (builtin.count(c.id()) == 0)
      out.push_back(c.id());
  std::sort(out.begin(), out.end());
  return out;
}

const pb::NodeLink* link_of(const pb::NodeStatus& node, const std::string& to) {
  for (const auto& l : node.report().links())
    if (l.node() == to)
      return &l;
  return nullptr;
}

// GET /metrics on `port` (an empty body when it does not answer 200).
std::string metrics_on(std::uint16_t port) {
  try {
    bank_test::http_client client{port};
    auto answer = client.request(http::verb::get, "/metrics");
    return answer.status == 200 ? answer.body : std::string{};
  } catch (const std::exception&) {
    return {};
  }
}

} // namespace

TEST_CASE("the observer shows each node's tree through a crash and the loss and return of a "
          "node and a deposit's calls across both nodes",
          "[cluster][observer]") {
  observed_cluster bank;
  REQUIRE(eventually([&] { return gateway_ready(bank.http_port); }, 60s));
  INFO(bank.logs());

  // Both nodes, each with its own groups, every entry naming its node.
  pb::SystemView view;
  REQUIRE(eventually(
    [&] {
      view = bank.view();
      const auto* front = node_of(view, "front");
      const auto* back = node_of(view, "back");
      // Up, and the agents' first ping answered.
      return front != nullptr && back != nullptr && front->up() && back->up()
             && back->round_trip_seconds() > 0;
    },
    30s));
  const auto* front = node_of(view, "front");
  const auto* back = node_of(view, "back");
  CHECK(view.collected_by() == "front");
  CHECK(group_ids(*front) == std::vector<std::string>{"ledger", "web"});
  CHECK(group_ids(*back) == std::vector<std::string>{"accounts", "payments"});
  const auto* accounts = entry_of(*back, {"accounts", "accounts"});
  REQUIRE(accounts != nullptr);
  CHECK(accounts->node() == "back");
  CHECK(accounts->state() == "running");
  CHECK(accounts->restarts() == 0);
  CHECK(back->round_trip_seconds() < 1.0);
  CHECK(back->report_seconds() > 0);
  CHECK(front->round_trip_seconds() == 0); // the collecting node itself
  CHECK(back->up_since_unix_ms() > 0);
  // Each node reports its link to the other, joined, with the time it joined.
  const auto* front_to_back = link_of(*front, "back");
  REQUIRE(front_to_back != nullptr);
  CHECK(front_to_back->joined());
  CHECK(front_to_back->joined_unix_ms() > 0);
  const auto* back_to_front = link_of(*back, "front");
  REQUIRE(back_to_front != nullptr);
  CHECK(back_to_front->joined());
  // The built-in groups are in each node's tree beside the file's.
  for (const auto* n : {front, back}) {
    const auto* observer = entry_of(*n, {"observer", "observer@" + n->node()});
    REQUIRE(observer != nullptr);
    CHECK(observer->state() == "running");
    CHECK(entry_of(*n, {"toggles"}) != nullptr);
  }
  CHECK(entry_of(*back, {"observer", "metrics"}) != nullptr); // back's own metrics listener
  CHECK(entry_of(*front, {"observer", "metrics"}) == nullptr);

  // A traced deposit: its calls on both nodes, in one tree.
  REQUIRE(bank.request(http::verb::post, "/accounts", R"({"id":"c-1","initial_balance":10})").status
          == 200);
  auto traced = bank.request(http::verb::post, "/accounts/c-1/deposit", R"({"amount":5})",
                             {{"X-Microlith-Trace", "1"}, {"X-Request-Id", "cluster-trace-1"}});
  REQUIRE(traced.status == 200);
  pb::RequestTrace trace;
  REQUIRE(eventually(
    [&] {
      auto now = bank.view();
      for (const auto& r : now.requests())
        if (r.correlation_id() == "cluster-trace-1" && r.spans_size() >= 3) {
          trace = r;
          return true;
        }
      return false;
    },
    30s));
  INFO(trace.DebugString());
  const pb::Span* deposit = nullptr;
  const pb::Span* append = nullptr;
  const pb::Span* root = nullptr;
  for (const auto& s : trace.spans()) {
    if (s.service() == "accounts" && s.method() == "Deposit")
      deposit = &s;
    if (s.service() == "ledger" && s.method() == "Append")
      append = &s;
    if (s.parent_span() == 0)
      root = &s;
  }
  REQUIRE(root != nullptr);
  REQUIRE(deposit != nullptr);
  REQUIRE(append != nullptr);
  CHECK(root->node() == "front");
  CHECK(deposit->node() == "back");
  CHECK(append->node() == "front");
  CHECK(deposit->parent_span() == root->span());
  CHECK(append->parent_span() == deposit->span());
  CHECK(trace.forced());

  // A crash of accounts on back: restarted, with its reason.
  bank.request(http::verb::post, "/accounts/c-1/deposit", R"({"amount":1,"memo":"poison"})");
  REQUIRE(eventually(
    [&] {
      view = bank.view();
      const auto* b = node_of(view, "back");
      const auto* a = b != nullptr && b->up() ? entry_of(*b, {"accounts", "accounts"}) : nullptr;
      return a != nullptr && a->restarts() == 1 && a->state() == "running"
             && a->last_exit_reason().find("poison") != std::string::npos;
    },
    30s));

  // Both nodes' samples in /metrics?nodes=all.
  auto metrics = bank.request(http::verb::get, "/metrics?nodes=all");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find(
          R"(microlith_child_restarts_total{node="back",group="accounts",child="accounts"} 1)")
        != std::string::npos);
  CHECK(metrics.body.find(R"(node="front")") != std::string::npos);
  // back answers for itself, without a gateway group: its samples only.
  auto own = metrics_on(bank.back_metrics_port);
  CHECK(
    own.find(R"(microlith_child_restarts_total{node="back",group="accounts",child="accounts"} 1)")
    != std::string::npos);
  CHECK(own.find(R"(node="front")") == std::string::npos);
  CHECK(own.find(R"(microlith_link_up{node="back",peer="front"} 1)") != std::string::npos);

  // back is lost: reported down with why, front goes on.
  bank.nodes.at("back")->kill9();
  REQUIRE(eventually(
    [&] {
      view = bank.view();
      const auto* b = node_of(view, "back");
      const auto* f = node_of(view, "front");
      return b != nullptr && !b->up() && !b->error().empty() && f != nullptr && f->up();
    },
    30s));
  CHECK(node_of(view, "back")->up_since_unix_ms() > 0); // when it was last seen

  // back returns: a new process, its tree fresh.
  bank.nodes.at("back") = run_node(bank.folder.path(), bank.file, "back");
  REQUIRE(eventually(
    [&] {
      view = bank.view();
      const auto* b = node_of(view, "back");
      const auto* a = b != nullptr && b->up() ? entry_of(*b, {"accounts", "accounts"}) : nullptr;
      return a != nullptr && a->state() == "running" && a->restarts() == 0;
    },
    60s));
  // And serves its own metrics again, from the new process.
  REQUIRE(eventually(
    [&] {
      return metrics_on(bank.back_metrics_port)
               .find(R"(microlith_child_restarts_total{node="back",group="accounts",)"
                     R"(child="accounts"} 0)")
             != std::string::npos;
    },
    30s));
}
