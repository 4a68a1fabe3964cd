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
// - enqueue latency: the p50 and p99 of the enqueues above;
// - end to end: a real host (its `jobs` group, a queue of --concurrency workers calling a
//   trivial service) runs --jobs jobs enqueued by --threads threads through enqueue_job (the
//   blocking form of ctx.enqueue: a call of the `jobs` service, answered once committed); jobs
//   per second from the first enqueue until the last job is completed in the file, and the p50
//   and p99 of those enqueues.
// The medians of the runs are printed, with store / raw and end to end / raw. With --postgres,
// the same three on PostgreSQL (a server the program starts for each run, fsync on): the raw
// floor with libpq, the store and the host on `[jobs] database = "postgresql://..."`.
//
// Exits 0 when it measured, 1 when the store failed, 2 on bad usage.
#include <microlith/actors/error.hpp>
#include <microlith/actors/log.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/job_store.hpp>
#include <microlith/services/jobs_client.hpp>
#include <microlith/services/keep_freed_heap.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include "proto/bench.pb.h"
#include "support/postgres_server.hpp"
#include "support/temp_folder.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>
#include <sqlite3.h>

#include <fmt/format.h>

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  int jobs = 5000;
  int runs = 5;
  int batch = 100;
  int threads = 8;
  int concurrency = 16;
  bool trim_default = false;
  bool postgres = false; // also measure the PostgreSQL store, on a server of its own
};

struct figures {
  double raw_per_s = 0;
  double store_per_s = 0;
  double enqueue_p50_us = 0;
  double enqueue_p99_us = 0;
  double e2e_per_s = 0;
  double e2e_enqueue_p50_us = 0;
  double e2e_enqueue_p99_us = 0;
};

// The queue's service: a trivial job, answered at once.
struct sink_state {
  microlith::reply<bench::PingReply> ping(microlith::call_context&, const bench::PingRequest& r) {
    bench::PingReply out;
    out.set_value(r.value());
    return out;
  }
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
std::pair<double, std::vector<double>> store_run(const std::string& database, bool full,
                                                 const options& o) {
  auto opened = microlith::job_store::open_database(database, full ? microlith::job_sync::full
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

/// Completed jobs in the store's file, read on a connection of its own.
class completed_counter {
public:
  explicit completed_counter(const std::string& file) {
    if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
      fail("cannot open " + file);
    sqlite3_busy_timeout(db_, 5000);
    if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM jobs WHERE state = 'completed'", -1, &count_,
                           nullptr)
        != SQLITE_OK)
      fail(sqlite3_errmsg(db_));
  }
  ~completed_counter() {
    sqlite3_finalize(count_);
    sqlite3_close(db_);
  }
  completed_counter(const completed_counter&) = delete;
  completed_counter& operator=(const completed_counter&) = delete;

  int get() {
    int n = -1;
    if (sqlite3_step(count_) == SQLITE_ROW)
      n = sqlite3_column_int(count_, 0);
    sqlite3_reset(count_);
    return n;
  }

private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
};

/// Completed jobs in a PostgreSQL store, read on a connection of its own.
class postgres_completed_counter {
public:
  explicit postgres_completed_counter(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK)
      fail(std::string("cannot connect to ") + url + ": " + PQerrorMessage(conn_));
  }
  ~postgres_completed_counter() { PQfinish(conn_); }
  postgres_completed_counter(const postgres_completed_counter&) = delete;
  postgres_completed_counter& operator=(const postgres_completed_counter&) = delete;

  int get() {
    PGresult* r = PQexec(conn_, "SELECT count(*) FROM microlith.jobs WHERE state = 'completed'");
    int n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
      n = std::atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
  }

private:
  PGconn* conn_;
};

/// Jobs per second through a running host, enqueue to completion, and the enqueue latencies.
/// `postgres_url`: the host's store is that database rather than a SQLite file in `dir`.
std::pair<double, std::vector<double>> end_to_end_run(const std::filesystem::path& dir, bool full,
                                                      const options& o,
                                                      const std::string& postgres_url = {}) {
  const auto text = fmt::format(R"toml(
[system]
name = "jobs-bench"
threads = 2

[jobs]
database = "{}"
synchronous = "{}"
poll_interval = "1s"

[groups.sink]
module = "bench.jobs"

[groups.sink.jobs.bench]
method = "sink.Ping"
concurrency = {}
)toml",
                                postgres_url.empty() ? "jobs.sqlite" : postgres_url,
                                full ? "full" : "normal", o.concurrency);
  const auto file = dir / "jobs-bench.toml";
  auto config = microlith::parse_system_file(text, file.string());
  microlith::node node{microlith::node_options_for(config)};
  microlith::host host{node, config, microlith::module_catalogue::global()};
  if (auto err = host.start())
    fail("the host did not start: " + microlith::describe(err));
  std::unique_ptr<completed_counter> in_file;
  std::unique_ptr<postgres_completed_counter> in_database;
  if (postgres_url.empty())
    in_file = std::make_unique<completed_counter>((dir / "jobs.sqlite").string());
  else
    in_database = std::make_unique<postgres_completed_counter>(postgres_url);
  auto completed_now = [&] { return in_file ? in_file->get() : in_database->get(); };
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(o.threads));
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  const auto start = clock_type::now();
  std::vector<std::thread> enqueuers;
  for (int t = 0; t < o.threads; ++t)
    enqueuers.emplace_back([&, t] {
      bench::PingRequest job;
      for (int i = next++; i < o.jobs && !failed; i = next++) {
        job.set_value(i);
        const auto before = clock_type::now();
        if (auto id = microlith::enqueue_job(node, "bench", job); !id) {
          std::fprintf(stderr, "jobs_bench: enqueue: %s\n",
                       microlith::describe(id.error()).c_str());
          failed = true;
          return;
        }
        latencies[static_cast<std::size_t>(t)].push_back(
          std::chrono::duration<double, std::micro>(clock_type::now() - before).count());
      }
    });
  for (auto& e : enqueuers)
    e.join();
  if (failed)
    fail("an enqueue failed");
  // Every job completed in the file (60 s at most: a bound, not a figure).
  const auto give_up = clock_type::now() + std::chrono::seconds(60);
  while (completed_now() < o.jobs) {
    if (clock_type::now() > give_up)
      fail(fmt::format("{} of {} jobs completed after 60 s", completed_now(), o.jobs));
    // Not more often: each look counts the completed rows, a scan that would take CPU from
    // the system measured (5 ms is 1 % of a run of 5,000 jobs at 10,000 jobs/s).
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double rate = o.jobs / seconds_since(start);
  host.stop();
  node.shutdown();
  std::vector<double> all;
  for (auto& l : latencies)
    all.insert(all.end(), l.begin(), l.end());
  return {rate, all};
}

figures measure(bool full, const options& o) {
  std::vector<double> raw, store, p50, p99, e2e, e2e_p50, e2e_p99;
  for (int run = 0; run < o.runs; ++run) {
    test_support::temp_folder dir{"jobs-bench"};
    raw.push_back(raw_floor((dir.path() / "raw.sqlite").string(), full, o.jobs));
    auto [rate, latencies] = store_run((dir.path() / "jobs.sqlite").string(), full, o);
    store.push_back(rate);
    std::sort(latencies.begin(), latencies.end());
    p50.push_back(latencies[latencies.size() / 2]);
    p99.push_back(latencies[latencies.size() * 99 / 100]);
    const auto e2e_dir = dir.path() / "end-to-end";
    std::filesystem::create_directories(e2e_dir);
    auto [e2e_rate, e2e_latencies] = end_to_end_run(e2e_dir, full, o);
    e2e.push_back(e2e_rate);
    std::sort(e2e_latencies.begin(), e2e_latencies.end());
    e2e_p50.push_back(e2e_latencies[e2e_latencies.size() / 2]);
    e2e_p99.push_back(e2e_latencies[e2e_latencies.size() * 99 / 100]);
  }
  return {median(raw), median(store),   median(p50),    median(p99),
          median(e2e), median(e2e_p50), median(e2e_p99)};
}

void pg_exec(PGconn* conn, const char* sql) {
  PGresult* r = PQexec(conn, sql);
  const auto status = PQresultStatus(r);
  PQclear(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
    fail(fmt::format("{}: {}", sql, PQerrorMessage(conn)));
}

/// As raw_floor, on a PostgreSQL server: one insert then one update per row, each its own
/// transaction (autocommit), statements prepared once.
double postgres_raw_floor(const std::string& url, int n) {
  PGconn* conn = PQconnectdb(url.c_str());
  if (PQstatus(conn) != CONNECTION_OK)
    fail(std::string("cannot connect to ") + url + ": " + PQerrorMessage(conn));
  pg_exec(conn, "CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, queue TEXT, type TEXT, message "
                "BYTEA, state TEXT, run_at BIGINT)");
  auto prepare = [&](const char* name, const char* sql, int params) {
    PGresult* r = PQprepare(conn, name, sql, params, nullptr);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
      fail(fmt::format("{}: {}", sql, PQerrorMessage(conn)));
  };
  prepare("insert",
          "INSERT INTO raw_jobs (queue, type, message, state, run_at) VALUES ('bench', "
          "'bench.Job', '\\x0a0474657374', 'available', 0)",
          0);
  prepare("update", "UPDATE raw_jobs SET state = 'completed' WHERE id = $1::bigint", 1);
  auto run = [&](const char* name, const char* value) {
    const char* values[] = {value};
    PGresult* r = PQexecPrepared(conn, name, value != nullptr ? 1 : 0, values, nullptr, nullptr, 0);
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok)
      fail(PQerrorMessage(conn));
  };
  const auto start = clock_type::now();
  for (int i = 0; i < n; ++i)
    run("insert", nullptr);
  for (int i = 1; i <= n; ++i)
    run("update", std::to_string(i).c_str());
  const double rate = n / seconds_since(start);
  PQfinish(conn);
  return rate;
}

/// The three figures on PostgreSQL: a server of its own for each run (fsync on, the server's
/// defaults otherwise), so that every run starts on an empty database.
figures measure_postgres(const options& o) {
  std::vector<double> raw, store, p50, p99, e2e, e2e_p50, e2e_p99;
  for (int run = 0; run < o.runs; ++run) {
    test_support::postgres_server server{true};
    raw.push_back(postgres_raw_floor(server.url(), o.jobs));
    {
      auto [rate, latencies] = store_run(server.url(), true, o);
      store.push_back(rate);
      std::sort(latencies.begin(), latencies.end());
      p50.push_back(latencies[latencies.size() / 2]);
      p99.push_back(latencies[latencies.size() * 99 / 100]);
    }
    {
      // The store's jobs are the end-to-end run's too: start it on an empty schema.
      PGconn* conn = PQconnectdb(server.url().c_str());
      pg_exec(conn, "DROP SCHEMA microlith CASCADE");
      PQfinish(conn);
    }
    test_support::temp_folder dir{"jobs-bench"};
    auto [rate, latencies] = end_to_end_run(dir.path(), true, o, server.url());
    e2e.push_back(rate);
    std::sort(latencies.begin(), latencies.end());
    e2e_p50.push_back(latencies[latencies.size() / 2]);
    e2e_p99.push_back(latencies[latencies.size() * 99 / 100]);
  }
  return {median(raw), median(store),   median(p50),    median(p99),
          median(e2e), median(e2e_p50), median(e2e_p99)};
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

MICROLITH_MODULE(bench_jobs) {
  return microlith::module_definition{"bench.jobs"}.group("sink", [](microlith::group_context& g) {
    return microlith::children{g.service(
      microlith::service<sink_state>("sink", "bench.Echo").handle("Ping", &sink_state::ping))};
  });
}

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
    } else if (i + 1 < argc && arg == "--threads") {
      o.threads = int_argument(argv[++i], "--threads");
    } else if (i + 1 < argc && arg == "--concurrency") {
      o.concurrency = int_argument(argv[++i], "--concurrency");
    } else if (arg == "--trim-default") {
      o.trim_default = true;
    } else if (arg == "--postgres") {
      o.postgres = true;
    } else {
      std::fprintf(stderr, "usage: jobs_bench [--jobs N] [--runs N] [--batch N] [--threads N] "
                           "[--concurrency N] [--trim-default] [--postgres]\n");
      return 2;
    }
  }
  if (o.concurrency > 1000) {
    std::fprintf(stderr, "jobs_bench: --concurrency expects 1 to 1000 (a queue's limit)\n");
    return 2;
  }
  microlith::log::set_level(microlith::log::level::warn);
  // As `microlith run` does; --trim-default measures glibc's default instead.
  const bool kept = !o.trim_default && microlith::keep_freed_heap();
  std::printf("jobs %d, runs %d (medians), claim batch %d; end to end: %d enqueueing threads, "
              "%d workers; freed heap %s\n",
              o.jobs, o.runs, o.batch, o.threads, o.concurrency,
              kept             ? "kept (keep_freed_heap)"
              : o.trim_default ? "given back at glibc's default threshold"
                               : "as the environment sets it");
  std::printf("%-11s %12s %13s %10s %12s %12s %13s %10s %12s %12s\n", "synchronous", "raw rows/s",
              "store jobs/s", "store/raw", "enq p50 us", "enq p99 us", "e2e jobs/s", "e2e/raw",
              "e2e p50 us", "e2e p99 us");
  auto print = [](const char* name, const figures& f) {
    std::printf("%-11s %12.0f %13.0f %10.2f %12.1f %12.1f %13.0f %10.2f %12.1f %12.1f\n", name,
                f.raw_per_s, f.store_per_s, f.store_per_s / f.raw_per_s, f.enqueue_p50_us,
                f.enqueue_p99_us, f.e2e_per_s, f.e2e_per_s / f.raw_per_s, f.e2e_enqueue_p50_us,
                f.e2e_enqueue_p99_us);
  };
  for (const bool full : {false, true})
    print(full ? "FULL" : "NORMAL", measure(full, o));
  if (o.postgres)
    print("PostgreSQL", measure_postgres(o));
  return 0;
}
