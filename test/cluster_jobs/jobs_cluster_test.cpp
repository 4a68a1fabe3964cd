// Jobs in a cluster (docs/jobs.md, "Jobs in a cluster"), with real `microlith run --node`
// processes of a program whose module runs jobs (test/cli/jobs_program.cpp), two nodes sharing
// one job store file:
// - a job whose handler on node a calls a service on node b: that service sees the job's id and
//   attempt (they travel in the envelope's wire form);
// - node b frozen (SIGSTOP) while it runs a slow job (20 s): node a rescues it once b is declared
// down
//   and runs it with attempt 2; b's late completion, when it continues, is refused and logged,
//   and the store keeps one completion (attempt 2, by a) with attempt 1's loss as its error;
// - node b killed (SIGKILL) while it runs a slow job: node a runs it with attempt 2.
// The last two also with the nodes sharing a PostgreSQL database (a server the test starts,
// test/support/postgres_server.hpp) in place of the file.
// The test opens the job file (or database) itself to enqueue and to read the outcome. Every child
// is stopped by pid when the test ends, also when it fails.
#include "cluster_fixture.hpp"
#include "support/postgres_server.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/services/job_store.hpp>

#include "proto/test.pb.h"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace cluster_test;
using Catch::Matchers::Contains;

namespace {

namespace tpb = microlith::test;

/// The system file: node a runs groups work and relays, node b work and records; both open the
/// job store `database` (`jobs.sqlite` in the folder, or a PostgreSQL URL). Queue slow
/// (worker.Ping) has workers on both nodes, queue relay (relay.Forward) on a only.
std::string jobs_file_text(std::uint16_t port_a, std::uint16_t port_b,
                           const std::string& database) {
  return fmt::format(R"(
[system]
name = "jobs-cluster"
threads = 2

[jobs]
database = "{}"
poll_interval = "100ms"

[groups.work]
module = "test.jobs"

[groups.work.jobs.slow]
method = "worker.Ping"
concurrency = 1
timeout = "60s"
backoff_base = "0ms"
backoff_unit = "10ms"

[groups.relays]
module = "test.jobs"
needs = ["records"]

[groups.relays.jobs.relay]
method = "relay.Forward"
concurrency = 1
backoff_base = "0ms"
backoff_unit = "10ms"

[groups.records]
module = "test.jobs"

[nodes.a]
listen = "127.0.0.1:{}"
groups = ["work", "relays"]

[nodes.b]
listen = "127.0.0.1:{}"
groups = ["work", "records"]

[cluster]
cookie = "jobs-cluster-cookie"
)",
                     database, port_a, port_b);
}

/// Two nodes of the jobs file in one temp folder; `attempts` and `seen` are the files the
/// program's services append to.
struct jobs_cluster {
  /// `database`: the nodes' job store; empty: `jobs.sqlite` in the folder.
  explicit jobs_cluster(std::string database = {})
    : database(database.empty() ? (folder.path() / "jobs.sqlite").string() : std::move(database)),
      file(write_file(folder.path(), "jobs.toml",
                      jobs_file_text(free_port(), free_port(), this->database))) {}

  temp_folder folder;
  std::string database;
  fs::path file;
  fs::path attempts = folder.path() / "attempts";
  fs::path seen = folder.path() / "seen";
  std::map<std::string, std::unique_ptr<process>> nodes;

  process& start(const std::string& name) {
    nodes[name] = run_node(folder.path(), file, name,
                           {{"MICROLITH_TEST_ATTEMPTS", attempts.string()},
                            {"MICROLITH_TEST_SEEN", seen.string()},
                            {"MICROLITH_TEST_NODE", name}});
    return *nodes[name];
  }

  /// Every child's log, for a failing assertion.
  std::string logs() const {
    std::string out;
    for (const auto& [name, p] : nodes)
      out += "--- node " + name + "\n" + p->output();
    return out;
  }

  /// Waits until node `name`'s log has `text`, at most `limit`; fails with every log when not.
  void wait_log(const std::string& name, const std::string& text,
                std::chrono::milliseconds limit = 60s) {
    if (!wait_for_log(*nodes.at(name), text, limit))
      FAIL("node " << name << " did not log \"" << text << "\"; the logs:\n" << logs());
  }

  /// Waits until `done` holds, at most `limit`; fails naming `what`, with every log, when not.
  void wait_until(const std::function<bool()>& done, const std::string& what,
                  std::chrono::milliseconds limit = 60s) {
    if (!eventually(done, limit))
      FAIL("not within " << limit.count() << " ms: " << what << "; the logs:\n" << logs());
  }
};

std::unique_ptr<microlith::job_store> open_store(const std::string& database) {
  auto store = microlith::job_store::open_database(database);
  if (!store)
    FAIL(microlith::describe(store.error()));
  return std::move(*store);
}

std::int64_t enqueue(microlith::job_store& store, const std::string& queue,
                     const google::protobuf::Message& message) {
  microlith::new_job job;
  job.queue = queue;
  job.message_type = message.GetDescriptor()->full_name();
  message.SerializeToString(&job.message);
  job.max_attempts = 5;
  auto done = store.enqueue(job, microlith::job_clock_now());
  REQUIRE(done);
  return done->id;
}

/// The lines of `file` that start with "ID " (each "ID ATTEMPT TEXT NODE").
std::vector<std::string> lines_of_job(const fs::path& file, std::int64_t id) {
  std::vector<std::string> out;
  std::istringstream in{read_text(file)};
  const auto prefix = std::to_string(id) + " ";
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0)
      out.push_back(line);
  return out;
}

std::optional<microlith::job_record> find_job(microlith::job_store& store, std::int64_t id) {
  auto found = store.find(id);
  REQUIRE(found);
  return *found;
}

/// Runs a slow job on node b (20 s for its first attempt), loses b by `lose` (freezing or killing
/// it), and checks that node a runs it again with attempt 2 soon after; answers the time from the
/// loss to attempt 2.
template <class Lose>
double lose_b_while_it_runs_a_job(jobs_cluster& c, microlith::job_store& store, std::int64_t& id,
                                  Lose lose) {
  c.start("b");
  c.wait_log("b", "worker(s) started");
  tpb::PingRequest slow;
  slow.set_text("slow");
  slow.set_delay_ms(20000); // attempt 1: long enough to start node a and lose b meanwhile
  slow.set_value(200);      // attempt 2: quick
  id = enqueue(store, "slow", slow);
  c.wait_until([&] { return lines_of_job(c.attempts, id).size() == 1; }, "attempt 1 started");
  CHECK(lines_of_job(c.attempts, id)[0] == fmt::format("{} 1 slow b", id));
  auto& a = c.start("a");
  c.wait_log("a", "node b joined");
  c.wait_log("a", "worker(s) started");

  auto lost_at = steady::now();
  lose();
  c.wait_until([&] { return lines_of_job(c.attempts, id).size() == 2; }, "attempt 2 started");
  auto rescued_at = steady::now();
  CHECK(lines_of_job(c.attempts, id)[1] == fmt::format("{} 2 slow a", id));
  CHECK_THAT(a.output(), Contains("job(s) held by node b"));
  return std::chrono::duration<double>(rescued_at - lost_at).count();
}

} // namespace

TEST_CASE("cluster: a service on another node called by a job's handler sees the job's id and "
          "attempt",
          "[cluster][jobs]") {
  jobs_cluster c;
  auto store = open_store(c.database);
  c.start("b");
  c.start("a");
  c.wait_log("a", "worker(s) started");
  c.wait_log("b", "worker(s) started");

  tpb::RelayRequest relay;
  relay.set_service("recorder");
  relay.set_method("Ping");
  relay.mutable_ping()->set_text("relayed");
  auto id = enqueue(*store, "relay", relay);
  c.wait_until(
    [&] {
      auto job = find_job(*store, id);
      return job && job->state == microlith::job_state::completed;
    },
    "the job completed");
  // The recorder runs on node b only: the call crossed from a to b with the job's metadata.
  auto seen = lines_of_job(c.seen, id);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == fmt::format("{} 1 relayed b", id));
  CHECK(find_job(*store, id)->holder.node == "a");
}

namespace {

/// Node b frozen while it runs a job: node a runs it with attempt 2, b's late completion is
/// refused.
void frozen_node_job_runs_again(jobs_cluster& c, microlith::job_store& store, const char* where) {
  std::int64_t id = 0;
  auto seconds = lose_b_while_it_runs_a_job(c, store, id, [&] { REQUIRE(c.nodes["b"]->freeze()); });
  std::printf("frozen node b (%s): its job ran again on node a %.2f s after SIGSTOP\n", where,
              seconds);

  // Node b continues: its attempt answers late, and the store refuses it.
  auto& b = *c.nodes["b"];
  b.signal(SIGCONT);
  c.wait_log("b", fmt::format("job {} attempt 1: completion refused", id));
  CHECK_THAT(b.output(), Contains(fmt::format("job {} attempt epoch 1 is stale", id)));
  c.wait_until(
    [&] {
      auto job = find_job(store, id);
      return job && job->state == microlith::job_state::completed;
    },
    "the job completed");
  // Completed once: by node a's attempt 2; attempt 1's loss is its only error.
  auto job = *find_job(store, id);
  CHECK(job.attempt == 2);
  CHECK(job.holder.node == "a");
  REQUIRE(job.errors.size() == 1);
  CHECK(job.errors[0].attempt == 1);
  CHECK_THAT(job.errors[0].message, Contains("node b is down"));
  CHECK(lines_of_job(c.attempts, id).size() == 2);
}

/// Node b killed while it runs a job: node a runs it with attempt 2.
void killed_node_job_runs_again(jobs_cluster& c, microlith::job_store& store, const char* where) {
  std::int64_t id = 0;
  auto seconds = lose_b_while_it_runs_a_job(c, store, id, [&] { c.nodes["b"]->kill9(); });
  std::printf("killed node b (%s): its job ran again on node a %.2f s after SIGKILL\n", where,
              seconds);
  c.wait_until(
    [&] {
      auto job = find_job(store, id);
      return job && job->state == microlith::job_state::completed;
    },
    "the job completed");
  auto job = *find_job(store, id);
  CHECK(job.attempt == 2);
  CHECK(job.holder.node == "a");
  REQUIRE(job.errors.size() == 1);
  CHECK_THAT(job.errors[0].message, Contains("node b is down"));
}

} // namespace

TEST_CASE("cluster: a frozen node's job is run again by the other node and its late completion "
          "is refused",
          "[cluster][jobs]") {
  jobs_cluster c;
  auto store = open_store(c.database);
  frozen_node_job_runs_again(c, *store, "SQLite");
}

TEST_CASE("cluster: a killed node's job is run again by the other node with attempt 2",
          "[cluster][jobs]") {
  jobs_cluster c;
  auto store = open_store(c.database);
  killed_node_job_runs_again(c, *store, "SQLite");
}

TEST_CASE("cluster: on a shared PostgreSQL database a frozen node's job is run again by the "
          "other node and its late completion is refused",
          "[cluster][jobs][postgres]") {
  test_support::postgres_server server;
  jobs_cluster c{server.url()};
  auto store = open_store(c.database);
  frozen_node_job_runs_again(c, *store, "PostgreSQL");
}

TEST_CASE("cluster: on a shared PostgreSQL database a killed node's job is run again by the "
          "other node with attempt 2",
          "[cluster][jobs][postgres]") {
  test_support::postgres_server server;
  jobs_cluster c{server.url()};
  auto store = open_store(c.database);
  killed_node_job_runs_again(c, *store, "PostgreSQL");
}
