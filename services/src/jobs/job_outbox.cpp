// Enqueueing on a caller's connection inside its transaction; see
// microlith/services/job_outbox.hpp. The statements are job_store::enqueue's: the job's row, then
// its unique key upserted, taken over only when the holder's period has ended.
#include "microlith/services/job_outbox.hpp"

#include "microlith/actors/error.hpp"

#include "jobs/new_job_check.hpp"
#include "proto/microlith_jobs.pb.h"

#include <sqlite3.h>

#include <fmt/format.h>

namespace microlith {

namespace {

/// A statement prepared on the caller's connection for one use.
class owned_statement {
public:
  owned_statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) {
      sqlite3_finalize(s_);
      s_ = nullptr;
    }
  }
  ~owned_statement() { sqlite3_finalize(s_); }
  owned_statement(const owned_statement&) = delete;
  owned_statement& operator=(const owned_statement&) = delete;
  sqlite3_stmt* get() const noexcept { return s_; }

private:
  sqlite3_stmt* s_ = nullptr;
};

caf::error sqlite_refused(sqlite3* db, const char* what) {
  const int primary = sqlite3_extended_errcode(db) & 0xff;
  const errc kind =
    primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? errc::aborted : errc::internal;
  const char* file = sqlite3_db_filename(db, "main");
  return make_error(kind, fmt::format("job store {}: {}: {}", file != nullptr ? file : "?", what,
                                      sqlite3_errmsg(db)));
}

void bind(sqlite3_stmt* s, int index, const std::string& text) {
  sqlite3_bind_text64(s, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

} // namespace

caf::expected<enqueued_job> enqueue_in_transaction(sqlite3* db, const new_job& job,
                                                   std::int64_t now) {
  if (db == nullptr)
    return make_error(errc::invalid_argument, "no connection to enqueue on");
  if (sqlite3_get_autocommit(db) != 0)
    return make_error(errc::failed_precondition,
                      "enqueue_in_transaction needs a transaction open on its connection "
                      "(BEGIN IMMEDIATE first)");
  if (auto err = detail::check_new_job(job))
    return err;
  // A savepoint, so that a duplicate undoes the job's rows and nothing of the caller's.
  if (sqlite3_exec(db, "SAVEPOINT microlith_enqueue", nullptr, nullptr, nullptr) != SQLITE_OK)
    return sqlite_refused(db, "cannot open a savepoint");
  auto undo = [db] {
    sqlite3_exec(db, "ROLLBACK TO microlith_enqueue", nullptr, nullptr, nullptr);
    sqlite3_exec(db, "RELEASE microlith_enqueue", nullptr, nullptr, nullptr);
  };
  owned_statement insert{
    db, "INSERT INTO jobs (queue, message_type, message, state, max_attempts, priority, run_at, "
        "timeout_ms, unique_key, inserted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"};
  if (insert.get() == nullptr) {
    auto err = sqlite_refused(db, "cannot prepare the job's insert");
    undo();
    return err;
  }
  const std::int64_t run_at = job.run_at > now ? job.run_at : now;
  bind(insert.get(), 1, job.queue);
  bind(insert.get(), 2, job.message_type);
  sqlite3_bind_blob64(insert.get(), 3, job.message.data(), job.message.size(), SQLITE_TRANSIENT);
  bind(insert.get(), 4, job.run_at > now ? "scheduled" : "available");
  sqlite3_bind_int(insert.get(), 5, job.max_attempts);
  sqlite3_bind_int(insert.get(), 6, job.priority);
  sqlite3_bind_int64(insert.get(), 7, run_at);
  sqlite3_bind_int64(insert.get(), 8, job.timeout_ms);
  bind(insert.get(), 9, job.unique_key);
  sqlite3_bind_int64(insert.get(), 10, now);
  if (sqlite3_step(insert.get()) != SQLITE_DONE) {
    auto err = sqlite_refused(db, "cannot insert a job");
    undo();
    return err;
  }
  const std::int64_t id = sqlite3_last_insert_rowid(db);
  if (!job.unique_key.empty()) {
    owned_statement take{
      db, "INSERT INTO job_unique_keys (unique_key, job_id, expires_at) VALUES (?, ?, ?) "
          "ON CONFLICT (unique_key) DO UPDATE SET job_id = excluded.job_id, "
          "expires_at = excluded.expires_at WHERE job_unique_keys.expires_at <= ?"};
    if (take.get() == nullptr) {
      auto err = sqlite_refused(db, "cannot prepare a unique key's upsert");
      undo();
      return err;
    }
    bind(take.get(), 1, job.unique_key);
    sqlite3_bind_int64(take.get(), 2, id);
    sqlite3_bind_int64(take.get(), 3, now + job.unique_period_ms);
    sqlite3_bind_int64(take.get(), 4, now);
    if (sqlite3_step(take.get()) != SQLITE_DONE) {
      auto err = sqlite_refused(db, "cannot record a unique key");
      undo();
      return err;
    }
    if (sqlite3_changes(db) == 0) {
      owned_statement holder{db, "SELECT job_id FROM job_unique_keys WHERE unique_key = ?"};
      if (holder.get() == nullptr) {
        auto err = sqlite_refused(db, "cannot prepare a unique key's read");
        undo();
        return err;
      }
      bind(holder.get(), 1, job.unique_key);
      if (sqlite3_step(holder.get()) != SQLITE_ROW) {
        auto err = sqlite_refused(db, "cannot read a unique key's job");
        undo();
        return err;
      }
      const std::int64_t existing = sqlite3_column_int64(holder.get(), 0);
      undo();
      return enqueued_job{existing, true};
    }
  }
  if (sqlite3_exec(db, "RELEASE microlith_enqueue", nullptr, nullptr, nullptr) != SQLITE_OK) {
    auto err = sqlite_refused(db, "cannot release the savepoint");
    undo();
    return err;
  }
  return enqueued_job{id, false};
}

void wake_job_workers(const call_context& ctx, const std::string& queue) {
  jobs::v1::WakeRequest req;
  req.set_queue(queue);
  ctx.cast("jobs", "Wake", req);
}

} // namespace microlith
