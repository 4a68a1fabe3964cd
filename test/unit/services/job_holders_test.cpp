// Who holds a job's attempt (job_store.hpp, docs/jobs.md "Who rescues what"): real SQLite files
// in a temp folder, one store (connection) per node sharing the file, times given by the test.
// Claims record their holder; a file made before holders gets the columns when it opens; a node
// at start rescues only its own previous process's jobs; a lost holder's jobs are rescued once
// (fenced by the epoch, idempotent across nodes), sparing claims made after the loss; and the
// rescuer's sweeps (a real actor under a supervisor, the joined nodes given by the test).
#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/services/job_store.hpp>
#include <microlith/supervision/supervisor.hpp>

#include "jobs/job_rescuer.hpp"
#include "jobs/job_runtime.hpp"
#include "support/temp_folder.hpp"

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <mutex>
#include <thread>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <sqlite3.h>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using microlith::errc;
using microlith::job_holder;
using microlith::job_state;
using microlith::job_store;
using microlith::new_job;

namespace {

constexpr std::int64_t t0 = 1'800'000'000'000; // a fixed "now", in ms

std::unique_ptr<job_store> open_as(const fs::path& file, job_holder holder) {
  auto store = job_store::open(file, microlith::job_sync::normal, std::move(holder));
  if (!store)
    FAIL(microlith::describe(store.error()));
  return std::move(*store);
}

std::int64_t enqueue(job_store& store, const std::string& queue, int max_attempts = 5) {
  new_job j;
  j.queue = queue;
  j.message_type = "test.Job";
  j.message = "payload";
  j.max_attempts = max_attempts;
  auto id = store.enqueue(j, t0);
  REQUIRE(id);
  return id->id;
}

microlith::claimed_job claim_one(job_store& store, const std::string& queue, std::int64_t now) {
  auto claimed = store.claim(queue, 1, now);
  REQUIRE(claimed);
  REQUIRE(claimed->size() == 1);
  return claimed->front();
}

microlith::job_record find(job_store& store, std::int64_t id) {
  auto found = store.find(id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  return **found;
}

const job_holder a1{"a", "instance-a1"};
const job_holder a2{"a", "instance-a2"};
const job_holder b1{"b", "instance-b1"};

} // namespace

TEST_CASE("a claim records the node and process that hold the attempt", "[unit][jobs]") {
  test_support::temp_folder dir;
  auto a = open_as(dir.path() / "jobs.sqlite", a1);
  auto b = open_as(dir.path() / "jobs.sqlite", b1);
  auto first = enqueue(*a, "q");
  auto second = enqueue(*a, "q");
  CHECK(find(*a, first).holder == job_holder{});
  claim_one(*a, "q", t0);
  claim_one(*b, "q", t0);
  CHECK(find(*b, first).holder == a1);
  CHECK(find(*a, second).holder == b1);
  auto holders = a->executing_holders();
  REQUIRE(holders);
  CHECK(*holders == std::vector<job_holder>{a1, b1});
}

TEST_CASE("a job file made before holders gets the holder columns when it opens", "[unit][jobs]") {
  test_support::temp_folder dir;
  const auto file = dir.path() / "old.sqlite";
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  // The jobs table as the store made it before attempts had holders, with one job executing.
  REQUIRE(sqlite3_exec(db, R"sql(
    CREATE TABLE jobs (
      id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, message_type TEXT NOT NULL,
      message BLOB NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
      max_attempts INTEGER NOT NULL, priority INTEGER NOT NULL DEFAULT 0,
      run_at INTEGER NOT NULL, timeout_ms INTEGER NOT NULL DEFAULT 0,
      unique_key TEXT NOT NULL DEFAULT '', epoch INTEGER NOT NULL DEFAULT 0,
      inserted_at INTEGER NOT NULL, attempted_at INTEGER NOT NULL DEFAULT 0,
      finished_at INTEGER NOT NULL DEFAULT 0);
    INSERT INTO jobs (queue, message_type, message, state, attempt, max_attempts, run_at, epoch,
                      inserted_at, attempted_at)
      VALUES ('q', 'test.Job', 'x', 'executing', 1, 5, 1, 1, 1, 1);
  )sql",
                       nullptr, nullptr, nullptr)
          == SQLITE_OK);
  sqlite3_close(db);

  // Two nodes open it: the columns are added once.
  auto a = open_as(file, a1);
  auto b = open_as(file, b1);
  auto old = find(*a, 1);
  CHECK(old.state == job_state::executing);
  CHECK(old.holder == job_holder{});
  auto holders = a->executing_holders();
  REQUIRE(holders);
  CHECK(*holders == std::vector<job_holder>{job_holder{}});
  // Held by nobody: not a node's own previous process, rescued only as a lost holder.
  auto own = a->rescue_previous_instances(t0);
  REQUIRE(own);
  CHECK(*own == 0);
  auto rescued = b->rescue_holder(job_holder{}, t0, "held by nobody", t0);
  REQUIRE(rescued);
  CHECK(*rescued == 1);
  auto again = claim_one(*b, "q", t0);
  CHECK(again.attempt == 2);
  CHECK(find(*a, 1).holder == b1);
}

TEST_CASE("a node at start rescues only the jobs of its own previous process", "[unit][jobs]") {
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  auto before = open_as(file, a1);
  auto b = open_as(file, b1);
  auto mine = enqueue(*before, "q");
  auto theirs = enqueue(*before, "q");
  auto held = claim_one(*before, "q", t0);
  REQUIRE(held.id == mine);
  claim_one(*b, "q", t0);

  // Node a starts again: a new process, the same name.
  auto after = open_as(file, a2);
  auto rescued = after->rescue_previous_instances(t0 + 100);
  REQUIRE(rescued);
  CHECK(*rescued == 1);
  auto job = find(*after, mine);
  CHECK(job.state == job_state::available);
  CHECK(job.epoch == held.epoch + 1);
  REQUIRE(job.errors.size() == 1);
  CHECK(job.errors[0].attempt == 1);
  CHECK_THAT(job.errors[0].message, Contains("node a started again"));
  CHECK(find(*after, theirs).state == job_state::executing); // node b's, alive
  // The old process's answer is refused; the job runs again with attempt 2.
  auto late = before->complete(mine, held.epoch, t0 + 200);
  CHECK(microlith::is(late, errc::failed_precondition));
  auto next = claim_one(*after, "q", t0 + 300);
  CHECK(next.id == mine);
  CHECK(next.attempt == 2);
  CHECK(find(*after, mine).holder == a2);
}

TEST_CASE("a lost node's jobs are rescued once and its later claims are left alone",
          "[unit][jobs]") {
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  auto a = open_as(file, a1);
  auto c = open_as(file, job_holder{"c", "instance-c1"});
  auto b = open_as(file, b1);
  auto early = enqueue(*a, "q");
  auto later = enqueue(*a, "q");
  auto last = enqueue(*a, "last", 1);
  auto held = claim_one(*b, "q", t0);
  REQUIRE(held.id == early);
  auto held_last = claim_one(*b, "last", t0);
  claim_one(*b, "q", t0 + 50); // claimed after the loss was seen (t0 + 10)

  // Nodes a and c both see b lost at t0 + 10 and rescue at once: one of them rescues.
  auto by_a = a->rescue_holder(b1, t0 + 10, "node b is down: connection lost", t0 + 100);
  auto by_c = c->rescue_holder(b1, t0 + 10, "node b is down: connection lost", t0 + 100);
  REQUIRE(by_a);
  REQUIRE(by_c);
  CHECK(*by_a + *by_c == 2);
  CHECK(*by_c == 0);

  auto job = find(*a, early);
  CHECK(job.state == job_state::available);
  REQUIRE(job.errors.size() == 1);
  CHECK(job.errors[0].attempt == 1);
  CHECK(job.errors[0].message == "node b is down: connection lost");
  CHECK(find(*a, later).state == job_state::executing);
  // Its last attempt lost: discarded, as after a crash.
  auto discarded = find(*a, last);
  CHECK(discarded.state == job_state::discarded);
  CHECK(discarded.errors.size() == 1);
  CHECK(microlith::is(b->complete(last, held_last.epoch, t0 + 150), errc::failed_precondition));

  // Node a runs it with attempt 2; b's late completion is refused, a's is the one kept.
  auto rerun = claim_one(*a, "q", t0 + 200);
  CHECK(rerun.id == early);
  CHECK(rerun.attempt == 2);
  auto late = b->complete(early, held.epoch, t0 + 300);
  CHECK(microlith::is(late, errc::failed_precondition));
  CHECK_THAT(microlith::message_of(late), Contains("is stale"));
  REQUIRE_FALSE(a->complete(early, rerun.epoch, t0 + 400));
  auto done = find(*a, early);
  CHECK(done.state == job_state::completed);
  CHECK(done.attempt == 2);
  CHECK(done.holder == a1);
  CHECK(done.finished_at == t0 + 400);
}

TEST_CASE("a holder that stays not joined is rescued by a later sweep and not only at start",
          "[unit][jobs]") {
  using namespace std::chrono_literals;
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  const job_holder c1{"c", "instance-c1"};
  auto b = open_as(file, b1);
  auto c = open_as(file, c1);
  // Real times: the sweep rescues attempts claimed up to its own now.
  auto enqueue_now = [&](job_store& store) {
    new_job j;
    j.queue = "q";
    j.message_type = "test.Job";
    j.message = "payload";
    auto id = store.enqueue(j, microlith::job_clock_now());
    REQUIRE(id);
    return id->id;
  };
  const auto of_b = enqueue_now(*b);
  const auto of_c = enqueue_now(*b);
  REQUIRE(claim_one(*b, "q", microlith::job_clock_now()).id == of_b);
  REQUIRE(claim_one(*c, "q", microlith::job_clock_now()).id == of_c);

  microlith::node node;
  auto runtime = std::make_shared<microlith::detail::job_runtime>(
    node, open_as(file, a1), std::vector<microlith::job_queue_config>{}, 1s);
  std::mutex mutex;
  std::vector<job_holder> joined{b1}; // b is joined; c never was
  microlith::supervisor_spec spec{"jobs"};
  spec.child(microlith::detail::job_rescuer_child(
    runtime,
    [&] {
      std::lock_guard<std::mutex> guard{mutex};
      return joined;
    },
    microlith::detail::job_rescue_bounds{100ms, 200ms}));
  auto sup = microlith::start_supervisor(node.system(), std::move(spec));
  REQUIRE(sup);
  auto state_becomes = [&](std::int64_t id, job_state wanted) {
    for (int i = 0; i < 1000 && find(*b, id).state != wanted; ++i)
      std::this_thread::sleep_for(10ms);
    return find(*b, id).state == wanted;
  };

  // The first sweep: c's attempt is rescued, b's (joined) is not.
  CHECK(state_becomes(of_c, job_state::available));
  CHECK_THAT(find(*b, of_c).errors.at(0).message, Contains("was not joined 200 ms after node a"));
  CHECK(find(*b, of_b).state == job_state::executing);

  // b is no longer joined, and no loss is reported (it was handled before b claimed this job): a
  // later sweep rescues its attempt.
  {
    std::lock_guard<std::mutex> guard{mutex};
    joined.clear();
  }
  CHECK(state_becomes(of_b, job_state::available));
  const auto rescued = find(*b, of_b);
  REQUIRE(rescued.errors.size() == 1);
  CHECK_THAT(rescued.errors[0].message,
             Contains("node b (instance-b1) holds executing jobs and was not joined for 200 ms"));

  caf::scoped_actor self{node.system()};
  self->monitor(*sup);
  caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(10s) >> [] {});
  REQUIRE(down);
}

TEST_CASE("a node that was frozen waits a whole reconnect cycle before it rescues a lost node's "
          "jobs",
          "[unit][jobs]") {
  using namespace std::chrono_literals;
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  auto b = open_as(file, b1);
  new_job j;
  j.queue = "q";
  j.message_type = "test.Job";
  j.message = "payload";
  auto enqueued = b->enqueue(j, microlith::job_clock_now());
  REQUIRE(enqueued);
  const auto of_b = enqueued->id;
  REQUIRE(claim_one(*b, "q", microlith::job_clock_now()).id == of_b);

  microlith::node node;
  auto runtime = std::make_shared<microlith::detail::job_runtime>(
    node, open_as(file, a1), std::vector<microlith::job_queue_config>{}, 1s);
  std::mutex mutex;
  std::vector<job_holder> joined{b1};
  bool stalled = false; // the rescuer has been held once, as a frozen process would be
  std::chrono::steady_clock::time_point resumed; // when that hold ended
  microlith::supervisor_spec spec{"jobs"};
  // The first sweep (1.5 s after the start) asks for the members: that call holds the rescuer
  // for 800 ms, so its own tick comes 800 ms late, as after a SIGSTOP of the node.
  spec.child(microlith::detail::job_rescuer_child(
    runtime,
    [&] {
      std::unique_lock<std::mutex> lock{mutex};
      if (!stalled) {
        lock.unlock();
        std::this_thread::sleep_for(800ms);
        lock.lock();
        stalled = true;
        resumed = std::chrono::steady_clock::now();
      }
      return joined;
    },
    microlith::detail::job_rescue_bounds{100ms, 1500ms, 400ms}));
  auto sup = microlith::start_supervisor(node.system(), std::move(spec));
  REQUIRE(sup);
  for (int i = 0; i < 1000; ++i) {
    std::lock_guard<std::mutex> guard{mutex};
    if (stalled)
      break;
    std::this_thread::sleep_for(10ms);
  }
  {
    std::lock_guard<std::mutex> guard{mutex};
    REQUIRE(stalled);
    joined.clear(); // the resumed node sees b gone, as its own links are down
  }
  std::chrono::steady_clock::time_point resumed_at;
  {
    std::lock_guard<std::mutex> guard{mutex};
    resumed_at = resumed;
  }
  runtime->holder_lost(b1, microlith::job_clock_now(), "test loss");

  // Past the 100 ms rejoin wait, the rescuer still waits: its reconnect cycle (1.5 s from the
  // resume, which it notices only after the hold ended) has not passed. For a whole second after
  // the resume, b's attempt stays with b, however late this thread reported the loss.
  while (std::chrono::steady_clock::now() - resumed_at < 1s) {
    REQUIRE(find(*b, of_b).state == job_state::executing);
    std::this_thread::sleep_for(10ms);
  }
  // b did not come back within the cycle: its attempt is rescued, with the loss as the reason.
  for (int i = 0; i < 1000 && find(*b, of_b).state != job_state::available; ++i)
    std::this_thread::sleep_for(10ms);
  const auto rescued = find(*b, of_b);
  CHECK(rescued.state == job_state::available);
  REQUIRE(rescued.errors.size() == 1);
  CHECK_THAT(rescued.errors[0].message, Contains("node b is down: test loss"));

  caf::scoped_actor self{node.system()};
  self->monitor(*sup);
  caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
  bool down = false;
  self->receive([&](caf::down_msg&) { down = true; }, caf::after(10s) >> [] {});
  REQUIRE(down);
}
