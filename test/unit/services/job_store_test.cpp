// The store of background jobs (job_store.hpp, docs/jobs.md): real SQLite files in a temp
// folder, times given by the test. Enqueue, claim and complete; retries and discards with every
// error kept; unique keys, also from several connections at once; scheduled jobs; the order of
// claims; the epoch refusing stale answers; executing jobs rescued on start; cancel and retry by
// hand; counts; and files that are not a writable database refused naming the file.
#include <microlith/actors/error.hpp>
#include <microlith/services/job_store.hpp>

#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using microlith::errc;
using microlith::job_state;
using microlith::job_store;
using microlith::new_job;

namespace {

constexpr std::int64_t t0 = 1'800'000'000'000; // a fixed "now", in ms

std::unique_ptr<job_store> open_store(const fs::path& file,
                                      microlith::job_sync sync = microlith::job_sync::full) {
  auto store = job_store::open(file, sync);
  if (!store)
    FAIL(microlith::describe(store.error()));
  return std::move(*store);
}

new_job job_of(const std::string& queue, const std::string& bytes = "payload") {
  new_job j;
  j.queue = queue;
  j.message_type = "test.Job";
  j.message = bytes;
  return j;
}

std::int64_t enqueue(job_store& store, const new_job& job, std::int64_t now = t0) {
  auto id = store.enqueue(job, now);
  REQUIRE(id);
  return id->id;
}

job_state state_of(job_store& store, std::int64_t id) {
  auto found = store.find(id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  return (*found)->state;
}

/// Another connection holding the file locked exclusively (locking_mode=EXCLUSIVE and a
/// write: no other connection may read or write until it closes).
class sqlite3_locker {
public:
  explicit sqlite3_locker(const fs::path& file) {
    REQUIRE(sqlite3_open(file.c_str(), &db_) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db_,
                         "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; "
                         "CREATE TABLE IF NOT EXISTS lock_holder (x); "
                         "INSERT INTO lock_holder VALUES (1); COMMIT;",
                         nullptr, nullptr, nullptr)
            == SQLITE_OK);
  }
  ~sqlite3_locker() { sqlite3_close(db_); }
  sqlite3_locker(const sqlite3_locker&) = delete;
  sqlite3_locker& operator=(const sqlite3_locker&) = delete;

private:
  sqlite3* db_ = nullptr;
};

} // namespace

TEST_CASE("a job is enqueued claimed and completed", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  std::string bytes("\0binary\xff", 8);
  const auto id = enqueue(*store, job_of("mail", bytes));
  CHECK(state_of(*store, id) == job_state::available);

  auto claimed = store->claim("mail", 10, t0);
  REQUIRE(claimed);
  REQUIRE(claimed->size() == 1);
  const auto& job = claimed->front();
  CHECK(job.id == id);
  CHECK(job.queue == "mail");
  CHECK(job.message_type == "test.Job");
  CHECK(job.message == bytes);
  CHECK(job.attempt == 1);
  CHECK(job.max_attempts == 20);
  CHECK(state_of(*store, id) == job_state::executing);
  CHECK(store->claim("mail", 10, t0)->empty());

  REQUIRE_FALSE(store->complete(id, job.epoch, t0 + 5));
  auto found = store->find(id);
  REQUIRE(found);
  CHECK((*found)->state == job_state::completed);
  CHECK((*found)->finished_at == t0 + 5);
  CHECK((*found)->errors.empty());
}

TEST_CASE("a job of one queue is not claimed from another", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  enqueue(*store, job_of("mail"));
  CHECK(store->claim("sms", 10, t0)->empty());
  CHECK(store->claim("mail", 10, t0)->size() == 1);
}

TEST_CASE("jobs are claimed by priority then run_at then id and up to the limit", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  auto late = job_of("q");
  late.run_at = t0 - 10;
  auto early = job_of("q");
  early.run_at = t0 - 20;
  auto urgent = job_of("q");
  urgent.priority = -1;
  urgent.run_at = t0;
  const auto a = enqueue(*store, late, t0 - 100);
  const auto b = enqueue(*store, early, t0 - 100);
  const auto c = enqueue(*store, urgent, t0 - 100);
  const auto d = enqueue(*store, late, t0 - 100);
  auto first = store->claim("q", 3, t0);
  REQUIRE(first);
  REQUIRE(first->size() == 3);
  CHECK((*first)[0].id == c);
  CHECK((*first)[1].id == b);
  CHECK((*first)[2].id == a);
  auto rest = store->claim("q", 3, t0);
  REQUIRE(rest->size() == 1);
  CHECK((*rest)[0].id == d);
}

TEST_CASE("a scheduled job is claimed only once its run_at has come", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  auto later = job_of("q");
  later.run_at = t0 + 60'000;
  const auto id = enqueue(*store, later);
  CHECK(state_of(*store, id) == job_state::scheduled);
  CHECK(*store->next_run_at("q") == std::optional<std::int64_t>{t0 + 60'000});
  CHECK(store->claim("q", 1, t0 + 59'999)->empty());
  auto claimed = store->claim("q", 1, t0 + 60'000);
  REQUIRE(claimed->size() == 1);
  CHECK(claimed->front().id == id);
  CHECK(*store->next_run_at("q") == std::optional<std::int64_t>{});
}

TEST_CASE("a failed attempt is retried at the run_at given and its error kept", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  const auto id = enqueue(*store, job_of("q"));
  auto first = store->claim("q", 1, t0)->front();
  auto state = store->fail(id, first.epoch, "provider said 503", t0 + 17'000, t0 + 1);
  REQUIRE(state);
  CHECK(*state == job_state::retryable);
  auto found = store->find(id);
  CHECK((*found)->run_at == t0 + 17'000);
  CHECK(store->claim("q", 1, t0 + 16'999)->empty());
  auto second = store->claim("q", 1, t0 + 17'000);
  REQUIRE(second->size() == 1);
  CHECK(second->front().attempt == 2);
  CHECK(second->front().epoch != first.epoch);
  REQUIRE_FALSE(store->complete(id, second->front().epoch, t0 + 17'001));
  found = store->find(id);
  REQUIRE((*found)->errors.size() == 1);
  CHECK((*found)->errors[0].attempt == 1);
  CHECK((*found)->errors[0].at == t0 + 1);
  CHECK((*found)->errors[0].message == "provider said 503");
}

TEST_CASE("a job is discarded after its last attempt with every error kept", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  auto j = job_of("q");
  j.max_attempts = 3;
  const auto id = enqueue(*store, j);
  std::int64_t now = t0;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto claimed = store->claim("q", 1, now);
    REQUIRE(claimed->size() == 1);
    CHECK(claimed->front().attempt == attempt);
    auto state =
      store->fail(id, claimed->front().epoch, "error " + std::to_string(attempt), now, now);
    REQUIRE(state);
    CHECK(*state == (attempt < 3 ? job_state::retryable : job_state::discarded));
    ++now;
  }
  CHECK(store->claim("q", 1, now + 1'000'000)->empty());
  auto found = store->find(id);
  REQUIRE((*found)->state == job_state::discarded);
  REQUIRE((*found)->errors.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK((*found)->errors[static_cast<std::size_t>(i)].attempt == i + 1);
    CHECK((*found)->errors[static_cast<std::size_t>(i)].message
          == "error " + std::to_string(i + 1));
  }
  auto discarded = store->list({"", job_state::discarded, 10});
  REQUIRE(discarded);
  REQUIRE(discarded->size() == 1);
  CHECK(discarded->front().errors.size() == 3);
}

TEST_CASE("a stale completion or failure is refused by the epoch", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  const auto id = enqueue(*store, job_of("q"));
  auto first = store->claim("q", 1, t0)->front();
  // The worker crashed; its job was rescued and claimed again.
  REQUIRE(store->rescue(id, first.epoch, "worker crashed", t0 + 1));
  auto second = store->claim("q", 1, t0 + 1)->front();
  CHECK(second.attempt == 2);

  auto stale = store->complete(id, first.epoch, t0 + 2);
  CHECK(microlith::code_of(stale) == errc::failed_precondition);
  CHECK_THAT(microlith::describe(stale), Contains("stale"));
  auto stale_fail = store->fail(id, first.epoch, "late", t0 + 2, t0 + 2);
  REQUIRE_FALSE(stale_fail);
  CHECK(microlith::code_of(stale_fail.error()) == errc::failed_precondition);
  auto stale_rescue = store->rescue(id, first.epoch, "late", t0 + 2);
  REQUIRE_FALSE(stale_rescue);
  CHECK(state_of(*store, id) == job_state::executing);

  REQUIRE_FALSE(store->complete(id, second.epoch, t0 + 3));
  CHECK(state_of(*store, id) == job_state::completed);
  // A second completion of the same attempt changes nothing either.
  CHECK(microlith::code_of(store->complete(id, second.epoch, t0 + 4)) == errc::failed_precondition);
  CHECK(microlith::code_of(store->complete(id + 100, 1, t0)) == errc::not_found);
}

TEST_CASE("completing a job and claiming the next is one transaction fenced as complete",
          "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  const auto a = enqueue(*store, job_of("q", "a"));
  const auto b = enqueue(*store, job_of("q", "b"));
  auto first = store->claim("q", 1, t0)->front();
  REQUIRE(first.id == a);

  caf::error refused;
  auto next = store->complete_and_claim(a, first.epoch, "q", t0 + 1, refused);
  REQUIRE(next);
  CHECK_FALSE(refused);
  CHECK(state_of(*store, a) == job_state::completed);
  REQUIRE(next->size() == 1);
  CHECK(next->front().id == b);
  CHECK(next->front().attempt == 1);
  CHECK(state_of(*store, b) == job_state::executing);

  // A stale attempt's completion is refused and changes nothing; the claim still happens.
  const auto c = enqueue(*store, job_of("q", "c"));
  next = store->complete_and_claim(a, first.epoch, "q", t0 + 2, refused);
  REQUIRE(next);
  CHECK(microlith::code_of(refused) == errc::failed_precondition);
  CHECK(state_of(*store, a) == job_state::completed);
  REQUIRE(next->size() == 1);
  CHECK(next->front().id == c);

  // Nothing due: completed, and no claim.
  auto last = next->front();
  next = store->complete_and_claim(c, last.epoch, "q", t0 + 3, refused);
  REQUIRE(next);
  CHECK_FALSE(refused);
  CHECK(next->empty());
  CHECK(state_of(*store, c) == job_state::completed);
}

TEST_CASE("a crashed worker's job is due again at once with the crash as its error", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  const auto id = enqueue(*store, job_of("q"));
  auto first = store->claim("q", 1, t0)->front();
  auto state = store->rescue(id, first.epoch, "worker exited: boom", t0 + 5);
  REQUIRE(state);
  CHECK(*state == job_state::retryable);
  auto again = store->claim("q", 1, t0 + 5);
  REQUIRE(again->size() == 1);
  CHECK(again->front().attempt == 2);
  auto found = store->find(id);
  REQUIRE((*found)->errors.size() == 1);
  CHECK((*found)->errors[0].message == "worker exited: boom");
}

TEST_CASE("executing jobs left by a dead process are available again on open", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  const auto file = dir.path() / "jobs.sqlite";
  std::int64_t id = 0;
  std::int64_t old_epoch = 0;
  {
    auto store = open_store(file);
    id = enqueue(*store, job_of("q"));
    enqueue(*store, job_of("q")); // stays available
    old_epoch = store->claim("q", 1, t0)->front().epoch;
  }
  auto store = open_store(file);
  auto rescued = store->rescue_executing(t0 + 10);
  REQUIRE(rescued);
  CHECK(*rescued == 1);
  CHECK(state_of(*store, id) == job_state::available);
  CHECK(microlith::code_of(store->complete(id, old_epoch, t0 + 11)) == errc::failed_precondition);
  auto claimed = store->claim("q", 2, t0 + 10);
  REQUIRE(claimed->size() == 2);
  CHECK(claimed->front().id == id);
  CHECK(claimed->front().attempt == 2);
}

TEST_CASE("a unique key makes one job inside its period and a new one after", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  auto j = job_of("payments");
  j.unique_key = "payment:p1";
  j.unique_period_ms = 60'000;
  auto first = store->enqueue(j, t0);
  REQUIRE(first);
  CHECK_FALSE(first->duplicate);
  auto again = store->enqueue(j, t0 + 59'999);
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->id == first->id);
  auto other = j;
  other.unique_key = "payment:p2";
  CHECK_FALSE(store->enqueue(other, t0 + 1)->duplicate);
  auto after = store->enqueue(j, t0 + 60'000);
  REQUIRE(after);
  CHECK_FALSE(after->duplicate);
  CHECK(after->id != first->id);
  auto all = store->list({"payments", std::nullopt, 10});
  CHECK(all->size() == 3);
  SECTION("a key without a period is refused") {
    auto bad = j;
    bad.unique_period_ms = 0;
    auto refused = store->enqueue(bad, t0);
    REQUIRE_FALSE(refused);
    CHECK(microlith::code_of(refused.error()) == errc::invalid_argument);
  }
}

TEST_CASE("concurrent enqueues of one unique key from several connections make one job", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  const auto file = dir.path() / "jobs.sqlite";
  open_store(file); // the schema, before the threads race to make it
  constexpr int threads = 4;
  constexpr int rounds = 25;
  std::vector<std::vector<std::int64_t>> ids(threads);
  std::vector<int> fresh(threads, 0);
  std::vector<std::string> failures(threads);
  std::atomic<int> ready{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto store = job_store::open(file); // a connection of its own
      if (!store) {
        failures[static_cast<std::size_t>(t)] = microlith::describe(store.error());
        return;
      }
      ++ready;
      while (ready.load() < threads)
        std::this_thread::yield();
      for (int r = 0; r < rounds; ++r) {
        auto j = job_of("payments");
        j.unique_key = "payment:" + std::to_string(r);
        j.unique_period_ms = 3'600'000;
        auto id = (*store)->enqueue(j, t0);
        if (!id) {
          failures[static_cast<std::size_t>(t)] = microlith::describe(id.error());
          return;
        }
        ids[static_cast<std::size_t>(t)].push_back(id->id);
        fresh[static_cast<std::size_t>(t)] += id->duplicate ? 0 : 1;
      }
    });
  }
  for (auto& w : workers)
    w.join();
  for (const auto& f : failures)
    CHECK(f.empty());
  int created = 0;
  for (int t = 0; t < threads; ++t) {
    created += fresh[static_cast<std::size_t>(t)];
    REQUIRE(ids[static_cast<std::size_t>(t)].size() == rounds);
  }
  CHECK(created == rounds);
  for (int r = 0; r < rounds; ++r) {
    std::set<std::int64_t> answered;
    for (int t = 0; t < threads; ++t)
      answered.insert(ids[static_cast<std::size_t>(t)][static_cast<std::size_t>(r)]);
    CHECK(answered.size() == 1);
  }
  auto store = open_store(file);
  CHECK(store->list({"payments", std::nullopt, 1000})->size() == rounds);
}

TEST_CASE("cancel and retry by hand", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  SECTION("a waiting job is cancelled and never claimed") {
    const auto id = enqueue(*store, job_of("q"));
    REQUIRE_FALSE(store->cancel(id, t0));
    CHECK(state_of(*store, id) == job_state::cancelled);
    CHECK(store->claim("q", 1, t0)->empty());
    CHECK(microlith::code_of(store->cancel(id, t0)) == errc::failed_precondition);
  }
  SECTION("an executing job cancelled refuses its attempt's completion") {
    const auto id = enqueue(*store, job_of("q"));
    auto claimed = store->claim("q", 1, t0)->front();
    REQUIRE_FALSE(store->cancel(id, t0 + 1));
    CHECK(microlith::code_of(store->complete(id, claimed.epoch, t0 + 2))
          == errc::failed_precondition);
    CHECK(state_of(*store, id) == job_state::cancelled);
  }
  SECTION("a discarded job retried runs once more") {
    auto j = job_of("q");
    j.max_attempts = 1;
    const auto id = enqueue(*store, j);
    auto claimed = store->claim("q", 1, t0)->front();
    CHECK(*store->fail(id, claimed.epoch, "no", t0, t0) == job_state::discarded);
    REQUIRE_FALSE(store->retry(id, t0 + 1));
    auto again = store->claim("q", 1, t0 + 1);
    REQUIRE(again->size() == 1);
    CHECK(again->front().attempt == 2);
    CHECK(again->front().max_attempts == 2);
    CHECK(microlith::code_of(store->retry(id, t0 + 2)) == errc::failed_precondition);
  }
  SECTION("unknown jobs are not found") {
    CHECK(microlith::code_of(store->cancel(12345, t0)) == errc::not_found);
    CHECK(microlith::code_of(store->retry(12345, t0)) == errc::not_found);
  }
}

TEST_CASE("stats count jobs by queue and state", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  auto store = open_store(dir.path() / "jobs.sqlite");
  enqueue(*store, job_of("a"));
  enqueue(*store, job_of("a"));
  const auto done = enqueue(*store, job_of("b"));
  auto claimed = store->claim("b", 1, t0)->front();
  REQUIRE_FALSE(store->complete(done, claimed.epoch, t0));
  auto stats = store->stats();
  REQUIRE(stats);
  CHECK((*stats)["a"][job_state::available] == 2);
  CHECK((*stats)["b"][job_state::completed] == 1);
  CHECK((*stats)["b"].count(job_state::available) == 0);
}

TEST_CASE("an enqueued job is in the file when enqueue returns", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  const auto file = dir.path() / "jobs.sqlite";
  auto writer = open_store(file, microlith::job_sync::normal);
  const auto id = enqueue(*writer, job_of("q"));
  auto reader = open_store(file); // another connection sees the commit
  CHECK(state_of(*reader, id) == job_state::available);
}

TEST_CASE("a file that is not a writable database is refused naming the file", "[unit]") {
  test_support::temp_folder dir{"jobs"};
  SECTION("not a database") {
    const auto file = dir.path() / "garbage.sqlite";
    std::ofstream(file) << std::string(4096, 'x');
    auto store = job_store::open(file);
    REQUIRE_FALSE(store);
    CHECK_THAT(microlith::describe(store.error()), Contains(file.string()));
    CHECK_THAT(microlith::describe(store.error()), Contains("not a database"));
  }
  SECTION("read-only") {
    if (::geteuid() == 0)
      SUCCEED("root writes read-only files; not checked");
    else {
      const auto file = dir.path() / "ro.sqlite";
      open_store(file);
      fs::remove(dir.path() / "ro.sqlite-wal");
      fs::remove(dir.path() / "ro.sqlite-shm");
      ::chmod(file.c_str(), 0444);
      auto store = job_store::open(file);
      REQUIRE_FALSE(store);
      CHECK_THAT(microlith::describe(store.error()), Contains(file.string()));
      CHECK_THAT(microlith::describe(store.error()), Contains("read"));
    }
  }
  SECTION("a folder that does not exist") {
    const auto file = dir.path() / "missing" / "jobs.sqlite";
    auto store = job_store::open(file);
    REQUIRE_FALSE(store);
    CHECK_THAT(microlith::describe(store.error()), Contains(file.string()));
  }
  SECTION("locked by another connection's write") {
    const auto file = dir.path() / "locked.sqlite";
    open_store(file);
    // An exclusive lock held by another process-like connection; open must not hang.
    sqlite3_locker locker{file};
    auto store = job_store::open(file);
    REQUIRE_FALSE(store);
    CHECK_THAT(microlith::describe(store.error()), Contains(file.string()));
    CHECK_THAT(microlith::describe(store.error()), Contains("locked"));
  }
}
