// Nodes' reports as Prometheus text (services/src/observer/prometheus_text.hpp): two nodes with
// services, routes, supervision trees with nested children, job queues and label values that
// need escaping; the output passes Prometheus's own `promtool check metrics`, and a few samples
// are checked line by line.
#include "observer/prometheus_text.hpp"

#include <microlith/actors/duration_histogram.hpp>

#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace v1 = microlith::observer::v1;

namespace {

// A histogram with the shared bounds: `counts` by bucket (the rest 0).
v1::Histogram histogram(const std::vector<std::uint64_t>& counts, double sum) {
  v1::Histogram h;
  for (auto b : microlith::duration_bounds_seconds)
    h.add_bounds(b);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < microlith::duration_buckets; ++i) {
    auto n = i < counts.size() ? counts[i] : 0;
    h.add_counts(n);
    total += n;
  }
  h.set_sum_seconds(sum);
  h.set_count(total);
  return h;
}

void add_count(google::protobuf::RepeatedPtrField<v1::Count>* to, const std::string& name,
               std::uint64_t value) {
  auto* c = to->Add();
  c->set_name(name);
  c->set_value(value);
}

v1::TreeEntry* add_entry(v1::TreeEntry* parent, const std::string& id, const std::string& kind,
                         const std::string& state, std::uint32_t restarts, std::int64_t mailbox) {
  auto* e = parent->add_children();
  e->set_id(id);
  e->set_kind(kind);
  e->set_state(state);
  e->set_restarts(restarts);
  e->set_mailbox(mailbox);
  return e;
}

// Node "n1" of system "bank": accounts with calls and errors, a gateway route, a tree with a
// nested supervisor, a job queue; its hostile values test the escaping.
v1::NodeReport first_node() {
  v1::NodeReport r;
  r.set_node("n1");
  r.set_system("bank");
  r.set_started_unix_ms(1'700'000'000'500);
  r.set_scheduler_threads(2);
  r.set_scheduler_utilisation(0.25);
  r.set_cpu_seconds(12.5);
  r.set_resident_bytes(52'428'800);
  auto* joined = r.add_links();
  joined->set_node("n2");
  joined->set_joined(true);
  joined->set_round_trip_seconds(0.00025);
  auto* lost = r.add_links();
  lost->set_node("n3");
  auto* m = r.add_methods();
  m->set_service("accounts");
  m->set_method("Deposit");
  m->set_calls(42);
  add_count(m->mutable_errors(), "not_found", 3);
  add_count(m->mutable_errors(), "timeout", 1);
  *m->mutable_duration() = histogram({0, 0, 0, 10, 30, 2}, 0.084); // 1 ms, 2.5 ms, 5 ms buckets
  auto* hostile = r.add_methods();
  hostile->set_service("odd\"svc\\name");
  hostile->set_method("Line\nBreak");
  hostile->set_calls(1);
  *hostile->mutable_duration() = histogram({1}, 0.00005);
  auto* route = r.add_routes();
  route->set_group("web");
  route->set_route("POST /accounts/{account_id}/deposit");
  route->set_target("accounts.Deposit");
  add_count(route->mutable_statuses(), "200", 40);
  add_count(route->mutable_statuses(), "404", 2);
  *route->mutable_duration() = histogram({0, 0, 0, 0, 0, 40, 2}, 0.3);
  auto* unmatched = r.add_routes();
  unmatched->set_group("web");
  add_count(unmatched->mutable_statuses(), "404", 5);
  auto* tree = r.mutable_tree();
  tree->set_id("bank");
  tree->set_kind("system");
  tree->set_state("running");
  tree->set_mailbox(-1);
  auto* accounts = add_entry(tree, "accounts", "supervisor", "running", 0, 0);
  auto* worker = add_entry(accounts, "accounts", "worker", "running", 2, 0);
  worker->set_last_exit_reason("accounts crashed: boom");
  worker->set_last_exit_unix_ms(1'700'000'100'250);
  auto* pool = add_entry(accounts, "pool", "supervisor", "running", 0, 1);
  add_entry(pool, "pool-1", "worker", "running", 0, 7);
  add_entry(pool, "pool-2", "worker", "backing_off", 3, -1);
  auto* plain = add_entry(accounts, "plain \"caf\" actor\\", "worker", "running", 0, -1);
  (void)plain;
  add_entry(tree, "ledger", "supervisor", "stopped", 0, -1);
  auto* q = r.add_queues();
  q->set_queue("emails");
  add_count(q->mutable_states(), "available", 4);
  add_count(q->mutable_states(), "executing", 1);
  return r;
}

// A one-process system's report (node ""): named after its system.
v1::NodeReport second_node() {
  v1::NodeReport r;
  r.set_system("bank");
  r.set_started_unix_ms(1'700'000'000'000);
  r.set_scheduler_threads(4);
  r.set_scheduler_utilisation(1);
  r.set_cpu_seconds(0.5);
  r.set_resident_bytes(1024);
  auto* m = r.add_methods();
  m->set_service("accounts");
  m->set_method("Deposit");
  m->set_calls(7);
  *m->mutable_duration() = histogram({}, 0);
  auto* tree = r.mutable_tree();
  tree->set_id("bank");
  tree->set_kind("system");
  tree->set_state("running");
  auto* ledger = add_entry(tree, "ledger", "supervisor", "running", 0, 0);
  add_entry(ledger, "ledger", "worker", "running", 1, 0);
  return r;
}

struct run_result {
  int exit_code = -1;
  std::string output;
};

// Runs `promtool check metrics` on `text` (its standard input), with its output and exit code.
run_result promtool_check(const std::string& text) {
  test_support::temp_folder dir{"promtool"};
  auto input = dir.path() / "metrics.txt";
  {
    std::ofstream out{input};
    out << text;
  }
  auto command = "promtool check metrics < '" + input.string() + "' 2>&1";
  run_result result;
  auto* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    result.output.append(buffer, n);
  auto status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in{text};
  for (std::string l; std::getline(in, l);)
    if (l == line)
      return true;
  return false;
}

std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("reports render as Prometheus text that promtool accepts", "[unit][metrics]") {
  REQUIRE(std::system("command -v promtool >/dev/null 2>&1") == 0); // scripts/install-deps.sh
  auto text = microlith::observer::prometheus_text({first_node(), second_node()});
  INFO(text);
  auto check = promtool_check(text);
  INFO("promtool: " << check.output);
  CHECK(check.exit_code == 0);
  CHECK(check.output.empty()); // no lint problems either

  SECTION("each family once, with HELP and TYPE") {
    for (const auto* family :
         {"microlith_calls_total", "microlith_call_errors_total", "microlith_call_duration_seconds",
          "microlith_http_requests_total", "microlith_http_request_duration_seconds",
          "microlith_child_restarts_total", "microlith_child_up",
          "microlith_child_last_exit_timestamp_seconds", "microlith_mailbox_messages",
          "microlith_jobs", "microlith_scheduler_threads", "microlith_scheduler_utilisation_ratio",
          "microlith_link_up", "microlith_link_round_trip_seconds", "process_resident_memory_bytes",
          "process_cpu_seconds_total", "process_start_time_seconds"}) {
      INFO(family);
      CHECK(count_of(text, std::string{"# TYPE "} + family + " ") == 1);
      CHECK(count_of(text, std::string{"# HELP "} + family + " ") == 1);
    }
    CHECK(has_line(text, "# TYPE microlith_call_duration_seconds histogram"));
    CHECK(has_line(text, "# TYPE microlith_calls_total counter"));
    // Both nodes' samples of a family come together, after its TYPE line.
    auto type_at = text.find("# TYPE microlith_calls_total");
    auto n1_at = text.find("microlith_calls_total{node=\"n1\"");
    auto bank_at = text.find("microlith_calls_total{node=\"bank\"");
    auto next_family = text.find("# HELP", type_at);
    CHECK(type_at < n1_at);
    CHECK(n1_at < bank_at);
    CHECK(bank_at < next_family);
  }
  SECTION("counters and gauges of both nodes") {
    CHECK(
      has_line(text, R"(microlith_calls_total{node="n1",service="accounts",method="Deposit"} 42)"));
    CHECK(has_line(text,
                   R"(microlith_calls_total{node="bank",service="accounts",method="Deposit"} 7)"));
    CHECK(has_line(
      text,
      R"(microlith_call_errors_total{node="n1",service="accounts",method="Deposit",kind="not_found"} 3)"));
    CHECK(has_line(
      text,
      R"(microlith_http_requests_total{node="n1",group="web",route="POST /accounts/{account_id}/deposit",target="accounts.Deposit",status="200"} 40)"));
    CHECK(has_line(
      text,
      R"(microlith_http_requests_total{node="n1",group="web",route="",target="",status="404"} 5)"));
    CHECK(has_line(text, R"(microlith_jobs{node="n1",queue="emails",state="available"} 4)"));
    CHECK(has_line(text, R"(microlith_scheduler_threads{node="bank"} 4)"));
    CHECK(has_line(text, R"(microlith_scheduler_utilisation_ratio{node="n1"} 0.25)"));
    CHECK(has_line(text, R"(process_resident_memory_bytes{node="n1"} 52428800)"));
    CHECK(has_line(text, R"(process_cpu_seconds_total{node="n1"} 12.5)"));
    CHECK(has_line(text, R"(process_start_time_seconds{node="n1"} 1700000000.5)"));
    // Links: up or not, and the round trip of a joined one only.
    CHECK(has_line(text, R"(microlith_link_up{node="n1",peer="n2"} 1)"));
    CHECK(has_line(text, R"(microlith_link_up{node="n1",peer="n3"} 0)"));
    CHECK(has_line(text, R"(microlith_link_round_trip_seconds{node="n1",peer="n2"} 0.00025)"));
    CHECK(count_of(text, R"(microlith_link_round_trip_seconds{node="n1",peer="n3"})") == 0);
  }
  SECTION("histograms: cumulative buckets up to +Inf, sum and count") {
    auto series = std::string{
      R"(microlith_call_duration_seconds_bucket{node="n1",service="accounts",method="Deposit",le=)"};
    CHECK(has_line(text, series + R"("0.0005"} 0)"));
    CHECK(has_line(text, series + R"("0.001"} 10)"));
    CHECK(has_line(text, series + R"("0.0025"} 40)"));
    CHECK(has_line(text, series + R"("0.005"} 42)"));
    CHECK(has_line(text, series + R"("10"} 42)"));
    CHECK(has_line(text, series + R"("+Inf"} 42)"));
    CHECK(has_line(
      text,
      R"(microlith_call_duration_seconds_sum{node="n1",service="accounts",method="Deposit"} 0.084)"));
    CHECK(has_line(
      text,
      R"(microlith_call_duration_seconds_count{node="n1",service="accounts",method="Deposit"} 42)"));
    CHECK(count_of(text, series) == microlith::duration_buckets);
    CHECK(has_line(
      text,
      R"(microlith_http_request_duration_seconds_bucket{node="n1",group="web",route="POST /accounts/{account_id}/deposit",target="accounts.Deposit",le="+Inf"} 42)"));
  }
  SECTION("the tree: children by their path below the group") {
    CHECK(has_line(
      text, R"(microlith_child_restarts_total{node="n1",group="accounts",child="accounts"} 2)"));
    CHECK(has_line(
      text, R"(microlith_child_restarts_total{node="n1",group="accounts",child="pool/pool-2"} 3)"));
    CHECK(
      has_line(text, R"(microlith_child_up{node="n1",group="accounts",child="pool/pool-1"} 1)"));
    CHECK(
      has_line(text, R"(microlith_child_up{node="n1",group="accounts",child="pool/pool-2"} 0)"));
    CHECK(has_line(
      text, R"(microlith_mailbox_messages{node="n1",group="accounts",child="pool/pool-1"} 7)"));
    CHECK(
      has_line(text, R"(microlith_mailbox_messages{node="n1",group="accounts",child="pool"} 1)"));
    CHECK(has_line(
      text,
      R"(microlith_child_last_exit_timestamp_seconds{node="n1",group="accounts",child="accounts"} 1700000100.25)"));
    CHECK(has_line(
      text, R"(microlith_child_restarts_total{node="bank",group="ledger",child="ledger"} 1)"));
    // Not reported: no mailbox sample.
    CHECK(count_of(text,
                   R"(microlith_mailbox_messages{node="n1",group="accounts",child="pool/pool-2"})")
          == 0);
    // A stopped group with no children has no child samples; the root is no child.
    // Restarts, up and mailbox of bank's ledger worker only.
    CHECK(count_of(text, R"(group="ledger",child=)") == 3);
    CHECK(count_of(text, R"(group="bank")") == 0);
  }
  SECTION("label values escaped") {
    CHECK(has_line(
      text, R"(microlith_calls_total{node="n1",service="odd\"svc\\name",method="Line\nBreak"} 1)"));
    CHECK(has_line(
      text, R"(microlith_child_up{node="n1",group="accounts",child="plain \"caf\" actor\\"} 1)"));
  }
}

TEST_CASE("a report's node label is its node then its system then local", "[unit][metrics]") {
  v1::NodeReport r;
  CHECK(microlith::observer::node_label(r) == "local");
  r.set_system("bank");
  CHECK(microlith::observer::node_label(r) == "bank");
  r.set_node("n2");
  CHECK(microlith::observer::node_label(r) == "n2");
  auto text = microlith::observer::prometheus_text({v1::NodeReport{}});
  CHECK(has_line(text, R"(microlith_scheduler_threads{node="local"} 0)"));
  CHECK(promtool_check(text).exit_code == 0);
}
