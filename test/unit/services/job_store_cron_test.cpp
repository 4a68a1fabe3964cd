// Cron ticks and the outbox in the job store (job_store.hpp, job_outbox.hpp,
// services/src/jobs/cron_ticker.hpp; docs/jobs.md "Cron" and "The outbox pattern"): real SQLite
// files in a temp folder, times given by the test. A tick makes one job, also when connections
// race on it; missed ticks skipped or caught up (bounded) when a schedule starts again; a changed
// expression counting from the change; a job written in a caller's own transaction, gone with
// its rollback.
#include "jobs/cron_ticker.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/services/job_outbox.hpp>
#include <microlith/services/job_store.hpp>

#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

namespace fs = std::filesystem;
using microlith::job_store;
using microlith::new_job;
using microlith::detail::cron_plan;
using microlith::detail::cron_schedule;
using microlith::detail::time_zone;

namespace {

// 2027-01-15 08:00:00 UTC, a whole minute, in ms.
constexpr std::int64_t t0 = 1'800'000'000'000 - 1'800'000'000'000 % 60'000;
constexpr std::int64_t minute = 60'000;

std::unique_ptr<job_store> open_store(const fs::path& file) {
  auto store = job_store::open(file);
  if (!store)
    FAIL(microlith::describe(store.error()));
  return std::move(*store);
}

new_job job_of(const std::string& queue) {
  new_job j;
  j.queue = queue;
  j.message_type = "test.Job";
  j.message = "tick";
  return j;
}

cron_plan plan_of(const std::string& name, const std::string& expression, bool catch_up,
                  int max_catch_up = 100) {
  auto schedule = cron_schedule::parse(expression);
  REQUIRE(schedule);
  cron_plan plan{microlith::job_cron_config{}, *schedule, time_zone::utc(), job_of("reports")};
  plan.config.name = name;
  plan.config.schedule = expression;
  plan.config.queue = "reports";
  plan.config.catch_up = catch_up;
  plan.config.max_catch_up = max_catch_up;
  return plan;
}

std::size_t job_count(job_store& store) {
  microlith::job_filter all;
  all.limit = 100000;
  auto jobs = store.list(all);
  REQUIRE(jobs);
  return jobs->size();
}

std::vector<std::int64_t> tick_times(job_store& store, const std::string& name) {
  auto ticks = store.cron_ticks(name);
  REQUIRE(ticks);
  std::vector<std::int64_t> out;
  for (const auto& [at, job] : *ticks)
    out.push_back(at);
  return out;
}

// A connection of the caller's own to `file`.
struct connection {
  sqlite3* db = nullptr;
  explicit connection(const fs::path& file) {
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
  }
  ~connection() { sqlite3_close(db); }
  void exec(const char* sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
    INFO((error != nullptr ? error : ""));
    sqlite3_free(error);
    REQUIRE(rc == SQLITE_OK);
  }
  std::int64_t count(const char* sql) {
    sqlite3_stmt* s = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(s) == SQLITE_ROW);
    const auto n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return n;
  }
};

} // namespace

TEST_CASE("job store a cron tick enqueued twice makes one job", "[unit]") {
  test_support::temp_folder dir;
  auto store = open_store(dir.path() / "jobs.sqlite");
  auto first = store->enqueue_cron_tick("nightly", t0, job_of("reports"), t0);
  REQUIRE(first);
  CHECK_FALSE(first->duplicate);
  auto again = store->enqueue_cron_tick("nightly", t0, job_of("reports"), t0 + 5);
  REQUIRE(again);
  CHECK(again->duplicate);
  CHECK(again->id == first->id);
  // Another schedule's tick at the same instant is its own.
  auto other = store->enqueue_cron_tick("hourly", t0, job_of("reports"), t0);
  REQUIRE(other);
  CHECK_FALSE(other->duplicate);
  CHECK(job_count(*store) == 2);
  auto ticks = store->cron_ticks("nightly");
  REQUIRE(ticks);
  REQUIRE(ticks->size() == 1);
  CHECK((*ticks)[0] == std::make_pair(t0, first->id));
}

TEST_CASE("job store cron keeps the newest ticks of a schedule and refuses a pruned tick",
          "[unit]") {
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  // A file whose cron_schedules was made before floors: the store adds the column.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TABLE cron_schedules (schedule TEXT PRIMARY KEY, expression TEXT "
                         "NOT NULL, zone TEXT NOT NULL, since INTEGER NOT NULL)",
                         nullptr, nullptr, nullptr)
            == SQLITE_OK);
    sqlite3_close(db);
  }
  auto opened = job_store::open(file, microlith::job_sync::normal);
  REQUIRE(opened);
  auto& store = **opened;
  REQUIRE(store.cron_seen("minutely", "* * * * *", "UTC", t0));
  constexpr auto kept = job_store::cron_ticks_kept;
  for (std::int64_t i = 1; i <= kept + 5; ++i) {
    auto done =
      store.enqueue_cron_tick("minutely", t0 + i * minute, job_of("reports"), t0 + i * minute);
    REQUIRE(done);
    REQUIRE_FALSE(done->duplicate);
  }
  auto ticks = tick_times(store, "minutely");
  REQUIRE(ticks.size() == static_cast<std::size_t>(kept));
  CHECK(ticks.front() == t0 + 6 * minute); // ticks 1 to 5 pruned
  CHECK(ticks.back() == t0 + (kept + 5) * minute);
  // A pruned tick is refused, not enqueued again; a kept one answers its job.
  auto pruned = store.enqueue_cron_tick("minutely", t0 + 2 * minute, job_of("reports"), t0);
  REQUIRE(pruned);
  CHECK(pruned->duplicate);
  CHECK(pruned->id == 0);
  auto present = store.enqueue_cron_tick("minutely", t0 + 6 * minute, job_of("reports"), t0);
  REQUIRE(present);
  CHECK(present->duplicate);
  CHECK(present->id != 0);
  CHECK(job_count(store) == static_cast<std::size_t>(kept + 5));
  // The missed ticks of a restart count from the last tick, as before.
  auto since = store.cron_seen("minutely", "* * * * *", "UTC", t0 + (kept + 10) * minute);
  REQUIRE(since);
  CHECK(*since == t0 + (kept + 5) * minute);
}

TEST_CASE("job store four connections racing on the same cron ticks enqueue each once", "[unit]") {
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  open_store(file); // the schema
  constexpr int ticks = 25;
  std::vector<std::unique_ptr<job_store>> stores;
  for (int i = 0; i < 4; ++i)
    stores.push_back(open_store(file));
  std::vector<std::set<std::int64_t>> fresh(4);
  std::vector<std::string> failures(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int k = 0; k < ticks; ++k) {
        auto done = stores[i]->enqueue_cron_tick("every-minute", t0 + k * minute, job_of("reports"),
                                                 t0 + k * minute);
        if (!done)
          failures[i] = microlith::describe(done.error());
        else if (!done->duplicate)
          fresh[i].insert(done->id);
      }
    });
  for (auto& t : threads)
    t.join();
  for (const auto& f : failures)
    CHECK(f.empty());
  std::set<std::int64_t> all;
  std::size_t made = 0;
  for (const auto& f : fresh) {
    made += f.size();
    all.insert(f.begin(), f.end());
  }
  CHECK(made == ticks);
  CHECK(all.size() == ticks);
  CHECK(job_count(*stores[0]) == ticks);
  CHECK(tick_times(*stores[0], "every-minute").size() == ticks);
}

TEST_CASE("job store cron missed ticks are skipped or caught up when a schedule starts again",
          "[unit]") {
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  SECTION("first seen: nothing is missed") {
    auto store = open_store(file);
    auto started = start_cron_schedule(*store, plan_of("m", "* * * * *", true), t0 + 30'000);
    REQUIRE(started);
    CHECK(started->enqueued == 0);
    CHECK(started->skipped == 0);
    CHECK(job_count(*store) == 0);
  }
  // A first run from t0 that enqueued the ticks up to t0 + 2 min, then stopped.
  {
    auto store = open_store(file);
    auto started = start_cron_schedule(*store, plan_of("m", "* * * * *", true), t0);
    REQUIRE(started);
    std::size_t enqueued = 0;
    auto cursor = microlith::detail::enqueue_due_ticks(*store, plan_of("m", "* * * * *", true),
                                                       started->cursor, t0 + 2 * minute, enqueued);
    REQUIRE(cursor);
    CHECK(*cursor == t0 + 2 * minute);
    CHECK(enqueued == 2);
  }
  SECTION("catch_up enqueues every missed tick") {
    auto store = open_store(file);
    auto started =
      start_cron_schedule(*store, plan_of("m", "* * * * *", true), t0 + 10 * minute + 30'000);
    REQUIRE(started);
    CHECK(started->enqueued == 8);
    CHECK(started->dropped == 0);
    CHECK(started->cursor == t0 + 10 * minute + 30'000);
    std::vector<std::int64_t> expected;
    for (int k = 1; k <= 10; ++k)
      expected.push_back(t0 + k * minute);
    CHECK(tick_times(*store, "m") == expected);
    CHECK(job_count(*store) == 10);
    SECTION("and a second start at the same time enqueues nothing more") {
      auto again =
        start_cron_schedule(*store, plan_of("m", "* * * * *", true), t0 + 10 * minute + 40'000);
      REQUIRE(again);
      CHECK(again->enqueued == 0);
      CHECK(job_count(*store) == 10);
    }
  }
  SECTION("catch_up keeps the newest max_catch_up and drops the oldest") {
    auto store = open_store(file);
    auto started =
      start_cron_schedule(*store, plan_of("m", "* * * * *", true, 3), t0 + 10 * minute);
    REQUIRE(started);
    CHECK(started->enqueued == 3);
    CHECK(started->dropped == 5);
    CHECK(tick_times(*store, "m")
          == std::vector<std::int64_t>{t0 + minute, t0 + 2 * minute, t0 + 8 * minute,
                                       t0 + 9 * minute, t0 + 10 * minute});
  }
  SECTION("skip enqueues none of them and ticks on from now") {
    auto store = open_store(file);
    auto started =
      start_cron_schedule(*store, plan_of("m", "* * * * *", false), t0 + 10 * minute + 30'000);
    REQUIRE(started);
    CHECK(started->enqueued == 0);
    CHECK(started->skipped == 8);
    CHECK(started->cursor == t0 + 10 * minute + 30'000);
    CHECK(job_count(*store) == 2);
  }
  SECTION("a changed expression counts its missed ticks from the change") {
    auto store = open_store(file);
    auto started =
      start_cron_schedule(*store, plan_of("m", "*/5 * * * *", true), t0 + 10 * minute + 30'000);
    REQUIRE(started);
    CHECK(started->enqueued == 0);
    CHECK(job_count(*store) == 2);
    // Seen again with the new expression: its missed ticks count from the change.
    auto later =
      start_cron_schedule(*store, plan_of("m", "*/5 * * * *", true), t0 + 20 * minute + 30'000);
    REQUIRE(later);
    CHECK(later->enqueued == 2); // t0 + 15 min and t0 + 20 min
  }
}

TEST_CASE("job store cron ticks the running ticker finds too late are missed ticks", "[unit]") {
  using microlith::detail::continue_cron_schedule;
  using microlith::detail::cron_late_bound_ms;
  test_support::temp_folder dir;
  auto store = open_store(dir.path() / "jobs.sqlite");
  // Started at t0 (nothing missed); every tick up to t0 + 2 min done on time.
  REQUIRE(start_cron_schedule(*store, plan_of("m", "* * * * *", false), t0));
  auto on_time =
    continue_cron_schedule(*store, plan_of("m", "* * * * *", false), t0, t0 + 2 * minute + 5);
  REQUIRE(on_time);
  CHECK(on_time->enqueued == 2);
  CHECK(on_time->skipped == 0);
  const std::int64_t cursor = on_time->cursor;
  REQUIRE(cursor >= t0 + 2 * minute);
  // The process stalls for a year (a suspended machine, a clock set forward).
  const std::int64_t year_later = t0 + 365LL * 24 * 60 * minute + 30'000;
  const std::int64_t late_ticks = cron_late_bound_ms / minute; // within the bound: enqueued
  SECTION("skip: only the ticks within the late bound are enqueued") {
    auto step =
      continue_cron_schedule(*store, plan_of("m", "* * * * *", false), cursor, year_later);
    REQUIRE(step);
    CHECK(step->enqueued == static_cast<std::size_t>(late_ticks));
    CHECK(step->skipped > 500'000);
    CHECK(step->cursor >= year_later - 30'000);
    CHECK(job_count(*store) == 2 + late_ticks);
  }
  SECTION("catch_up: at most max_catch_up missed ticks and those within the bound") {
    auto step =
      continue_cron_schedule(*store, plan_of("m", "* * * * *", true, 3), cursor, year_later);
    REQUIRE(step);
    CHECK(step->enqueued == static_cast<std::size_t>(3 + late_ticks));
    CHECK(step->dropped > 500'000);
    CHECK(job_count(*store) == 2 + 3 + late_ticks);
  }
  SECTION("a tick a little late is enqueued, not missed") {
    auto step = continue_cron_schedule(*store, plan_of("m", "* * * * *", false), cursor,
                                       t0 + 3 * minute + cron_late_bound_ms - 1);
    REQUIRE(step);
    CHECK(step->skipped == 0);
    CHECK(step->enqueued == static_cast<std::size_t>(late_ticks));
  }
}

TEST_CASE("job store outbox a job written in the caller's transaction commits with it", "[unit]") {
  test_support::temp_folder dir;
  const auto file = dir.path() / "jobs.sqlite";
  auto store = open_store(file);
  connection own{file};
  own.exec("CREATE TABLE payments (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)");
  SECTION("a rollback leaves neither the row nor the job") {
    own.exec("BEGIN IMMEDIATE");
    own.exec("INSERT INTO payments VALUES ('p1', 100)");
    auto job = microlith::enqueue_in_transaction(own.db, job_of("webhooks"), t0);
    REQUIRE(job);
    CHECK_FALSE(job->duplicate);
    own.exec("ROLLBACK");
    CHECK(own.count("SELECT count(*) FROM payments") == 0);
    CHECK(job_count(*store) == 0);
  }
  SECTION("a commit makes both, and the job is claimed by the store") {
    own.exec("BEGIN IMMEDIATE");
    own.exec("INSERT INTO payments VALUES ('p1', 100)");
    auto job = microlith::enqueue_in_transaction(own.db, job_of("webhooks"), t0);
    REQUIRE(job);
    own.exec("COMMIT");
    CHECK(own.count("SELECT count(*) FROM payments") == 1);
    auto claimed = store->claim("webhooks", 10, t0);
    REQUIRE(claimed);
    REQUIRE(claimed->size() == 1);
    CHECK(claimed->front().id == job->id);
  }
  SECTION("a held unique key adds no job and keeps the caller's writes") {
    auto holder = job_of("webhooks");
    holder.unique_key = "payment:p1";
    holder.unique_period_ms = 60'000;
    auto first = store->enqueue(holder, t0);
    REQUIRE(first);
    own.exec("BEGIN IMMEDIATE");
    own.exec("INSERT INTO payments VALUES ('p1', 100)");
    auto job = microlith::enqueue_in_transaction(own.db, holder, t0 + 1);
    REQUIRE(job);
    CHECK(job->duplicate);
    CHECK(job->id == first->id);
    own.exec("COMMIT");
    CHECK(own.count("SELECT count(*) FROM payments") == 1);
    CHECK(job_count(*store) == 1);
  }
  SECTION("without a transaction it is refused") {
    auto job = microlith::enqueue_in_transaction(own.db, job_of("webhooks"), t0);
    REQUIRE_FALSE(job);
    CHECK(microlith::is(job.error(), microlith::errc::failed_precondition));
    CHECK(job_count(*store) == 0);
  }
}
