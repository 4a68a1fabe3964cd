// The SQLite store of background jobs; see microlith/services/job_store.hpp and
// sqlite_job_store.hpp.
//
// Two tables and one of unique keys:
// - jobs: one row per job; `epoch` grows on every claim, rescue and cancel, and every answer
//   for an attempt is an UPDATE ... WHERE epoch = ? AND state = 'executing', so a stale one
//   changes nothing and is refused.
// - job_errors: one row per failed attempt (job_id, attempt), kept when the job is discarded.
// - jobs.node, jobs.node_instance: who claimed the current or last attempt (job_holder). Added
//   by open() to a file made before them (rows: held by nobody, '').
// - job_unique_keys: the key is the primary key. enqueue() inserts the job, then upserts its
//   key, taking it over only when the holder's period has ended; when the upsert changes no
//   row the key is held, the transaction is rolled back and the holder's id answered. The
//   decision is the constraint's, inside the writer's transaction, not a lookup before it.
#include "jobs/sqlite_job_store.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/services/job_outbox.hpp"

#include "jobs/new_job_check.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <sqlite3.h>

#include <fmt/format.h>

namespace microlith {

namespace fs = std::filesystem;

namespace {

constexpr const char* create_schema = R"sql(
  CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_type TEXT NOT NULL,
    message BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('available', 'scheduled', 'executing', 'retryable',
                                         'completed', 'discarded', 'cancelled')),
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    priority INTEGER NOT NULL DEFAULT 0,
    run_at INTEGER NOT NULL,
    timeout_ms INTEGER NOT NULL DEFAULT 0,
    unique_key TEXT NOT NULL DEFAULT '',
    epoch INTEGER NOT NULL DEFAULT 0,
    inserted_at INTEGER NOT NULL,
    attempted_at INTEGER NOT NULL DEFAULT 0,
    finished_at INTEGER NOT NULL DEFAULT 0,
    node TEXT NOT NULL DEFAULT '',
    node_instance TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX IF NOT EXISTS jobs_due ON jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
  CREATE TABLE IF NOT EXISTS job_errors (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at INTEGER NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt)
  );
  CREATE TABLE IF NOT EXISTS job_unique_keys (
    unique_key TEXT PRIMARY KEY,
    job_id INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  );
)sql";

// After the holder columns exist (a file made before them gets them first).
constexpr const char* create_holder_index = R"sql(
  CREATE INDEX IF NOT EXISTS jobs_executing ON jobs (id) WHERE state = 'executing';
  CREATE INDEX IF NOT EXISTS jobs_executing_holder ON jobs (node, node_instance)
    WHERE state = 'executing';
)sql";

// Cron schedules: made on their first use, so that a store without schedules has none.
// cron_schedules: each schedule's expression and zone, since when they are in force (the
// start of its missed ticks when it has no tick yet), and its floor: ticks before it were
// pruned and are refused. cron_ticks: one row per enqueued tick, the newest cron_ticks_kept of
// each schedule.
constexpr const char* create_cron_schema = R"sql(
  CREATE TABLE IF NOT EXISTS cron_schedules (
    schedule TEXT PRIMARY KEY,
    expression TEXT NOT NULL,
    zone TEXT NOT NULL,
    since INTEGER NOT NULL,
    pruned_before INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE IF NOT EXISTS cron_ticks (
    schedule TEXT NOT NULL,
    tick_at INTEGER NOT NULL,
    job_id INTEGER NOT NULL,
    PRIMARY KEY (schedule, tick_at)
  );
)sql";

constexpr const char* record_columns =
  "SELECT id, queue, message_type, message, state, attempt, max_attempts, priority, run_at, "
  "timeout_ms, unique_key, epoch, inserted_at, attempted_at, finished_at, node, node_instance "
  "FROM jobs";

/// A use of a prepared statement kept by the store: reset, its bindings cleared, when the use
/// ends (so it never holds a read or write open), and kept for the next use.
class statement {
public:
  explicit statement(sqlite3_stmt* s = nullptr) noexcept : s_(s) {}
  ~statement() { reset(); }
  statement(statement&& other) noexcept : s_(other.s_) { other.s_ = nullptr; }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  statement& operator=(statement&&) = delete;
  sqlite3_stmt* get() const noexcept { return s_; }
  explicit operator bool() const noexcept { return s_ != nullptr; }
  /// Ends the use now.
  void reset() noexcept {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
      s_ = nullptr;
    }
  }

private:
  sqlite3_stmt* s_;
};

int bind_text(sqlite3_stmt* s, int index, const std::string& text) {
  return sqlite3_bind_text64(s, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

int bind_blob(sqlite3_stmt* s, int index, const std::string& bytes) {
  return sqlite3_bind_blob64(s, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
}

std::string text_of(sqlite3_stmt* s, int column) {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(s, column));
  if (p == nullptr)
    return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
}

job_record record_of(sqlite3_stmt* s) {
  job_record r;
  r.id = sqlite3_column_int64(s, 0);
  r.queue = text_of(s, 1);
  r.message_type = text_of(s, 2);
  r.message = text_of(s, 3);
  r.state = job_state_named(text_of(s, 4)).value_or(job_state::available);
  r.attempt = sqlite3_column_int(s, 5);
  r.max_attempts = sqlite3_column_int(s, 6);
  r.priority = sqlite3_column_int(s, 7);
  r.run_at = sqlite3_column_int64(s, 8);
  r.timeout_ms = sqlite3_column_int64(s, 9);
  r.unique_key = text_of(s, 10);
  r.epoch = sqlite3_column_int64(s, 11);
  r.inserted_at = sqlite3_column_int64(s, 12);
  r.attempted_at = sqlite3_column_int64(s, 13);
  r.finished_at = sqlite3_column_int64(s, 14);
  r.holder.node = text_of(s, 15);
  r.holder.instance = text_of(s, 16);
  return r;
}

} // namespace

struct sqlite_job_store::impl {
  fs::path file;
  job_holder holder; // recorded by claim()
  sqlite3* db = nullptr;
  std::mutex mutex; // one connection, used by one thread at a time
  std::unordered_map<std::string, sqlite3_stmt*> prepared; // by SQL text

  ~impl() {
    for (auto& [sql, s] : prepared)
      sqlite3_finalize(s);
    if (db != nullptr)
      sqlite3_close_v2(db);
  }

  /// The store's error for what SQLite just refused: the file, what was done, SQLite's reason.
  caf::error sqlite_error(const std::string& what) const {
    const int code = db != nullptr ? sqlite3_extended_errcode(db) : SQLITE_CANTOPEN;
    const std::string reason = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    const int primary = code & 0xff;
    const errc kind = primary == SQLITE_BUSY || primary == SQLITE_LOCKED      ? errc::aborted
                      : primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? errc::data_loss
                                                                              : errc::internal;
    return make_error(kind, fmt::format("job store {}: {}: {}", file.string(), what, reason));
  }

  caf::error exec(const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return sqlite_error(fmt::format("cannot run {:?}", sql));
    return {};
  }

  /// The statement for `sql`, prepared on its first use and kept (a store runs a few dozen).
  statement prepare(const char* sql, caf::error& err) {
    auto& kept = prepared[sql];
    if (kept == nullptr
        && sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &kept, nullptr)
             != SQLITE_OK) {
      err = sqlite_error(fmt::format("cannot prepare {:?}", sql));
      sqlite3_finalize(kept);
      kept = nullptr;
      return statement{};
    }
    return statement{kept};
  }

  /// Runs a statement that answers no rows; `changes` gets the rows it changed.
  caf::error step_done(sqlite3_stmt* s, const char* what, int* changes = nullptr) {
    if (sqlite3_step(s) != SQLITE_DONE)
      return sqlite_error(what);
    if (changes != nullptr)
      *changes = sqlite3_changes(db);
    return {};
  }

  /// A write transaction: BEGIN IMMEDIATE (the write lock first, so it never has to be
  /// upgraded), rolled back unless commit() succeeded.
  class transaction {
  public:
    explicit transaction(impl& store) : store_(store) {}
    ~transaction() {
      if (open_)
        sqlite3_exec(store_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    caf::error begin() {
      if (auto err = store_.exec("BEGIN IMMEDIATE"))
        return err;
      open_ = true;
      return {};
    }
    caf::error commit() {
      if (auto err = store_.exec("COMMIT"))
        return err;
      open_ = false;
      return {};
    }

  private:
    impl& store_;
    bool open_ = false;
  };

  caf::error open(job_sync sync) {
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr)
        != SQLITE_OK)
      return sqlite_error("cannot open");
    if (sqlite3_db_readonly(db, "main") == 1)
      return make_error(errc::permission_denied,
                        fmt::format("job store {}: the file is read-only; the jobs store "
                                    "needs to write it",
                                    file.string()));
    sqlite3_busy_timeout(db, 5000);
    // Switching to WAL may answer BUSY at once (without the busy handler) when it would
    // deadlock with another connection; retry for as long as the busy timeout.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int rc = SQLITE_OK;
    while ((rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr))
             == SQLITE_BUSY
           && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (rc != SQLITE_OK)
      return sqlite_error("cannot switch to WAL (PRAGMA journal_mode=WAL)");
    if (auto err =
          exec(sync == job_sync::full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"))
      return err;
    if (auto err = exec("PRAGMA foreign_keys=ON"))
      return err;
    if (auto err = exec(create_schema))
      return err;
    if (auto err = add_holder_columns())
      return err;
    return exec(create_holder_index);
  }

  // Migrates a jobs table made before attempts had holders: adds node and node_instance (the
  // rows: held by nobody). Checked and altered in one write transaction, so two processes
  // opening an old file at once add them once.
  caf::error add_holder_columns() {
    transaction t{*this};
    if (auto err = t.begin())
      return err;
    if (!has_column("jobs", "node_instance")) {
      if (sqlite3_exec(db,
                       "ALTER TABLE jobs ADD COLUMN node TEXT NOT NULL DEFAULT ''; "
                       "ALTER TABLE jobs ADD COLUMN node_instance TEXT NOT NULL DEFAULT '';",
                       nullptr, nullptr, nullptr)
          != SQLITE_OK)
        return sqlite_error("cannot add the holder columns (node, node_instance) to jobs");
    }
    return t.commit();
  }

  /// Rescues the executing jobs `where` selects (an SQL condition whose parameters `bind`
  /// sets, from ?3 on): each attempt failed with `reason`, the job due at once or discarded
  /// after its last attempt, with a new epoch. One transaction; answers how many.
  template <class Bind>
  caf::expected<std::size_t> rescue_where(const std::string& where, Bind bind,
                                          const std::string& reason, std::int64_t now) {
    transaction t{*this};
    if (auto err = t.begin())
      return err;
    caf::error err;
    const std::string sql = fmt::format(
      "UPDATE jobs SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE "
      "'available' END, run_at = min(run_at, ?1), finished_at = CASE WHEN attempt >= "
      "max_attempts THEN ?1 ELSE 0 END, epoch = epoch + 1 WHERE state = 'executing' AND ({}) "
      "RETURNING id, attempt",
      where);
    std::vector<std::pair<std::int64_t, int>> rescued;
    {
      auto update = prepare(sql.c_str(), err);
      if (!update)
        return err;
      sqlite3_bind_int64(update.get(), 1, now);
      bind(update.get());
      int rc;
      while ((rc = sqlite3_step(update.get())) == SQLITE_ROW)
        rescued.emplace_back(sqlite3_column_int64(update.get(), 0),
                             sqlite3_column_int(update.get(), 1));
      if (rc != SQLITE_DONE)
        return sqlite_error("cannot rescue executing jobs");
    }
    for (const auto& [id, attempt] : rescued) {
      auto insert = prepare("INSERT OR REPLACE INTO job_errors (job_id, attempt, at, message) "
                            "VALUES (?, ?, ?, ?)",
                            err);
      if (!insert)
        return err;
      sqlite3_bind_int64(insert.get(), 1, id);
      sqlite3_bind_int(insert.get(), 2, attempt);
      sqlite3_bind_int64(insert.get(), 3, now);
      bind_text(insert.get(), 4, reason);
      if (auto e = step_done(insert.get(), "cannot record a job error"))
        return e;
    }
    if (auto e = t.commit())
      return e;
    return rescued.size();
  }

  /// The errors of job `id`, by attempt.
  caf::expected<std::vector<job_error>> errors_of(std::int64_t id) {
    caf::error err;
    auto s = prepare("SELECT attempt, at, message FROM job_errors WHERE job_id = ? "
                     "ORDER BY attempt",
                     err);
    if (!s)
      return err;
    sqlite3_bind_int64(s.get(), 1, id);
    std::vector<job_error> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
      out.push_back(job_error{sqlite3_column_int(s.get(), 0), sqlite3_column_int64(s.get(), 1),
                              text_of(s.get(), 2)});
    if (rc != SQLITE_DONE)
      return sqlite_error("cannot read job errors");
    return out;
  }

  /// Why an answer for attempt `epoch` of job `id` changed nothing.
  caf::error stale(std::int64_t id, std::int64_t epoch) {
    caf::error err;
    auto s = prepare("SELECT state, epoch FROM jobs WHERE id = ?", err);
    if (!s)
      return err;
    sqlite3_bind_int64(s.get(), 1, id);
    if (sqlite3_step(s.get()) != SQLITE_ROW)
      return make_error(errc::not_found, fmt::format("no job {}", id));
    return make_error(errc::failed_precondition,
                      fmt::format("job {} attempt epoch {} is stale: the job is {} at epoch {}", id,
                                  epoch, text_of(s.get(), 0), sqlite3_column_int64(s.get(), 1)));
  }

  /// The state of job `id` as stored, or nothing when there is no such job.
  std::optional<std::string> state_of(std::int64_t id) {
    caf::error err;
    auto s = prepare("SELECT state FROM jobs WHERE id = ?", err);
    if (!s)
      return std::nullopt;
    sqlite3_bind_int64(s.get(), 1, id);
    if (sqlite3_step(s.get()) != SQLITE_ROW)
      return std::nullopt;
    return text_of(s.get(), 0);
  }

  bool cron_schema_ready = false;

  /// Makes the cron tables on their first use; a cron_schedules table made before floors gets
  /// its pruned_before column (0: nothing pruned).
  caf::error ensure_cron_schema() {
    if (cron_schema_ready)
      return {};
    if (auto err = exec(create_cron_schema))
      return err;
    if (!has_column("cron_schedules", "pruned_before")
        && sqlite3_exec(db,
                        "ALTER TABLE cron_schedules ADD COLUMN pruned_before INTEGER NOT NULL "
                        "DEFAULT 0",
                        nullptr, nullptr, nullptr)
             != SQLITE_OK
        && !has_column("cron_schedules", "pruned_before")) // another process added it meanwhile
      return sqlite_error("cannot add pruned_before to cron_schedules");
    cron_schema_ready = true;
    return {};
  }

  /// Whether `table` has `column`.
  bool has_column(const char* table, const char* column) {
    caf::error err;
    const std::string sql = fmt::format("PRAGMA table_info({})", table);
    auto info = prepare(sql.c_str(), err);
    if (!info)
      return false;
    bool has = false;
    while (sqlite3_step(info.get()) == SQLITE_ROW)
      has = has || text_of(info.get(), 1) == column;
    return has;
  }

  /// The floor of schedule `name`: its ticks before it were pruned (0: none).
  caf::expected<std::int64_t> cron_floor(const std::string& name) {
    caf::error err;
    auto s = prepare("SELECT pruned_before FROM cron_schedules WHERE schedule = ?", err);
    if (!s)
      return err;
    bind_text(s.get(), 1, name);
    const int rc = sqlite3_step(s.get());
    if (rc == SQLITE_ROW)
      return sqlite3_column_int64(s.get(), 0);
    if (rc != SQLITE_DONE)
      return sqlite_error("cannot read a cron schedule's floor");
    return std::int64_t{0};
  }

  /// Keeps the newest cron_ticks_kept ticks of schedule `name`: deletes the older ones and
  /// raises the schedule's floor to the oldest kept.
  caf::error prune_cron_ticks(const std::string& name) {
    caf::error err;
    std::int64_t oldest_kept = 0;
    {
      auto s = prepare("SELECT tick_at FROM cron_ticks WHERE schedule = ? ORDER BY tick_at DESC "
                       "LIMIT 1 OFFSET ?",
                       err);
      if (!s)
        return err;
      bind_text(s.get(), 1, name);
      sqlite3_bind_int64(s.get(), 2, job_store::cron_ticks_kept - 1);
      const int rc = sqlite3_step(s.get());
      if (rc == SQLITE_DONE)
        return {}; // fewer than cron_ticks_kept
      if (rc != SQLITE_ROW)
        return sqlite_error("cannot read a schedule's ticks");
      oldest_kept = sqlite3_column_int64(s.get(), 0);
    }
    auto floor = prepare("UPDATE cron_schedules SET pruned_before = max(pruned_before, ?) WHERE "
                         "schedule = ?",
                         err);
    if (!floor)
      return err;
    sqlite3_bind_int64(floor.get(), 1, oldest_kept);
    bind_text(floor.get(), 2, name);
    if (auto e = step_done(floor.get(), "cannot record a cron schedule's floor"))
      return e;
    floor.reset();
    auto prune = prepare("DELETE FROM cron_ticks WHERE schedule = ? AND tick_at < ?", err);
    if (!prune)
      return err;
    bind_text(prune.get(), 1, name);
    sqlite3_bind_int64(prune.get(), 2, oldest_kept);
    return step_done(prune.get(), "cannot prune a schedule's ticks");
  }

  bool savepoint_lost = false; // a ROLLBACK TO failed: the transaction holds a failed write's rows

  /// Undoes the write in the savepoint job_write and ends the savepoint. When SQLite cannot roll
  /// back to it, the transaction must not commit (savepoint_lost).
  void undo_savepoint() {
    if (run_kept("ROLLBACK TO job_write"))
      savepoint_lost = true;
    run_kept("RELEASE job_write");
  }

  /// Runs a kept statement that answers no rows (SAVEPOINT, RELEASE, ROLLBACK TO).
  caf::error run_kept(const char* sql) {
    caf::error err;
    auto s = prepare(sql, err);
    if (!s)
      return err;
    return step_done(s.get(), sql);
  }

  /// Writes `job`'s rows inside the open transaction, in a savepoint of their own: a duplicate
  /// unique key (answered with the holder's id) or an error leaves nothing of them behind, and
  /// nothing else of the transaction is undone.
  caf::expected<enqueued_job> enqueue_in_savepoint(const new_job& job, std::int64_t now) {
    if (auto err = run_kept("SAVEPOINT job_write"))
      return err;
    auto done = enqueue_rows(job, now);
    if (!done || done->duplicate)
      undo_savepoint();
    else
      run_kept("RELEASE job_write");
    return done;
  }

  /// The job's row and its unique key's, in the open transaction (enqueue_in_savepoint).
  caf::expected<enqueued_job> enqueue_rows(const new_job& job, std::int64_t now) {
    caf::error err;
    auto insert = prepare(
      "INSERT INTO jobs (queue, message_type, message, state, max_attempts, priority, run_at, "
      "timeout_ms, unique_key, inserted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      err);
    if (!insert)
      return err;
    const std::int64_t run_at = job.run_at > now ? job.run_at : now;
    bind_text(insert.get(), 1, job.queue);
    bind_text(insert.get(), 2, job.message_type);
    bind_blob(insert.get(), 3, job.message);
    bind_text(insert.get(), 4, job.run_at > now ? "scheduled" : "available");
    sqlite3_bind_int(insert.get(), 5, job.max_attempts);
    sqlite3_bind_int(insert.get(), 6, job.priority);
    sqlite3_bind_int64(insert.get(), 7, run_at);
    sqlite3_bind_int64(insert.get(), 8, job.timeout_ms);
    bind_text(insert.get(), 9, job.unique_key);
    sqlite3_bind_int64(insert.get(), 10, now);
    if (auto e = step_done(insert.get(), "cannot insert a job"))
      return e;
    const std::int64_t id = sqlite3_last_insert_rowid(db);
    if (!job.unique_key.empty()) {
      // The key's row decides: taken over only when its holder's period has ended.
      auto take =
        prepare("INSERT INTO job_unique_keys (unique_key, job_id, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (unique_key) DO UPDATE SET job_id = excluded.job_id, "
                "expires_at = excluded.expires_at WHERE job_unique_keys.expires_at <= ?",
                err);
      if (!take)
        return err;
      bind_text(take.get(), 1, job.unique_key);
      sqlite3_bind_int64(take.get(), 2, id);
      sqlite3_bind_int64(take.get(), 3, now + job.unique_period_ms);
      sqlite3_bind_int64(take.get(), 4, now);
      int changed = 0;
      if (auto e = step_done(take.get(), "cannot record a unique key", &changed))
        return e;
      if (changed == 0) {
        auto holder = prepare("SELECT job_id FROM job_unique_keys WHERE unique_key = ?", err);
        if (!holder)
          return err;
        bind_text(holder.get(), 1, job.unique_key);
        if (sqlite3_step(holder.get()) != SQLITE_ROW)
          return sqlite_error("cannot read a unique key's job");
        const std::int64_t existing = sqlite3_column_int64(holder.get(), 0);
        return enqueued_job{existing, true}; // the savepoint is rolled back: no new job
      }
    }
    return enqueued_job{id, false};
  }

  /// A complete_and_claim write of a batch, in a savepoint of its own.
  void complete_and_claim_in_savepoint(job_write& w, std::int64_t now) {
    if (auto err = run_kept("SAVEPOINT job_write")) {
      w.error = std::move(err);
      return;
    }
    auto undo = [this] { undo_savepoint(); };
    if (w.id != 0) {
      w.refused = complete(w.id, w.epoch, now);
      if (w.refused && !is(w.refused, errc::failed_precondition)
          && !is(w.refused, errc::not_found)) {
        w.error = std::move(w.refused); // the store failed, not the fence
        w.refused = caf::error{};
        undo();
        return;
      }
    }
    auto claimed = claim(w.queue, w.claim_limit, now);
    if (!claimed) {
      w.error = std::move(claimed.error());
      w.refused = caf::error{};
      undo();
      return;
    }
    w.claimed = std::move(*claimed);
    run_kept("RELEASE job_write");
  }

  /// claim(), with the mutex held.
  caf::expected<std::vector<claimed_job>> claim(const std::string& queue, std::size_t limit,
                                                std::int64_t now) {
    std::vector<claimed_job> out;
    if (limit == 0)
      return out;
    caf::error err;
    // One statement, so one transaction: the due jobs picked and marked executing together.
    auto s = prepare(
      "UPDATE jobs SET state = 'executing', attempt = attempt + 1, epoch = epoch + 1, "
      "attempted_at = ?1, node = ?5, node_instance = ?6 WHERE id IN (SELECT id FROM jobs WHERE "
      "queue = ?2 AND state IN ('available', 'scheduled', 'retryable') AND run_at <= ?3 ORDER BY "
      "priority, run_at, id LIMIT ?4) RETURNING id, queue, message_type, message, attempt, "
      "max_attempts, timeout_ms, epoch, priority, run_at",
      err);
    if (!s)
      return err;
    sqlite3_bind_int64(s.get(), 1, now);
    bind_text(s.get(), 2, queue);
    sqlite3_bind_int64(s.get(), 3, now);
    sqlite3_bind_int64(s.get(), 4, static_cast<std::int64_t>(limit));
    bind_text(s.get(), 5, holder.node);
    bind_text(s.get(), 6, holder.instance);
    std::vector<std::pair<std::pair<int, std::int64_t>, claimed_job>> rows;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      claimed_job j;
      j.id = sqlite3_column_int64(s.get(), 0);
      j.queue = text_of(s.get(), 1);
      j.message_type = text_of(s.get(), 2);
      j.message = text_of(s.get(), 3);
      j.attempt = sqlite3_column_int(s.get(), 4);
      j.max_attempts = sqlite3_column_int(s.get(), 5);
      j.timeout_ms = sqlite3_column_int64(s.get(), 6);
      j.epoch = sqlite3_column_int64(s.get(), 7);
      rows.emplace_back(
        std::make_pair(sqlite3_column_int(s.get(), 8), sqlite3_column_int64(s.get(), 9)),
        std::move(j));
    }
    if (rc != SQLITE_DONE)
      return sqlite_error("cannot claim jobs");
    // RETURNING gives rows in no set order: hand them out in the order they were picked.
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.first, a.first.second, a.second.id)
             < std::tie(b.first.first, b.first.second, b.second.id);
    });
    for (auto& row : rows)
      out.push_back(std::move(row.second));
    return out;
  }

  /// complete(), with the mutex held.
  caf::error complete(std::int64_t id, std::int64_t epoch, std::int64_t now) {
    caf::error err;
    auto s = prepare("UPDATE jobs SET state = 'completed', finished_at = ? "
                     "WHERE id = ? AND epoch = ? AND state = 'executing'",
                     err);
    if (!s)
      return err;
    sqlite3_bind_int64(s.get(), 1, now);
    sqlite3_bind_int64(s.get(), 2, id);
    sqlite3_bind_int64(s.get(), 3, epoch);
    int changed = 0;
    if (auto e = step_done(s.get(), "cannot complete a job", &changed))
      return e;
    if (changed == 0)
      return stale(id, epoch);
    return {};
  }

  /// fail() and rescue(): records the error and moves the job on, in one transaction.
  caf::expected<job_state> fail(std::int64_t id, std::int64_t epoch, const std::string& message,
                                std::int64_t retry_at, std::int64_t now) {
    transaction t{*this};
    if (auto err = t.begin())
      return err;
    caf::error err;
    auto update = prepare("UPDATE jobs SET state = CASE WHEN attempt >= max_attempts "
                          "THEN 'discarded' ELSE 'retryable' END, run_at = ?, "
                          "finished_at = CASE WHEN attempt >= max_attempts THEN ? ELSE 0 END "
                          "WHERE id = ? AND epoch = ? AND state = 'executing' "
                          "RETURNING state, attempt",
                          err);
    if (!update)
      return err;
    sqlite3_bind_int64(update.get(), 1, retry_at);
    sqlite3_bind_int64(update.get(), 2, now);
    sqlite3_bind_int64(update.get(), 3, id);
    sqlite3_bind_int64(update.get(), 4, epoch);
    const int rc = sqlite3_step(update.get());
    if (rc == SQLITE_DONE)
      return stale(id, epoch);
    if (rc != SQLITE_ROW)
      return sqlite_error("cannot record a failed attempt");
    const job_state state =
      job_state_named(text_of(update.get(), 0)).value_or(job_state::retryable);
    const int attempt = sqlite3_column_int(update.get(), 1);
    update.reset();
    auto insert = prepare("INSERT OR REPLACE INTO job_errors (job_id, attempt, at, message) "
                          "VALUES (?, ?, ?, ?)",
                          err);
    if (!insert)
      return err;
    sqlite3_bind_int64(insert.get(), 1, id);
    sqlite3_bind_int(insert.get(), 2, attempt);
    sqlite3_bind_int64(insert.get(), 3, now);
    bind_text(insert.get(), 4, message);
    if (auto e = step_done(insert.get(), "cannot record a job error"))
      return e;
    if (auto e = t.commit())
      return e;
    return state;
  }
};

sqlite_job_store::sqlite_job_store(std::unique_ptr<impl> p, job_holder holder)
  : job_store(std::move(holder)), impl_(std::move(p)) {}

sqlite_job_store::~sqlite_job_store() = default;

caf::expected<std::unique_ptr<sqlite_job_store>>
sqlite_job_store::open(const fs::path& file, job_sync sync, job_holder holder) {
  auto p = std::make_unique<impl>();
  p->file = file;
  p->holder = holder;
  if (auto err = p->open(sync))
    return err;
  return std::unique_ptr<sqlite_job_store>(new sqlite_job_store(std::move(p), std::move(holder)));
}

std::string sqlite_job_store::where() const {
  return impl_->file.string();
}

const fs::path& sqlite_job_store::file() const noexcept {
  return impl_->file;
}

caf::expected<enqueued_job> sqlite_job_store::enqueue(const new_job& job, std::int64_t now) {
  if (auto err = detail::check_new_job(job))
    return err;
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return err;
  auto done = impl_->enqueue_in_savepoint(job, now);
  impl_->savepoint_lost = false; // the transaction is not committed in that case either
  if (!done || done->duplicate)
    return done; // nothing to commit: the transaction rolls back
  if (auto e = t.commit())
    return e;
  return done;
}

caf::expected<std::vector<claimed_job>>
sqlite_job_store::claim(const std::string& queue, std::size_t limit, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->claim(queue, limit, now);
}

caf::error sqlite_job_store::complete(std::int64_t id, std::int64_t epoch, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->complete(id, epoch, now);
}

caf::expected<std::vector<claimed_job>>
sqlite_job_store::complete_and_claim(std::int64_t id, std::int64_t epoch, const std::string& queue,
                                     std::int64_t now, caf::error& refused) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return err;
  refused = impl_->complete(id, epoch, now);
  if (refused && !is(refused, errc::failed_precondition) && !is(refused, errc::not_found))
    return std::move(refused); // the store failed, not the fence: nothing was written
  auto claimed = impl_->claim(queue, 1, now);
  if (!claimed)
    return claimed;
  if (auto err = t.commit())
    return err;
  return claimed;
}

caf::error sqlite_job_store::write_batch(std::vector<job_write>& writes, std::int64_t now) {
  for (auto& w : writes)
    if (w.what == job_write::kind::enqueue)
      w.error = detail::check_new_job(w.job);
  // Every write fails with `err` and keeps no outcome: the transaction wrote nothing.
  auto fail_all = [&writes](const caf::error& err) {
    for (auto& w : writes) {
      w.error = err;
      w.enqueued = enqueued_job{};
      w.refused = caf::error{};
      w.claimed.clear();
    }
    return err;
  };
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return fail_all(err);
  for (auto& w : writes) {
    if (w.error)
      continue;
    if (w.what == job_write::kind::enqueue) {
      auto done = impl_->enqueue_in_savepoint(w.job, now);
      if (done)
        w.enqueued = *done;
      else
        w.error = std::move(done.error());
    } else {
      impl_->complete_and_claim_in_savepoint(w, now);
    }
    // An I/O error or a full disk may make SQLite roll the whole transaction back: what the
    // writes before did is gone with it.
    if (sqlite3_get_autocommit(impl_->db) != 0)
      return fail_all(impl_->sqlite_error("the batch's transaction was rolled back"));
    if (impl_->savepoint_lost) { // a failed write could not be undone: commit none of them
      impl_->savepoint_lost = false;
      return fail_all(impl_->sqlite_error("a failed write of the batch could not be undone"));
    }
  }
  if (auto err = t.commit())
    return fail_all(err);
  return {};
}

caf::expected<job_state> sqlite_job_store::fail(std::int64_t id, std::int64_t epoch,
                                                const std::string& message, std::int64_t retry_at,
                                                std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->fail(id, epoch, message, retry_at, now);
}

caf::expected<job_state> sqlite_job_store::rescue(std::int64_t id, std::int64_t epoch,
                                                  const std::string& message, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->fail(id, epoch, message, now, now);
}

caf::error sqlite_job_store::release(std::int64_t id, std::int64_t epoch, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare("UPDATE jobs SET state = 'available', attempt = attempt - 1, "
                          "epoch = epoch + 1, run_at = min(run_at, ?), node = '', "
                          "node_instance = '' WHERE id = ? AND epoch = ? AND state = 'executing'",
                          err);
  if (!s)
    return err;
  sqlite3_bind_int64(s.get(), 1, now);
  sqlite3_bind_int64(s.get(), 2, id);
  sqlite3_bind_int64(s.get(), 3, epoch);
  int changed = 0;
  if (auto e = impl_->step_done(s.get(), "cannot give back a claimed job", &changed))
    return e;
  if (changed == 0)
    return impl_->stale(id, epoch);
  return {};
}

caf::expected<std::size_t> sqlite_job_store::rescue_executing(std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare(
    "UPDATE jobs SET state = 'available', run_at = min(run_at, ?), epoch = epoch + 1 "
    "WHERE state = 'executing'",
    err);
  if (!s)
    return err;
  sqlite3_bind_int64(s.get(), 1, now);
  int changed = 0;
  if (auto e = impl_->step_done(s.get(), "cannot rescue executing jobs", &changed))
    return e;
  return static_cast<std::size_t>(changed);
}

caf::expected<std::size_t> sqlite_job_store::rescue_previous_instances(std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  const auto& me = impl_->holder;
  return impl_->rescue_where(
    "node = ?3 AND node_instance != ?4",
    [&](sqlite3_stmt* s) {
      bind_text(s, 3, me.node);
      bind_text(s, 4, me.instance);
    },
    fmt::format("node {} started again: the attempt of its previous process cannot answer",
                me.node),
    now);
}

caf::expected<std::size_t> sqlite_job_store::rescue_holder(const job_holder& lost,
                                                           std::int64_t claimed_until,
                                                           const std::string& reason,
                                                           std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->rescue_where(
    "node = ?3 AND node_instance = ?4 AND attempted_at <= ?5",
    [&](sqlite3_stmt* s) {
      bind_text(s, 3, lost.node);
      bind_text(s, 4, lost.instance);
      sqlite3_bind_int64(s, 5, claimed_until);
    },
    reason, now);
}

caf::expected<std::vector<job_holder>> sqlite_job_store::executing_holders() {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare(
    "SELECT DISTINCT node, node_instance FROM jobs WHERE state = 'executing' ORDER BY 1, 2", err);
  if (!s)
    return err;
  std::vector<job_holder> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    out.push_back(job_holder{text_of(s.get(), 0), text_of(s.get(), 1)});
  if (rc != SQLITE_DONE)
    return impl_->sqlite_error("cannot read the holders of executing jobs");
  return out;
}

caf::error sqlite_job_store::cancel(std::int64_t id, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare("UPDATE jobs SET state = 'cancelled', finished_at = ?, "
                          "epoch = epoch + 1 WHERE id = ? AND state IN ('available', "
                          "'scheduled', 'executing', 'retryable')",
                          err);
  if (!s)
    return err;
  sqlite3_bind_int64(s.get(), 1, now);
  sqlite3_bind_int64(s.get(), 2, id);
  int changed = 0;
  if (auto e = impl_->step_done(s.get(), "cannot cancel a job", &changed))
    return e;
  if (changed == 0) {
    auto found = impl_->state_of(id);
    if (!found)
      return make_error(errc::not_found, fmt::format("no job {}", id));
    return make_error(errc::failed_precondition,
                      fmt::format("job {} is {} already; only a waiting or executing job can be "
                                  "cancelled",
                                  id, *found));
  }
  return {};
}

caf::error sqlite_job_store::retry(std::int64_t id, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare("UPDATE jobs SET state = 'available', run_at = ?, finished_at = 0, "
                          "max_attempts = max(max_attempts, attempt + 1) WHERE id = ? AND "
                          "state != 'executing'",
                          err);
  if (!s)
    return err;
  sqlite3_bind_int64(s.get(), 1, now);
  sqlite3_bind_int64(s.get(), 2, id);
  int changed = 0;
  if (auto e = impl_->step_done(s.get(), "cannot retry a job", &changed))
    return e;
  if (changed == 0) {
    auto found = impl_->state_of(id);
    if (!found)
      return make_error(errc::not_found, fmt::format("no job {}", id));
    return make_error(errc::failed_precondition,
                      fmt::format("job {} is executing; wait for its attempt to end", id));
  }
  return {};
}

caf::expected<std::optional<job_record>> sqlite_job_store::find(std::int64_t id) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  const std::string sql = fmt::format("{} WHERE id = ?", record_columns);
  auto s = impl_->prepare(sql.c_str(), err);
  if (!s)
    return err;
  sqlite3_bind_int64(s.get(), 1, id);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_DONE)
    return std::optional<job_record>{};
  if (rc != SQLITE_ROW)
    return impl_->sqlite_error("cannot read a job");
  job_record r = record_of(s.get());
  s.reset();
  auto errors = impl_->errors_of(id);
  if (!errors)
    return std::move(errors.error());
  r.errors = std::move(*errors);
  return std::optional<job_record>{std::move(r)};
}

caf::expected<std::vector<job_record>> sqlite_job_store::list(const job_filter& filter) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  const std::string sql = fmt::format(
    "{} WHERE (?1 = '' OR queue = ?1) AND (?2 = '' OR state = ?2) ORDER BY id DESC LIMIT ?3",
    record_columns);
  auto s = impl_->prepare(sql.c_str(), err);
  if (!s)
    return err;
  bind_text(s.get(), 1, filter.queue);
  bind_text(s.get(), 2, filter.state ? to_string(*filter.state) : "");
  sqlite3_bind_int64(s.get(), 3, static_cast<std::int64_t>(filter.limit));
  std::vector<job_record> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    out.push_back(record_of(s.get()));
  if (rc != SQLITE_DONE)
    return impl_->sqlite_error("cannot list jobs");
  s.reset();
  for (auto& r : out) {
    auto errors = impl_->errors_of(r.id);
    if (!errors)
      return std::move(errors.error());
    r.errors = std::move(*errors);
  }
  return out;
}

caf::expected<std::map<std::string, std::map<job_state, std::int64_t>>> sqlite_job_store::stats() {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare("SELECT queue, state, count(*) FROM jobs GROUP BY queue, state", err);
  if (!s)
    return err;
  std::map<std::string, std::map<job_state, std::int64_t>> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    if (auto state = job_state_named(text_of(s.get(), 1)))
      out[text_of(s.get(), 0)][*state] = sqlite3_column_int64(s.get(), 2);
  }
  if (rc != SQLITE_DONE)
    return impl_->sqlite_error("cannot count jobs");
  return out;
}

caf::expected<std::optional<std::int64_t>> sqlite_job_store::next_run_at(const std::string& queue) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare("SELECT min(run_at) FROM jobs WHERE queue = ? AND state IN "
                          "('available', 'scheduled', 'retryable')",
                          err);
  if (!s)
    return err;
  bind_text(s.get(), 1, queue);
  if (sqlite3_step(s.get()) != SQLITE_ROW)
    return impl_->sqlite_error("cannot read the next due job");
  if (sqlite3_column_type(s.get(), 0) == SQLITE_NULL)
    return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>{sqlite3_column_int64(s.get(), 0)};
}

caf::expected<std::int64_t> sqlite_job_store::cron_seen(const std::string& name,
                                                        const std::string& expression,
                                                        const std::string& zone, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  if (auto err = impl_->ensure_cron_schema())
    return err;
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return err;
  caf::error err;
  std::optional<std::int64_t> since;
  {
    auto read = impl_->prepare("SELECT since FROM cron_schedules WHERE schedule = ? AND "
                               "expression = ? AND zone = ?",
                               err);
    if (!read)
      return err;
    bind_text(read.get(), 1, name);
    bind_text(read.get(), 2, expression);
    bind_text(read.get(), 3, zone);
    const int rc = sqlite3_step(read.get());
    if (rc == SQLITE_ROW)
      since = sqlite3_column_int64(read.get(), 0);
    else if (rc != SQLITE_DONE)
      return impl_->sqlite_error("cannot read a cron schedule");
  }
  if (!since) {
    // First seen, or its expression or zone changed: its missed ticks count from now.
    auto write = impl_->prepare(
      "INSERT INTO cron_schedules (schedule, expression, zone, since) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (schedule) DO UPDATE SET expression = excluded.expression, "
      "zone = excluded.zone, since = excluded.since",
      err);
    if (!write)
      return err;
    bind_text(write.get(), 1, name);
    bind_text(write.get(), 2, expression);
    bind_text(write.get(), 3, zone);
    sqlite3_bind_int64(write.get(), 4, now);
    if (auto e = impl_->step_done(write.get(), "cannot record a cron schedule"))
      return e;
    if (auto e = t.commit())
      return e;
    return now;
  }
  std::int64_t from = *since;
  {
    auto last = impl_->prepare("SELECT max(tick_at) FROM cron_ticks WHERE schedule = ?", err);
    if (!last)
      return err;
    bind_text(last.get(), 1, name);
    if (sqlite3_step(last.get()) != SQLITE_ROW)
      return impl_->sqlite_error("cannot read a schedule's last tick");
    if (sqlite3_column_type(last.get(), 0) != SQLITE_NULL)
      from = std::max<std::int64_t>(from, sqlite3_column_int64(last.get(), 0));
  }
  if (auto e = t.commit())
    return e;
  return from;
}

caf::expected<enqueued_job> sqlite_job_store::enqueue_cron_tick(const std::string& name,
                                                                std::int64_t tick_at,
                                                                const new_job& job,
                                                                std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  if (auto err = impl_->ensure_cron_schema())
    return err;
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return err;
  {
    auto floor = impl_->cron_floor(name);
    if (!floor)
      return std::move(floor.error());
    if (tick_at < *floor)
      return enqueued_job{0, true}; // recorded once, then pruned
  }
  caf::error err;
  // The tick's row decides: a tick recorded already (by another node, or by this one before a
  // restart) inserts nothing, and the transaction is rolled back.
  auto take = impl_->prepare("INSERT INTO cron_ticks (schedule, tick_at, job_id) VALUES (?, ?, 0) "
                             "ON CONFLICT (schedule, tick_at) DO NOTHING",
                             err);
  if (!take)
    return err;
  bind_text(take.get(), 1, name);
  sqlite3_bind_int64(take.get(), 2, tick_at);
  int changed = 0;
  if (auto e = impl_->step_done(take.get(), "cannot record a cron tick", &changed))
    return e;
  take.reset();
  if (changed == 0) {
    auto holder =
      impl_->prepare("SELECT job_id FROM cron_ticks WHERE schedule = ? AND tick_at = ?", err);
    if (!holder)
      return err;
    bind_text(holder.get(), 1, name);
    sqlite3_bind_int64(holder.get(), 2, tick_at);
    if (sqlite3_step(holder.get()) != SQLITE_ROW)
      return impl_->sqlite_error("cannot read a cron tick's job");
    return enqueued_job{sqlite3_column_int64(holder.get(), 0), true};
  }
  auto done = enqueue_in_transaction(impl_->db, job, now);
  if (!done)
    return std::move(done.error());
  auto link =
    impl_->prepare("UPDATE cron_ticks SET job_id = ? WHERE schedule = ? AND tick_at = ?", err);
  if (!link)
    return err;
  sqlite3_bind_int64(link.get(), 1, done->id);
  bind_text(link.get(), 2, name);
  sqlite3_bind_int64(link.get(), 3, tick_at);
  if (auto e = impl_->step_done(link.get(), "cannot record a cron tick's job"))
    return e;
  link.reset();
  if (auto e = impl_->prune_cron_ticks(name))
    return e;
  if (auto e = t.commit())
    return e;
  return enqueued_job{done->id, false};
}

caf::expected<std::vector<std::pair<std::int64_t, std::int64_t>>>
sqlite_job_store::cron_ticks(const std::string& name) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  if (auto err = impl_->ensure_cron_schema())
    return err;
  caf::error err;
  auto s = impl_->prepare(
    "SELECT tick_at, job_id FROM cron_ticks WHERE schedule = ? ORDER BY tick_at", err);
  if (!s)
    return err;
  bind_text(s.get(), 1, name);
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  int rc;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
    out.emplace_back(sqlite3_column_int64(s.get(), 0), sqlite3_column_int64(s.get(), 1));
  if (rc != SQLITE_DONE)
    return impl_->sqlite_error("cannot read cron ticks");
  return out;
}

} // namespace microlith
