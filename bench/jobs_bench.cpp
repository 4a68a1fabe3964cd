// The job store (job_store.hpp, docs/jobs.md) against raw SQLite on the same disk, in the same
// run. A program, not a Google Benchmark binary: it prints its own table (docs/benchmarks.md,
// "Jobs").
//
// For each of synchronous=NORMAL and FULL, --runs times on a fresh file in a temp folder:
// - raw floor: --jobs rows inserted one transaction each, then each updated in its own
//   transaction (what a job costs at least: one commit to record it, one to finish it);
// - store: --jobs jobs enqueued one by one (each enqueue() returns after its commit), then
//   claimed in batches of --batch (one statement each) and each completed (one commit each);
//   jobs per second = jobs / (time to enqueue + time to claim and complete all);
// - enqueue latency: the p50 and p99 of the enqueues above.
// The medians of the runs are printed, with store / raw. The store is measured without the
// runtime around it (no worker actors, no service calls): the runner is not built yet.
//
// Exits 0 when it measured, 1 when the store failed, 2 on bad usage.
#include <microlith/actors/error.hpp>
#include <microlith/services/job_store.hpp>

#include "support/temp_folder.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <sqlite3.h>

#include <fmt/format.h>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  int jobs = 5000;
  int runs = 5;
  int batch = 100;
};

struct figures {
  double raw_per_s = 0;
  double store_per_s = 0;
  double enqueue_p50_us = 0;
  double enqueue_p99_us = 0;
};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "jobs_bench: %s\n", what.c_str());
  std::exit(1);
}

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    fail(fmt::format("{}: {}", sql, sqlite3_errmsg(db)));
}

/// Rows per second of one insert then one update per row, each its own transaction.
double raw_floor(const std::string& file, bool full, int n) {
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK)
    fail("cannot open " + file);
  exec(db, "PRAGMA journal_mode=WAL");
  exec(db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  exec(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, queue TEXT, type TEXT, message BLOB, "
           "state TEXT, run_at INTEGER)");
  sqlite3_stmt* insert = nullptr;
  sqlite3_stmt* update = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO t (queue, type, message, state, run_at) VALUES ('bench', "
                     "'bench.Job', x'0a0474657374', 'available', 0)",
                     -1, &insert, nullptr);
  sqlite3_prepare_v2(db, "UPDATE t SET state = 'completed' WHERE id = ?", -1, &update, nullptr);
  const auto start = clock_type::now();
  for (int i = 0; i < n; ++i) {
    if (sqlite3_step(insert) != SQLITE_DONE)
      fail(sqlite3_errmsg(db));
    sqlite3_reset(insert);
  }
  for (int i = 1; i <= n; ++i) {
    sqlite3_bind_int64(update, 1, i);
    if (sqlite3_step(update) != SQLITE_DONE)
      fail(sqlite3_errmsg(db));
    sqlite3_reset(update);
  }
  const double rate = n / seconds_since(start);
  sqlite3_finalize(insert);
  sqlite3_finalize(update);
  sqlite3_close(db);
  return rate;
}

/// Jobs per second through the store, and the enqueue latencies (µs).
std::pair<double, std::vector<double>> store_run(const std::string& file, bool full,
                                                 const options& o) {
  auto opened = microlith::job_store::open(file, full ? microlith::job_sync::full
                                                      : microlith::job_sync::normal);
  if (!opened)
    fail(microlith::describe(opened.error()));
  auto& store = **opened;
  microlith::new_job job;
  job.queue = "bench";
  job.message_type = "bench.Job";
  job.message = std::string("\x0a\x04test", 6);
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(o.jobs));
  const auto start = clock_type::now();
  for (int i = 0; i < o.jobs; ++i) {
    const auto before = clock_type::now();
    if (auto id = store.enqueue(job, microlith::job_clock_now()); !id)
      fail(microlith::describe(id.error()));
    latencies.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - before).count());
  }
  int done = 0;
  while (done < o.jobs) {
    auto claimed =
      store.claim("bench", static_cast<std::size_t>(o.batch), microlith::job_clock_now());
    if (!claimed)
      fail(microlith::describe(claimed.error()));
    if (claimed->empty())
      fail("the store answered no job while some were left");
    for (const auto& c : *claimed) {
      if (auto err = store.complete(c.id, c.epoch, microlith::job_clock_now()))
        fail(microlith::describe(err));
      ++done;
    }
  }
  return {o.jobs / seconds_since(start), latencies};
}

figures measure(bool full, const options& o) {
  std::vector<double> raw, store, p50, p99;
  for (int run = 0; run < o.runs; ++run) {
    test_support::temp_folder dir{"jobs-bench"};
    raw.push_back(raw_floor((dir.path() / "raw.sqlite").string(), full, o.jobs));
    auto [rate, latencies] = store_run((dir.path() / "jobs.sqlite").string(), full, o);
    store.push_back(rate);
    std::sort(latencies.begin(), latencies.end());
    p50.push_back(latencies[latencies.size() / 2]);
    p99.push_back(latencies[latencies.size() * 99 / 100]);
  }
  return {median(raw), median(store), median(p50), median(p99)};
}

int int_argument(const char* text, const char* name) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > 10'000'000) {
    std::fprintf(stderr, "jobs_bench: %s expects an integer from 1 to 10000000, got \"%s\"\n", name,
                 text);
    std::exit(2);
  }
  return static_cast<int>(v);
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--jobs") {
      o.jobs = int_argument(argv[++i], "--jobs");
    } else if (i + 1 < argc && arg == "--runs") {
      o.runs = int_argument(argv[++i], "--runs");
    } else if (i + 1 < argc && arg == "--batch") {
      o.batch = int_argument(argv[++i], "--batch");
    } else {
      std::fprintf(stderr, "usage: jobs_bench [--jobs N] [--runs N] [--batch N]\n");
      return 2;
    }
  }
  std::printf("jobs %d, runs %d (medians), claim batch %d\n", o.jobs, o.runs, o.batch);
  std::printf("%-11s %14s %16s %12s %16s %16s\n", "synchronous", "raw rows/s", "store jobs/s",
              "store/raw", "enqueue p50 us", "enqueue p99 us");
  for (const bool full : {false, true}) {
    const figures f = measure(full, o);
    std::printf("%-11s %14.0f %16.0f %12.2f %16.1f %16.1f\n", full ? "FULL" : "NORMAL", f.raw_per_s,
                f.store_per_s, f.store_per_s / f.raw_per_s, f.enqueue_p50_us, f.enqueue_p99_us);
  }
  return 0;
}
