// The observer on the bank run in one process (docs/observer.md): the system view its gateway
// answers on /_microlith/observer (behind the admin token), the restart and stop of a child, the
// request log with the calls of a traced deposit, and GET /metrics in Prometheus' text format,
// checked by promtool and watched as calls, errors and restarts happen.
#include "integration/bank_system.hpp"
#include "integration/http_client.hpp"
#include "support/temp_folder.hpp"

#include "proto/microlith_observer.pb.h"

#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>

#include <any>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <string>
#include <thread>

using namespace std::chrono_literals;
namespace http = boost::beast::http;
namespace pb = microlith::observer::v1;

namespace {

using steady = std::chrono::steady_clock;

constexpr const char* token = "observer-test-admin-token";

std::pair<std::string, std::string> bearer(const std::string& t = token) {
  return {"Authorization", "Bearer " + t};
}

// Polls `done` every 10 ms until it holds or `limit` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
  auto deadline = steady::now() + limit;
  while (!done()) {
    if (steady::now() > deadline)
      return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// The bank with its gateway serving the admin paths and an admin token.
struct observed_bank : bank_test::bank_system {
  observed_bank()
    : bank_system([](microlith::system_config& config) {
        config.admin.token = token;
        for (auto& g : config.groups)
          if (auto* web = std::any_cast<microlith::gateway_settings>(&g.settings))
            web->admin = true;
      }) {}

  std::uint16_t port() const { return host.http_port("web"); }

  bank_test::http_answer get(const std::string& target, bool with_token = true) {
    bank_test::http_client client{port()};
    std::vector<std::pair<std::string, std::string>> headers;
    if (with_token)
      headers.push_back(bearer());
    return client.request(http::verb::get, target, {}, headers);
  }

  bank_test::http_answer post(const std::string& target, const std::string& json = {},
                              std::vector<std::pair<std::string, std::string>> headers = {}) {
    bank_test::http_client client{port()};
    return client.request(http::verb::post, target, json, headers);
  }

  // The system view; fails the test when it cannot be read.
  pb::SystemView view() {
    auto answer = get("/_microlith/observer");
    REQUIRE(answer.status == 200);
    pb::SystemView out;
    REQUIRE(google::protobuf::util::JsonStringToMessage(answer.body, &out).ok());
    return out;
  }
};

// The entry `path` (ids from the group down) of this process's tree, or null.
const pb::TreeEntry* entry_of(const pb::SystemView& view, std::vector<std::string> path) {
  if (view.nodes_size() == 0)
    return nullptr;
  const pb::TreeEntry* at = &view.nodes(0).report().tree();
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

const pb::MethodStats* method_of(const pb::SystemView& view, const std::string& service,
                                 const std::string& method) {
  for (const auto& m : view.nodes(0).report().methods())
    if (m.service() == service && m.method() == method)
      return &m;
  return nullptr;
}

std::uint64_t count_of(const google::protobuf::RepeatedPtrField<pb::Count>& counts,
                       const std::string& name) {
  for (const auto& c : counts)
    if (c.name() == name)
      return c.value();
  return 0;
}

// The value of the sample `name{labels}` in a Prometheus text body (-1 when absent); `labels`
// is matched as written, e.g. `node="",service="accounts",method="Deposit"`.
double sample(const std::string& body, const std::string& name, const std::string& labels) {
  std::string head = name + "{" + labels + "} ";
  auto at = body.find("\n" + head);
  if (at == std::string::npos)
    return -1;
  return std::stod(body.substr(at + 1 + head.size()));
}

} // namespace

TEST_CASE("the observer's admin path answers 401 without the token and 403 with another",
          "[observer]") {
  observed_bank bank;
  CHECK(bank.get("/_microlith/observer", false).status == 401);
  bank_test::http_client client{bank.port()};
  CHECK(
    client.request(http::verb::get, "/_microlith/observer", {}, {bearer("not-the-token-at-all")})
      .status
    == 403);
  CHECK(bank.get("/_microlith/observer").status == 200);
}

TEST_CASE("the observer's page answers 401 with the page without a token and is not a failed "
          "attempt",
          "[observer]") {
  observed_bank bank;
  // More page loads without a token than the failed attempts that lock an address out.
  for (int i = 0; i < 12; ++i) {
    auto page = bank.get("/admin/observer", false);
    REQUIRE(page.status == 401);
    CHECK(page.body.find("<title>microlith observer</title>") != std::string::npos);
  }
  auto with_token = bank.get("/admin/observer");
  CHECK(with_token.status == 200); // not locked out: the loads above were not failures
  CHECK(with_token.body.find("microlith.feed") != std::string::npos);
  bank_test::http_client client{bank.port()};
  CHECK(
    client.request(http::verb::get, "/admin/observer", {}, {bearer("not-the-token-at-all")}).status
    == 403);
  CHECK(bank.post("/admin/observer").status == 405);
}

TEST_CASE("the observer's view shows the bank's groups and the calls and routes of a deposit",
          "[observer]") {
  observed_bank bank;
  REQUIRE(bank.post("/accounts", R"({"id":"obs-1","initial_balance":10})").status == 200);
  REQUIRE(bank.post("/accounts/obs-1/deposit", R"({"amount":5})").status == 200);
  REQUIRE(bank.post("/accounts/nobody/deposit", R"({"amount":5})").status == 404);
  pb::SystemView view;
  REQUIRE(eventually([&] {
    view = bank.view();
    const auto* deposit = method_of(view, "accounts", "Deposit");
    return deposit != nullptr && deposit->calls() >= 2
           && count_of(deposit->errors(), "not_found") >= 1;
  }));
  INFO(view.DebugString());
  REQUIRE(view.nodes_size() == 1);
  CHECK(view.system() == "bank");
  CHECK(view.nodes(0).up());
  const auto& report = view.nodes(0).report();
  CHECK(report.tree().kind() == "system");
  for (const char* group : {"ledger", "accounts", "payments", "web"}) {
    const auto* g = entry_of(view, {group});
    REQUIRE(g != nullptr);
    CHECK(g->state() == "running");
  }
  const auto* accounts = entry_of(view, {"accounts", "accounts"});
  REQUIRE(accounts != nullptr);
  CHECK(accounts->services_size() == 1);
  CHECK(accounts->mailbox() >= 0);
  CHECK(report.scheduler_threads() == 2);
  CHECK(report.resident_bytes() > 0);
  const auto* deposit = method_of(view, "accounts", "Deposit");
  CHECK(deposit->duration().count() == deposit->calls());
  bool route_seen = false;
  for (const auto& r : report.routes())
    if (r.route() == "POST /accounts/{account_id}/deposit") {
      route_seen = true;
      CHECK(r.group() == "web");
      CHECK(r.target() == "accounts.Deposit");
      CHECK(count_of(r.statuses(), "200") >= 1);
      CHECK(count_of(r.statuses(), "404") >= 1);
    }
  CHECK(route_seen);
  bool queue_seen = false;
  for (const auto& q : report.queues())
    queue_seen = queue_seen || q.queue() == "payments";
  CHECK(queue_seen);
}

TEST_CASE("after a crash of accounts the view shows its restart and the crash's reason",
          "[observer]") {
  observed_bank bank;
  REQUIRE(bank.post("/accounts", R"({"id":"obs-2","initial_balance":10})").status == 200);
  auto before = bank.view();
  const auto* child = entry_of(before, {"accounts", "accounts"});
  REQUIRE(child != nullptr);
  auto restarts = child->restarts();
  CHECK(child->last_exit_reason().empty());
  bank.post("/accounts/obs-2/deposit", R"({"amount":1,"memo":"poison"})");
  pb::SystemView after;
  REQUIRE(eventually([&] {
    after = bank.view();
    const auto* c = entry_of(after, {"accounts", "accounts"});
    return c != nullptr && c->restarts() == restarts + 1 && c->state() == "running";
  }));
  const auto* c = entry_of(after, {"accounts", "accounts"});
  INFO(c->DebugString());
  CHECK(c->last_exit_reason().find("poison") != std::string::npos);
  CHECK(c->last_exit_unix_ms() > 0);
}

TEST_CASE("a child is stopped and restarted through the observer's admin path", "[observer]") {
  observed_bank bank;
  auto first = bank.view();
  const auto* child = entry_of(first, {"accounts", "accounts"});
  REQUIRE(child != nullptr);
  auto actor = child->actor();
  std::vector<std::pair<std::string, std::string>> auth{bearer()};
  auto stopped = bank.post("/_microlith/observer/children/stop?child=accounts/accounts", {}, auth);
  INFO(stopped.body);
  REQUIRE(stopped.status == 200);
  CHECK(entry_of(bank.view(), {"accounts", "accounts"})->state() == "stopped");
  auto restarted =
    bank.post("/_microlith/observer/children/restart?child=accounts/accounts", {}, auth);
  INFO(restarted.body);
  REQUIRE(restarted.status == 200);
  auto after = bank.view();
  const auto* again = entry_of(after, {"accounts", "accounts"});
  CHECK(again->state() == "running");
  CHECK(again->actor() != actor);
  // Mistakes name what is wrong.
  auto unknown = bank.post("/_microlith/observer/children/stop?child=accounts/nobody", {}, auth);
  CHECK(unknown.status == 404);
  CHECK(unknown.body.find("nobody") != std::string::npos);
  auto group = bank.post("/_microlith/observer/children/restart?child=accounts", {}, auth);
  CHECK(group.status == 400);
  auto action = bank.post("/_microlith/observer/children/kill?child=accounts/accounts", {}, auth);
  CHECK(action.status == 404);
  CHECK(bank.post("/_microlith/observer/children/stop?child=accounts/accounts").status == 401);
}

TEST_CASE("the built-in groups are in the observer's tree and a job worker is restarted through "
          "the admin path",
          "[observer]") {
  observed_bank bank;
  auto view = bank.view();
  INFO(view.DebugString());
  // Started before the file's groups (observer, toggles, jobs), and after them (jobs.workers).
  std::vector<std::string> groups;
  for (const auto& g : view.nodes(0).report().tree().children())
    groups.push_back(g.id());
  CHECK(groups
        == std::vector<std::string>{"observer", "toggles", "jobs", "ledger", "accounts", "payments",
                                    "web", "jobs.workers"});
  CHECK(entry_of(view, {"observer", "observer"})->state() == "running");
  CHECK(entry_of(view, {"jobs", "jobs"})->state() == "running");
  // A job worker, whose id holds '/', is named by the rest of the path.
  const auto* worker = entry_of(view, {"jobs.workers", "jobs/payments/1"});
  REQUIRE(worker != nullptr);
  CHECK(worker->state() == "running");
  std::vector<std::pair<std::string, std::string>> auth{bearer()};
  auto restarted =
    bank.post("/_microlith/observer/children/restart?child=jobs.workers/jobs/payments/1", {}, auth);
  INFO(restarted.body);
  REQUIRE(restarted.status == 200);
  auto after = bank.view();
  const auto* again = entry_of(after, {"jobs.workers", "jobs/payments/1"});
  REQUIRE(again != nullptr);
  CHECK(again->state() == "running");
  CHECK(again->actor() != worker->actor());
  CHECK(entry_of(after, {"jobs.workers", "jobs/payments/2"})->actor()
        == entry_of(view, {"jobs.workers", "jobs/payments/2"})->actor());
  // Its restart counts in /metrics, labelled with its group.
  auto metrics = bank.get("/metrics", false);
  CHECK(metrics.body.find(R"(group="jobs.workers",child="jobs/payments/1")") != std::string::npos);
  // The observer's own group is not acted on through the observer.
  auto own = bank.post("/_microlith/observer/children/restart?child=observer/observer", {}, auth);
  CHECK(own.status == 400);
  CHECK(own.body.find("restart the node instead") != std::string::npos);
  CHECK(entry_of(bank.view(), {"observer", "observer"})->actor()
        == entry_of(view, {"observer", "observer"})->actor());
}

TEST_CASE("a request forced into the log with X-Microlith-Trace shows the calls it made",
          "[observer]") {
  observed_bank bank;
  REQUIRE(bank.post("/accounts", R"({"id":"obs-3","initial_balance":10})").status == 200);
  auto traced = bank.post("/accounts/obs-3/deposit", R"({"amount":5})",
                          {{"X-Microlith-Trace", "1"}, {"X-Request-Id", "observer-trace-1"}});
  REQUIRE(traced.status == 200);
  pb::SystemView view;
  const pb::RequestTrace* found = nullptr;
  REQUIRE(eventually([&] {
    view = bank.view();
    found = nullptr;
    for (const auto& r : view.requests())
      if (r.correlation_id() == "observer-trace-1")
        found = &r;
    return found != nullptr && found->spans_size() >= 3;
  }));
  INFO(found->DebugString());
  CHECK(found->forced());
  CHECK(found->outcome() == "200");
  // The gateway's request, accounts.Deposit under it, and the ledger's append under that.
  const pb::Span* root = &found->spans(0);
  CHECK(root->parent_span() == 0);
  const pb::Span* deposit = nullptr;
  const pb::Span* append = nullptr;
  for (const auto& s : found->spans()) {
    if (s.service() == "accounts" && s.method() == "Deposit")
      deposit = &s;
    if (s.service() == "ledger" && s.method() == "Append")
      append = &s;
  }
  REQUIRE(deposit != nullptr);
  REQUIRE(append != nullptr);
  CHECK(deposit->parent_span() == root->span());
  CHECK(append->parent_span() == deposit->span());
  CHECK(deposit->outcome() == "ok");
  CHECK(deposit->duration_seconds() > 0);
  // A request that is not forced (and not sampled) is not logged.
  auto plain =
    bank.post("/accounts/obs-3/deposit", R"({"amount":5})", {{"X-Request-Id", "observer-plain-1"}});
  REQUIRE(plain.status == 200);
  auto later = bank.view();
  for (const auto& r : later.requests())
    CHECK(r.correlation_id() != "observer-plain-1");
}

TEST_CASE("GET /metrics passes promtool and its counters move with calls errors and restarts",
          "[observer]") {
  observed_bank bank;
  REQUIRE(bank.post("/accounts", R"({"id":"obs-4","initial_balance":10})").status == 200);
  auto first = bank.get("/metrics", false);
  REQUIRE(first.status == 200);
  test_support::temp_folder folder;
  auto file = folder.path() / "metrics.txt";
  {
    std::ofstream out{file};
    out << first.body;
  }
  auto command = "promtool check metrics < " + file.string() + " 2>&1";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string said;
  char buffer[512];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr)
    said += buffer;
  int status = ::pclose(pipe);
  INFO(said);
  CHECK(status == 0);
  CHECK(said.empty());

  const std::string deposit = R"(node="bank",service="accounts",method="Deposit")";
  auto calls = std::max(0.0, sample(first.body, "microlith_calls_total", deposit));
  auto errors = std::max(
    0.0, sample(first.body, "microlith_call_errors_total", deposit + R"(,kind="not_found")"));
  REQUIRE(bank.post("/accounts/obs-4/deposit", R"({"amount":5})").status == 200);
  REQUIRE(bank.post("/accounts/nobody/deposit", R"({"amount":5})").status == 404);
  bank.post("/accounts/obs-4/deposit", R"({"amount":1,"memo":"poison"})");
  std::string body;
  CHECK(eventually([&] {
    body = bank.get("/metrics", false).body;
    return sample(body, "microlith_calls_total", deposit) >= calls + 3
           && sample(body, "microlith_call_errors_total", deposit + R"(,kind="not_found")")
                >= errors + 1
           && sample(body, "microlith_child_restarts_total",
                     R"(node="bank",group="accounts",child="accounts")")
                >= 1;
  }));
  INFO(body);
}
