// Group commit of the job store (docs/jobs.md, "Group commit"): job_store::write_batch runs many
// writes in one transaction, each with its own outcome, a failing one leaving nothing behind
// while the others commit; the batcher (services/src/jobs/job_batcher.hpp) gathers the writes
// of many threads into such batches and tells each its outcome once committed. Real SQLite
// files in a temp folder.
#include <microlith/actors/error.hpp>
#include <microlith/services/job_store.hpp>

#include "jobs/job_batcher.hpp"
#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

namespace fs = std::filesystem;
using microlith::errc;
using microlith::job_state;
using microlith::job_store;
using microlith::job_write;
using microlith::new_job;

namespace {

constexpr std::int64_t t0 = 1'800'000'000'000; // a fixed "now", in ms

std::unique_ptr<job_store> open_store(const fs::path& file) {
  auto store = job_store::open(file, microlith::job_sync::normal);
  if (!store)
    FAIL(microlith::describe(store.error()));
  return std::move(*store);
}

new_job job_of(const std::string& queue, const std::string& unique_key = {}) {
  new_job j;
  j.queue = queue;
  j.message_type = "test.Job";
  j.message = "payload";
  j.unique_key = unique_key;
  j.unique_period_ms = unique_key.empty() ? 0 : 60'000;
  return j;
}

/// Runs `sql` on a connection of its own to `file` (the store's schema exists already).
void run_sql(const fs::path& file, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
  const std::string why = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  INFO(why);
  REQUIRE(rc == SQLITE_OK);
}

/// How many rows `sql` (a SELECT count(*)) counts, read on a connection of its own.
std::int64_t count(const fs::path& file, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  const auto n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

job_state state_of_job(job_store& store, std::int64_t id) {
  auto found = store.find(id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  return (*found)->state;
}

} // namespace

TEST_CASE("a batch of writes commits together with an outcome for each write", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  auto held = store->enqueue(job_of("q"), t0);
  REQUIRE(held);
  auto running = store->claim("q", 1, t0);
  REQUIRE(running);
  REQUIRE(running->size() == 1);

  std::vector<job_write> writes;
  writes.push_back(job_write::enqueue_of(job_of("q", "k"))); // 0: a new job, key k
  writes.push_back(job_write::enqueue_of(job_of("q", "k"))); // 1: k again: a duplicate of 0
  writes.push_back(job_write::enqueue_of(job_of("")));       // 2: no queue: refused
  writes.push_back(job_write::complete_and_claim_of(         // 3: completes, claims job 0
    running->front().id, running->front().epoch, "q"));
  writes.push_back(job_write::complete_and_claim_of( // 4: the same attempt again: stale
    running->front().id, running->front().epoch, "q"));
  writes.push_back(job_write::complete_and_claim_of(0, 0, "other")); // 5: claims nothing
  REQUIRE_FALSE(store->write_batch(writes, t0 + 1));

  CHECK_FALSE(writes[0].error);
  CHECK_FALSE(writes[0].enqueued.duplicate);
  CHECK_FALSE(writes[1].error);
  CHECK(writes[1].enqueued.duplicate);
  CHECK(writes[1].enqueued.id == writes[0].enqueued.id);
  CHECK(microlith::code_of(writes[2].error) == errc::invalid_argument);

  CHECK_FALSE(writes[3].error);
  CHECK_FALSE(writes[3].refused);
  REQUIRE(writes[3].claimed.size() == 1);
  CHECK(writes[3].claimed.front().id == writes[0].enqueued.id); // enqueued earlier in the batch
  CHECK(state_of_job(*store, held->id) == job_state::completed);

  CHECK_FALSE(writes[4].error);
  CHECK(microlith::code_of(writes[4].refused) == errc::failed_precondition);
  CHECK(writes[4].claimed.empty()); // the only due job went to write 3

  CHECK_FALSE(writes[5].error);
  CHECK(writes[5].claimed.empty());
  CHECK(count(dir.path() / "jobs.sqlite", "SELECT count(*) FROM jobs") == 2);
}

TEST_CASE("a write that fails inside a batch leaves nothing behind while the others commit",
          "[unit]") {
  test_support::temp_folder dir{"jobs"};
  const auto file = dir.path() / "jobs.sqlite";
  auto store = open_store(file);
  // SQLite itself refuses the job of queue "poison", and the unique key "boom" after the job's
  // row is in: the second must take that row back with it.
  run_sql(file, "CREATE TRIGGER poison BEFORE INSERT ON jobs WHEN NEW.queue = 'poison' "
                "BEGIN SELECT RAISE(ABORT, 'poisoned job'); END; "
                "CREATE TRIGGER boom BEFORE INSERT ON job_unique_keys WHEN "
                "NEW.unique_key = 'boom' BEGIN SELECT RAISE(ABORT, 'boom key'); END;");
  std::vector<job_write> writes;
  writes.push_back(job_write::enqueue_of(job_of("q")));
  writes.push_back(job_write::enqueue_of(job_of("poison")));
  writes.push_back(job_write::enqueue_of(job_of("q", "boom")));
  writes.push_back(job_write::enqueue_of(job_of("q", "fine")));
  REQUIRE_FALSE(store->write_batch(writes, t0));

  CHECK_FALSE(writes[0].error);
  REQUIRE(writes[1].error);
  CHECK_THAT(microlith::describe(writes[1].error), Catch::Matchers::Contains("poisoned job"));
  REQUIRE(writes[2].error);
  CHECK_THAT(microlith::describe(writes[2].error), Catch::Matchers::Contains("boom key"));
  CHECK_FALSE(writes[3].error);
  CHECK(count(file, "SELECT count(*) FROM jobs") == 2);
  CHECK(count(file, "SELECT count(*) FROM jobs WHERE unique_key = 'boom'") == 0);
  CHECK(count(file, "SELECT count(*) FROM job_unique_keys") == 1);
  // A single enqueue takes the same path: refused, and nothing of it stays.
  auto alone = store->enqueue(job_of("q", "boom"), t0);
  CHECK_FALSE(alone);
  CHECK(count(file, "SELECT count(*) FROM jobs") == 2);
}

TEST_CASE("the batcher commits the writes waiting behind a commit in one transaction", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  const auto file = dir.path() / "jobs.sqlite";
  auto store = open_store(file);
  constexpr int threads = 8;
  constexpr int per_thread = 25;
  std::mutex mutex;
  std::condition_variable changed;
  bool holding = false; // the batcher's thread is in the first write's outcome
  bool release = false;
  std::set<std::int64_t> ids;
  int answered = 0;
  int failed = 0;
  {
    microlith::detail::job_batcher batcher{*store};
    // The first write's outcome holds the batcher's thread until every other write is queued.
    batcher.submit(job_write::enqueue_of(job_of("q")), [&](job_write&) {
      std::unique_lock<std::mutex> lock{mutex};
      holding = true;
      changed.notify_all();
      changed.wait(lock, [&] { return release; });
    });
    {
      std::unique_lock<std::mutex> lock{mutex};
      REQUIRE(changed.wait_for(lock, std::chrono::seconds(30), [&] { return holding; }));
    }
    std::vector<std::thread> submitters;
    std::atomic<int> queued{0};
    for (int t = 0; t < threads; ++t)
      submitters.emplace_back([&] {
        for (int i = 0; i < per_thread; ++i) {
          batcher.submit(job_write::enqueue_of(job_of("q")), [&](job_write& w) {
            std::lock_guard<std::mutex> guard{mutex};
            ++answered;
            if (w.error)
              ++failed;
            else
              ids.insert(w.enqueued.id);
            changed.notify_all();
          });
          ++queued;
        }
      });
    for (auto& s : submitters)
      s.join();
    REQUIRE(queued == threads * per_thread);
    {
      std::lock_guard<std::mutex> guard{mutex};
      release = true;
    }
    changed.notify_all();
    std::unique_lock<std::mutex> lock{mutex};
    REQUIRE(changed.wait_for(lock, std::chrono::seconds(30),
                             [&] { return answered == threads * per_thread; }));
    lock.unlock();
    const auto stats = batcher.stats();
    CHECK(stats.writes == threads * per_thread + 1);
    CHECK(stats.batches == 2); // the first write alone, then all the others together
    CHECK(stats.largest == threads * per_thread);
  }
  CHECK(failed == 0);
  CHECK(ids.size() == threads * per_thread);
  CHECK(count(file, "SELECT count(*) FROM jobs") == threads * per_thread + 1);
}

TEST_CASE("a batcher that stops runs every write still waiting first", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  const auto file = dir.path() / "jobs.sqlite";
  auto store = open_store(file);
  std::atomic<int> answered{0};
  {
    microlith::detail::job_batcher batcher{*store, 4}; // at most 4 writes a transaction
    for (int i = 0; i < 50; ++i)
      batcher.submit(job_write::enqueue_of(job_of("q")), [&](job_write& w) {
        if (!w.error)
          ++answered;
      });
  } // stopped at once: the destructor waits for the 50
  CHECK(answered == 50);
  CHECK(count(file, "SELECT count(*) FROM jobs") == 50);
}

TEST_CASE("a claimed attempt given back unstarted is due again with its attempt not spent",
          "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  auto only = job_of("q");
  only.max_attempts = 1; // rescued, it would be discarded; given back, it runs its one attempt
  auto id = store->enqueue(only, t0);
  REQUIRE(id);
  auto first = store->claim("q", 1, t0);
  REQUIRE(first);
  REQUIRE(first->size() == 1);
  REQUIRE_FALSE(store->release(first->front().id, first->front().epoch, t0 + 1));
  auto found = store->find(id->id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->state == job_state::available);
  CHECK((*found)->attempt == 0);
  CHECK((*found)->errors.empty());
  CHECK((*found)->holder.node.empty());
  // The given-back attempt's answers are refused; the next claim is attempt 1 again.
  CHECK(microlith::code_of(store->release(first->front().id, first->front().epoch, t0 + 2))
        == errc::failed_precondition);
  CHECK(microlith::code_of(store->complete(first->front().id, first->front().epoch, t0 + 2))
        == errc::failed_precondition);
  auto again = store->claim("q", 1, t0 + 3);
  REQUIRE(again);
  REQUIRE(again->size() == 1);
  CHECK(again->front().attempt == 1);
  CHECK(again->front().epoch > first->front().epoch);
}
