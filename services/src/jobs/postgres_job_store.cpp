// The PostgreSQL store of jobs; see postgres_job_store.hpp. The statements are the SQLite
// store's (sqlite_job_store.cpp) in PostgreSQL's dialect: LEAST/GREATEST for min/max of two
// values, FOR UPDATE SKIP LOCKED in the claim, ON CONFLICT for unique keys and cron ticks.
// Parameters travel as text (the message's bytes as binary), results come back as text.
#include "jobs/postgres_job_store.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"

#include "jobs/new_job_check.hpp"

#include <libpq-fe.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <tuple>
#include <utility>

namespace microlith {

namespace {

// Made once per database, under an advisory lock (nodes starting at once would otherwise race
// on CREATE ... IF NOT EXISTS, which PostgreSQL does not make atomic).
constexpr const char* create_schema = R"sql(
  SELECT pg_advisory_xact_lock(7470017);
  CREATE SCHEMA IF NOT EXISTS microlith;
  CREATE TABLE IF NOT EXISTS microlith.jobs (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    message_type TEXT NOT NULL,
    message BYTEA NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('available', 'scheduled', 'executing', 'retryable',
                                         'completed', 'discarded', 'cancelled')),
    attempt INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),
    priority INTEGER NOT NULL DEFAULT 0,
    run_at BIGINT NOT NULL,
    timeout_ms BIGINT NOT NULL DEFAULT 0,
    unique_key TEXT NOT NULL DEFAULT '',
    epoch BIGINT NOT NULL DEFAULT 0,
    inserted_at BIGINT NOT NULL,
    attempted_at BIGINT NOT NULL DEFAULT 0,
    finished_at BIGINT NOT NULL DEFAULT 0,
    node TEXT NOT NULL DEFAULT '',
    node_instance TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX IF NOT EXISTS jobs_due ON microlith.jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
  CREATE INDEX IF NOT EXISTS jobs_executing_holder ON microlith.jobs (node, node_instance)
    WHERE state = 'executing';
  CREATE TABLE IF NOT EXISTS microlith.job_errors (
    job_id BIGINT NOT NULL REFERENCES microlith.jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at BIGINT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (job_id, attempt)
  );
  CREATE TABLE IF NOT EXISTS microlith.job_unique_keys (
    unique_key TEXT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS microlith.cron_schedules (
    schedule TEXT PRIMARY KEY,
    expression TEXT NOT NULL,
    zone TEXT NOT NULL,
    since BIGINT NOT NULL,
    pruned_before BIGINT NOT NULL DEFAULT 0
  );
  ALTER TABLE microlith.cron_schedules ADD COLUMN IF NOT EXISTS pruned_before BIGINT NOT NULL
    DEFAULT 0;
  CREATE TABLE IF NOT EXISTS microlith.cron_ticks (
    schedule TEXT NOT NULL,
    tick_at BIGINT NOT NULL,
    job_id BIGINT NOT NULL,
    PRIMARY KEY (schedule, tick_at)
  );
)sql";

constexpr const char* record_columns =
  "SELECT id, queue, message_type, message, state, attempt, max_attempts, priority, run_at, "
  "timeout_ms, unique_key, epoch, inserted_at, attempted_at, finished_at, node, node_instance "
  "FROM microlith.jobs";

constexpr const char* claim_sql =
  "UPDATE microlith.jobs SET state = 'executing', attempt = attempt + 1, epoch = epoch + 1, "
  "attempted_at = $1::bigint, node = $5, node_instance = $6 WHERE id IN (SELECT id FROM "
  "microlith.jobs WHERE queue = $2 AND state IN ('available', 'scheduled', 'retryable') AND "
  "run_at <= $3::bigint ORDER BY priority, run_at, id LIMIT $4::bigint FOR UPDATE SKIP LOCKED) "
  "RETURNING id, queue, message_type, message, attempt, max_attempts, timeout_ms, epoch, "
  "priority, run_at";

/// One parameter of a statement: text, or bytes sent as binary (a bytea).
struct param {
  std::string value;
  bool binary = false;
};

param text(std::string v) {
  return param{std::move(v), false};
}

param number(std::int64_t v) {
  return param{std::to_string(v), false};
}

param bytes(const std::string& v) {
  return param{v, true};
}

/// A statement's result, cleared when it goes.
class pg_result {
public:
  explicit pg_result(PGresult* r = nullptr) : r_(r) {}
  ~pg_result() { PQclear(r_); }
  pg_result(pg_result&& other) noexcept : r_(std::exchange(other.r_, nullptr)) {}
  pg_result& operator=(pg_result&& other) noexcept {
    std::swap(r_, other.r_);
    return *this;
  }
  pg_result(const pg_result&) = delete;
  pg_result& operator=(const pg_result&) = delete;

  PGresult* get() const noexcept { return r_; }
  int rows() const { return PQntuples(r_); }
  std::string str(int row, int column) const {
    return std::string(PQgetvalue(r_, row, column),
                       static_cast<std::size_t>(PQgetlength(r_, row, column)));
  }
  std::int64_t num(int row, int column) const {
    return std::strtoll(PQgetvalue(r_, row, column), nullptr, 10);
  }
  bool null(int row, int column) const { return PQgetisnull(r_, row, column) == 1; }
  std::string bytea(int row, int column) const {
    std::size_t n = 0;
    auto* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, column)), &n);
    if (raw == nullptr)
      return {};
    std::string out(reinterpret_cast<const char*>(raw), n);
    PQfreemem(raw);
    return out;
  }
  std::int64_t changed() const { return std::strtoll(PQcmdTuples(r_), nullptr, 10); }

private:
  PGresult* r_;
};

job_record record_of(const pg_result& r, int row) {
  job_record out;
  out.id = r.num(row, 0);
  out.queue = r.str(row, 1);
  out.message_type = r.str(row, 2);
  out.message = r.bytea(row, 3);
  out.state = job_state_named(r.str(row, 4)).value_or(job_state::available);
  out.attempt = static_cast<int>(r.num(row, 5));
  out.max_attempts = static_cast<int>(r.num(row, 6));
  out.priority = static_cast<int>(r.num(row, 7));
  out.run_at = r.num(row, 8);
  out.timeout_ms = r.num(row, 9);
  out.unique_key = r.str(row, 10);
  out.epoch = r.num(row, 11);
  out.inserted_at = r.num(row, 12);
  out.attempted_at = r.num(row, 13);
  out.finished_at = r.num(row, 14);
  out.holder = job_holder{r.str(row, 15), r.str(row, 16)};
  return out;
}

} // namespace

std::string without_password(const std::string& url) {
  std::string out = url;
  // user:password@ in the authority
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto end = out.find_first_of("/?", scheme + 3);
    const auto at = out.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at != std::string::npos && at > scheme) {
      const auto colon = out.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at)
        out = out.substr(0, colon + 1) + "***" + out.substr(at);
    }
  }
  // password=... among the query's parameters
  for (std::size_t at = out.find("password="); at != std::string::npos;
       at = out.find("password=", at + 1)) {
    if (at > 0 && out[at - 1] != '?' && out[at - 1] != '&')
      continue;
    const auto value = at + 9;
    const auto end = out.find('&', value);
    out = out.substr(0, value) + "***" + (end == std::string::npos ? "" : out.substr(end));
  }
  return out;
}

namespace {

/// The password `url` carries (user:password@ or password=...), or "".
std::string password_in(const std::string& url) {
  if (char* error = nullptr; PQconninfoOption* options = PQconninfoParse(url.c_str(), &error)) {
    std::string out;
    for (auto* o = options; o->keyword != nullptr; ++o)
      if (std::string{o->keyword} == "password" && o->val != nullptr)
        out = o->val;
    PQconninfoFree(options);
    return out;
  } else {
    PQfreemem(error);
  }
  // A URL libpq cannot read: what without_password hides is the password.
  const auto hidden = without_password(url);
  std::size_t a = 0;
  while (a < url.size() && a < hidden.size() && url[a] == hidden[a])
    ++a;
  std::size_t b = 0;
  while (b < url.size() - a && b < hidden.size() - a
         && url[url.size() - 1 - b] == hidden[hidden.size() - 1 - b])
    ++b;
  return url.substr(a, url.size() - a - b);
}

/// `url` with the connection settings a job store needs added where it does not set them: a
/// bound on connecting, and TCP keepalives so that a server (or a network) that goes silent is
/// noticed rather than waited for.
std::string with_store_defaults(const std::string& url) {
  std::string out = url;
  for (const char* setting : {"connect_timeout=10", "keepalives_idle=10", "keepalives_interval=5",
                              "keepalives_count=3"}) {
    const std::string key = std::string{setting}.substr(0, std::string{setting}.find('=') + 1);
    if (out.find(key) != std::string::npos)
      continue;
    out += (out.find('?') == std::string::npos ? "?" : "&");
    out += setting;
  }
  return out;
}

/// What each session of a store sets: a lock waited for more than 5 s is given up (aborted, to
/// retry) rather than waited for forever, a session idle inside a transaction for 30 s (its node
/// frozen in the middle of a batch) is ended by the server, releasing its row locks, and no
/// statement runs longer than 60 s.
constexpr const char* session_settings =
  "SET lock_timeout = '5s'; SET idle_in_transaction_session_timeout = '30s'; "
  "SET statement_timeout = '60s'";

} // namespace

struct postgres_job_store::impl {
  std::string url;
  std::string where; // url without its password
  job_holder holder;
  PGconn* conn = nullptr;
  std::mutex mutex;                  // one connection, used by one thread at a time
  bool in_transaction_block = false; // between a transaction's BEGIN and its end

  ~impl() {
    if (conn != nullptr)
      PQfinish(conn);
  }

  std::string password; // the URL's, never to appear in a message

  /// libpq's message `text`, trimmed, with the URL's password (which libpq may quote, e.g. in a
  /// URL it cannot read) replaced by ***.
  std::string scrubbed(std::string text) const {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
      text.pop_back();
    if (!password.empty())
      for (auto at = text.find(password); at != std::string::npos; at = text.find(password, at + 3))
        text.replace(at, password.size(), "***");
    return text;
  }

  caf::error unavailable(const std::string& what) const {
    const std::string reason = scrubbed(conn != nullptr ? PQerrorMessage(conn) : "out of memory");
    return make_error(errc::service_unavailable,
                      fmt::format("job store {}: {}: {}", where, what, reason));
  }

  /// The store's error for a statement the server refused: its kind from the SQLSTATE.
  caf::error refused(PGresult* r, const std::string& what) const {
    const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    const std::string code = state != nullptr ? state : "";
    const std::string reason =
      scrubbed(r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn));
    errc kind = errc::internal;
    if (PQstatus(conn) != CONNECTION_OK || code.rfind("08", 0) == 0 || code.rfind("57P", 0) == 0)
      kind = errc::service_unavailable;
    else if (code.rfind("40", 0) == 0 || code == "55P03")
      kind = errc::aborted;
    else if (code == "42501")
      kind = errc::permission_denied;
    else if (code.rfind("53", 0) == 0)
      kind = errc::resource_exhausted;
    return make_error(kind, fmt::format("job store {}: {}: {}{}", where, what, reason,
                                        code.empty() ? "" : fmt::format(" (SQLSTATE {})", code)));
  }

  /// Makes sure the connection is up: a connection the server closed is reset once.
  caf::error connected() {
    bool fresh = false;
    if (conn == nullptr) {
      conn = PQconnectdb(with_store_defaults(url).c_str());
      if (conn == nullptr)
        return make_error(errc::service_unavailable,
                          fmt::format("job store {}: out of memory", where));
      fresh = true;
    } else if (PQstatus(conn) != CONNECTION_OK) {
      // Inside a transaction a new session would run the rest of it outside one: fail instead.
      if (in_transaction_block)
        return unavailable("the connection was lost inside a transaction");
      PQreset(conn);
      fresh = true;
    }
    if (PQstatus(conn) != CONNECTION_OK)
      return unavailable("cannot connect");
    if (fresh) {
      // Notices ("relation already exists, skipping") are not for the node's log.
      PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
      pg_result r{PQexec(conn, session_settings)};
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        return refused(r.get(), "cannot set the session's timeouts");
    }
    return {};
  }

  /// Runs `sql` with `params`; `what` names it in an error.
  caf::expected<pg_result> run(const char* sql, const std::vector<param>& params,
                               const char* what) {
    if (auto err = connected())
      return err;
    std::vector<const char*> values;
    std::vector<int> lengths;
    std::vector<int> formats;
    for (const auto& p : params) {
      values.push_back(p.value.data());
      lengths.push_back(static_cast<int>(p.value.size()));
      formats.push_back(p.binary ? 1 : 0);
    }
    pg_result r{PQexecParams(conn, sql, static_cast<int>(params.size()), nullptr, values.data(),
                             lengths.data(), formats.data(), 0)};
    return check(std::move(r), what);
  }

  /// Runs `sql` (no parameters, possibly several statements).
  caf::error exec(const char* sql, const char* what) {
    if (auto err = connected())
      return err;
    auto r = check(pg_result{PQexec(conn, sql)}, what);
    if (!r)
      return std::move(r.error());
    return {};
  }

  caf::expected<pg_result> check(pg_result r, const char* what) {
    const auto status = r.get() != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      return refused(r.get(), what);
    return r;
  }

  /// A transaction, rolled back unless commit() succeeded.
  class transaction {
  public:
    explicit transaction(impl& store) : store_(store) {}
    ~transaction() {
      if (open_ && store_.conn != nullptr && PQstatus(store_.conn) == CONNECTION_OK)
        PQclear(PQexec(store_.conn, "ROLLBACK"));
      store_.in_transaction_block = false;
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    caf::error begin() {
      if (auto err = store_.exec("BEGIN", "cannot begin a transaction"))
        return err;
      open_ = true;
      store_.in_transaction_block = true;
      return {};
    }
    caf::error commit() {
      open_ = false;
      store_.in_transaction_block = false;
      if (PQstatus(store_.conn) != CONNECTION_OK)
        return store_.unavailable("the connection was lost before the commit");
      pg_result r{PQexec(store_.conn, "COMMIT")};
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
        return store_.refused(r.get(), "cannot commit");
      // COMMIT of a transaction that failed answers ROLLBACK, not an error.
      if (std::string{PQcmdStatus(r.get())} != "COMMIT")
        return make_error(
          errc::aborted,
          fmt::format("job store {}: the transaction was rolled back", store_.where));
      return {};
    }

  private:
    impl& store_;
    bool open_ = false;
  };

  /// A savepoint around one write of a transaction: released, or rolled back to on an error.
  caf::error savepoint() { return exec("SAVEPOINT job_write", "cannot open a savepoint"); }
  void release_savepoint() { PQclear(PQexec(conn, "RELEASE SAVEPOINT job_write")); }
  void undo_savepoint() {
    PQclear(PQexec(conn, "ROLLBACK TO SAVEPOINT job_write"));
    PQclear(PQexec(conn, "RELEASE SAVEPOINT job_write"));
  }

  /// Whether the open transaction can go on (not aborted, not lost with the connection).
  bool in_transaction() const {
    return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_INTRANS;
  }

  caf::expected<enqueued_job> enqueue_in_savepoint(const new_job& job, std::int64_t now) {
    if (auto err = savepoint())
      return err;
    auto done = enqueue_rows(job, now);
    if (!done || done->duplicate)
      undo_savepoint();
    else
      release_savepoint();
    return done;
  }

  caf::expected<enqueued_job> enqueue_rows(const new_job& job, std::int64_t now) {
    const std::int64_t run_at = job.run_at > now ? job.run_at : now;
    auto inserted = run(
      "INSERT INTO microlith.jobs (queue, message_type, message, state, max_attempts, priority, "
      "run_at, timeout_ms, unique_key, inserted_at) VALUES ($1, $2, $3, $4, $5::integer, "
      "$6::integer, $7::bigint, $8::bigint, $9, $10::bigint) RETURNING id",
      {text(job.queue), text(job.message_type), bytes(job.message),
       text(job.run_at > now ? "scheduled" : "available"), number(job.max_attempts),
       number(job.priority), number(run_at), number(job.timeout_ms), text(job.unique_key),
       number(now)},
      "cannot insert a job");
    if (!inserted)
      return std::move(inserted.error());
    const std::int64_t id = inserted->num(0, 0);
    if (!job.unique_key.empty()) {
      // The key's row decides: taken over only when its holder's period has ended. A writer
      // of the same key at once waits for this transaction, then sees its row.
      auto take =
        run("INSERT INTO microlith.job_unique_keys (unique_key, job_id, expires_at) "
            "VALUES ($1, $2::bigint, $3::bigint) ON CONFLICT (unique_key) DO UPDATE "
            "SET job_id = excluded.job_id, expires_at = excluded.expires_at WHERE "
            "microlith.job_unique_keys.expires_at <= $4::bigint",
            {text(job.unique_key), number(id), number(now + job.unique_period_ms), number(now)},
            "cannot record a unique key");
      if (!take)
        return std::move(take.error());
      if (take->changed() == 0) {
        auto holder = run("SELECT job_id FROM microlith.job_unique_keys WHERE unique_key = $1",
                          {text(job.unique_key)}, "cannot read a unique key's job");
        if (!holder)
          return std::move(holder.error());
        if (holder->rows() != 1)
          return make_error(
            errc::aborted,
            fmt::format("job store {}: unique key {:?} changed while read", where, job.unique_key));
        return enqueued_job{holder->num(0, 0), true};
      }
    }
    return enqueued_job{id, false};
  }

  caf::expected<std::vector<claimed_job>> claim(const std::string& queue, std::size_t limit,
                                                std::int64_t now) {
    std::vector<claimed_job> out;
    if (limit == 0)
      return out;
    auto r = run(claim_sql,
                 {number(now), text(queue), number(now), number(static_cast<std::int64_t>(limit)),
                  text(holder.node), text(holder.instance)},
                 "cannot claim jobs");
    if (!r)
      return std::move(r.error());
    std::vector<std::pair<std::pair<std::int64_t, std::int64_t>, claimed_job>> rows;
    for (int i = 0; i < r->rows(); ++i) {
      claimed_job j;
      j.id = r->num(i, 0);
      j.queue = r->str(i, 1);
      j.message_type = r->str(i, 2);
      j.message = r->bytea(i, 3);
      j.attempt = static_cast<int>(r->num(i, 4));
      j.max_attempts = static_cast<int>(r->num(i, 5));
      j.timeout_ms = r->num(i, 6);
      j.epoch = r->num(i, 7);
      rows.emplace_back(std::make_pair(r->num(i, 8), r->num(i, 9)), std::move(j));
    }
    // RETURNING gives rows in no set order: hand them out in the order they were picked.
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.first, a.first.second, a.second.id)
             < std::tie(b.first.first, b.first.second, b.second.id);
    });
    for (auto& row : rows)
      out.push_back(std::move(row.second));
    return out;
  }

  /// Why an answer for attempt `epoch` of job `id` changed nothing.
  caf::error stale(std::int64_t id, std::int64_t epoch) {
    auto r = run("SELECT state, epoch FROM microlith.jobs WHERE id = $1::bigint", {number(id)},
                 "cannot read a job");
    if (!r)
      return std::move(r.error());
    if (r->rows() == 0)
      return make_error(errc::not_found, fmt::format("no job {}", id));
    return make_error(errc::failed_precondition,
                      fmt::format("job {} attempt epoch {} is stale: the job is {} at epoch {}", id,
                                  epoch, r->str(0, 0), r->num(0, 1)));
  }

  caf::error complete(std::int64_t id, std::int64_t epoch, std::int64_t now) {
    auto r = run("UPDATE microlith.jobs SET state = 'completed', finished_at = $1::bigint WHERE "
                 "id = $2::bigint AND epoch = $3::bigint AND state = 'executing'",
                 {number(now), number(id), number(epoch)}, "cannot complete a job");
    if (!r)
      return std::move(r.error());
    if (r->changed() == 0)
      return stale(id, epoch);
    return {};
  }

  void complete_and_claim_in_savepoint(job_write& w, std::int64_t now) {
    if (auto err = savepoint()) {
      w.error = std::move(err);
      return;
    }
    if (w.id != 0) {
      w.refused = complete(w.id, w.epoch, now);
      if (w.refused && !is(w.refused, errc::failed_precondition)
          && !is(w.refused, errc::not_found)) {
        w.error = std::move(w.refused);
        w.refused = caf::error{};
        undo_savepoint();
        return;
      }
    }
    auto claimed = claim(w.queue, w.claim_limit, now);
    if (!claimed) {
      w.error = std::move(claimed.error());
      w.refused = caf::error{};
      undo_savepoint();
      return;
    }
    w.claimed = std::move(*claimed);
    release_savepoint();
  }

  /// Records the error of attempt `attempt` of job `id`.
  caf::error record_error(std::int64_t id, std::int64_t attempt, std::int64_t now,
                          const std::string& message) {
    auto r =
      run("INSERT INTO microlith.job_errors (job_id, attempt, at, message) VALUES "
          "($1::bigint, $2::integer, $3::bigint, $4) ON CONFLICT (job_id, attempt) DO "
          "UPDATE SET at = excluded.at, message = excluded.message",
          {number(id), number(attempt), number(now), text(message)}, "cannot record a job error");
    if (!r)
      return std::move(r.error());
    return {};
  }

  caf::expected<job_state> fail(std::int64_t id, std::int64_t epoch, const std::string& message,
                                std::int64_t retry_at, std::int64_t now) {
    transaction t{*this};
    if (auto err = t.begin())
      return err;
    auto r = run("UPDATE microlith.jobs SET state = CASE WHEN attempt >= max_attempts THEN "
                 "'discarded' ELSE 'retryable' END, run_at = $1::bigint, finished_at = CASE WHEN "
                 "attempt >= max_attempts THEN $2::bigint ELSE 0 END WHERE id = $3::bigint AND "
                 "epoch = $4::bigint AND state = 'executing' RETURNING state, attempt",
                 {number(retry_at), number(now), number(id), number(epoch)},
                 "cannot record a failed attempt");
    if (!r)
      return std::move(r.error());
    if (r->rows() == 0)
      return stale(id, epoch);
    const job_state state = job_state_named(r->str(0, 0)).value_or(job_state::retryable);
    if (auto err = record_error(id, r->num(0, 1), now, message))
      return err;
    if (auto err = t.commit())
      return err;
    return state;
  }

  /// Rescues the executing jobs `where` selects (parameters from $2 on, `extra`): each attempt
  /// failed with `reason`, due at once or discarded after its last attempt, a new epoch.
  caf::expected<std::size_t> rescue_where(const std::string& where_sql, std::vector<param> extra,
                                          const std::string& reason, std::int64_t now) {
    transaction t{*this};
    if (auto err = t.begin())
      return err;
    const std::string sql = fmt::format(
      "UPDATE microlith.jobs SET state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE "
      "'available' END, run_at = LEAST(run_at, $1::bigint), finished_at = CASE WHEN attempt >= "
      "max_attempts THEN $1::bigint ELSE 0 END, epoch = epoch + 1 WHERE state = 'executing' AND "
      "({}) RETURNING id, attempt",
      where_sql);
    std::vector<param> params{number(now)};
    for (auto& p : extra)
      params.push_back(std::move(p));
    auto r = run(sql.c_str(), params, "cannot rescue executing jobs");
    if (!r)
      return std::move(r.error());
    for (int i = 0; i < r->rows(); ++i)
      if (auto err = record_error(r->num(i, 0), r->num(i, 1), now, reason))
        return err;
    if (auto err = t.commit())
      return err;
    return static_cast<std::size_t>(r->rows());
  }

  /// After a commit of unknown outcome: makes the (id, epoch) attempts claimed in it due again
  /// as they were, if they were claimed. Logs what it cannot give back.
  void give_back(const std::vector<std::pair<std::int64_t, std::int64_t>>& attempts,
                 std::int64_t now) {
    for (const auto& [id, epoch] : attempts)
      if (auto r = release(id, epoch, now); !r)
        log::error("jobs",
                   "job {} may be left executing: its claim's commit was cut off and it could "
                   "not be given back: {}",
                   id, describe(r.error()));
  }

  /// release(), with the mutex held: answers whether attempt `epoch` of job `id` was given back.
  caf::expected<bool> release(std::int64_t id, std::int64_t epoch, std::int64_t now) {
    auto r = run("UPDATE microlith.jobs SET state = 'available', attempt = attempt - 1, epoch = "
                 "epoch + 1, run_at = LEAST(run_at, $1::bigint), node = '', node_instance = '' "
                 "WHERE id = $2::bigint AND epoch = $3::bigint AND state = 'executing'",
                 {number(now), number(id), number(epoch)}, "cannot give back a claimed job");
    if (!r)
      return std::move(r.error());
    return r->changed() > 0;
  }

  caf::expected<std::optional<std::string>> state_of(std::int64_t id) {
    auto r = run("SELECT state FROM microlith.jobs WHERE id = $1::bigint", {number(id)},
                 "cannot read a job");
    if (!r)
      return std::move(r.error());
    if (r->rows() == 0)
      return std::optional<std::string>{};
    return std::optional<std::string>{r->str(0, 0)};
  }

  caf::expected<std::vector<job_error>> errors_of(std::int64_t id) {
    auto r = run("SELECT attempt, at, message FROM microlith.job_errors WHERE job_id = "
                 "$1::bigint ORDER BY attempt",
                 {number(id)}, "cannot read job errors");
    if (!r)
      return std::move(r.error());
    std::vector<job_error> out;
    for (int i = 0; i < r->rows(); ++i)
      out.push_back(job_error{static_cast<int>(r->num(i, 0)), r->num(i, 1), r->str(i, 2)});
    return out;
  }
};

postgres_job_store::postgres_job_store(std::unique_ptr<impl> p, job_holder holder)
  : job_store(std::move(holder)), impl_(std::move(p)) {}

postgres_job_store::~postgres_job_store() = default;

caf::expected<std::unique_ptr<postgres_job_store>> postgres_job_store::open(const std::string& url,
                                                                            job_holder holder) {
  auto p = std::make_unique<impl>();
  p->url = url;
  p->where = without_password(url);
  p->password = password_in(url);
  p->holder = holder;
  if (auto err = p->connected())
    return err;
  // Notices ("relation already exists, skipping") are not for the node's log.
  PQsetNoticeProcessor(
    p->conn, [](void*, const char*) {}, nullptr);
  {
    impl::transaction t{*p};
    if (auto err = t.begin())
      return err;
    if (auto err = p->exec(create_schema, "cannot make the schema microlith"))
      return err;
    if (auto err = t.commit())
      return err;
  }
  return std::unique_ptr<postgres_job_store>(
    new postgres_job_store(std::move(p), std::move(holder)));
}

std::string postgres_job_store::where() const {
  return impl_->where;
}

caf::expected<enqueued_job> postgres_job_store::enqueue(const new_job& job, std::int64_t now) {
  if (auto err = detail::check_new_job(job))
    return err;
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return err;
  auto done = impl_->enqueue_rows(job, now);
  if (!done || done->duplicate)
    return done; // the transaction rolls back: no new job
  if (auto err = t.commit())
    return err;
  return done;
}

caf::expected<std::vector<claimed_job>>
postgres_job_store::claim(const std::string& queue, std::size_t limit, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->claim(queue, limit, now);
}

caf::error postgres_job_store::complete(std::int64_t id, std::int64_t epoch, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->complete(id, epoch, now);
}

caf::expected<std::vector<claimed_job>>
postgres_job_store::complete_and_claim(std::int64_t id, std::int64_t epoch,
                                       const std::string& queue, std::int64_t now,
                                       caf::error& refused) {
  std::vector<job_write> one{job_write::complete_and_claim_of(id, epoch, queue, 1)};
  if (auto err = write_batch(one, now))
    return err;
  if (one[0].error)
    return std::move(one[0].error);
  refused = std::move(one[0].refused);
  return std::move(one[0].claimed);
}

caf::error postgres_job_store::write_batch(std::vector<job_write>& writes, std::int64_t now) {
  for (auto& w : writes)
    if (w.what == job_write::kind::enqueue)
      w.error = detail::check_new_job(w.job);
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
  // Unique keys are taken in the keys' order (the writes of one key in their own order), so two
  // nodes' batches taking the same keys never wait for each other in a cycle (a deadlock). The
  // keyed enqueues are ordered among the places they hold; every other write keeps its place.
  std::vector<std::size_t> order(writes.size());
  std::vector<std::size_t> keyed;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    order[i] = i;
    if (writes[i].what == job_write::kind::enqueue && !writes[i].job.unique_key.empty())
      keyed.push_back(i);
  }
  auto by_key = keyed;
  std::stable_sort(by_key.begin(), by_key.end(), [&writes](std::size_t x, std::size_t y) {
    return writes[x].job.unique_key < writes[y].job.unique_key;
  });
  for (std::size_t j = 0; j < keyed.size(); ++j)
    order[keyed[j]] = by_key[j];
  for (const auto i : order) {
    auto& w = writes[i];
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
    // A lost connection, or a savepoint that could not be rolled back to, ends the batch.
    if (!impl_->in_transaction())
      return fail_all(impl_->unavailable("the batch's transaction was lost"));
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> claimed;
  for (const auto& w : writes)
    for (const auto& c : w.claimed)
      claimed.emplace_back(c.id, c.epoch);
  if (auto err = t.commit()) {
    // A COMMIT whose connection was lost may have committed: the claims it carried would stay
    // executing under this live node, which no rescue takes back. Give them back (the epoch
    // makes it nothing when the commit did not happen).
    if (!claimed.empty() && is(err, errc::service_unavailable))
      impl_->give_back(claimed, now);
    return fail_all(err);
  }
  return {};
}

caf::expected<job_state> postgres_job_store::fail(std::int64_t id, std::int64_t epoch,
                                                  const std::string& message, std::int64_t retry_at,
                                                  std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->fail(id, epoch, message, retry_at, now);
}

caf::expected<job_state> postgres_job_store::rescue(std::int64_t id, std::int64_t epoch,
                                                    const std::string& message, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->fail(id, epoch, message, now, now);
}

caf::error postgres_job_store::release(std::int64_t id, std::int64_t epoch, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto released = impl_->release(id, epoch, now);
  if (!released)
    return std::move(released.error());
  if (!*released)
    return impl_->stale(id, epoch);
  return {};
}

caf::expected<std::size_t> postgres_job_store::rescue_executing(std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  // A database is shared: a system run in one process (its holder has no node name) takes back
  // only the attempts of such processes, never those of a cluster's nodes.
  auto r = impl_->run("UPDATE microlith.jobs SET state = 'available', run_at = LEAST(run_at, "
                      "$1::bigint), epoch = epoch + 1 WHERE state = 'executing' AND node = ''",
                      {number(now)}, "cannot rescue executing jobs");
  if (!r)
    return std::move(r.error());
  return static_cast<std::size_t>(r->changed());
}

caf::expected<std::size_t> postgres_job_store::rescue_previous_instances(std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  const auto& me = impl_->holder;
  return impl_->rescue_where(
    "node = $2 AND node_instance != $3", {text(me.node), text(me.instance)},
    fmt::format("node {} started again: the attempt of its previous process cannot answer",
                me.node),
    now);
}

caf::expected<std::size_t> postgres_job_store::rescue_holder(const job_holder& lost,
                                                             std::int64_t claimed_until,
                                                             const std::string& reason,
                                                             std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->rescue_where("node = $2 AND node_instance = $3 AND attempted_at <= $4::bigint",
                             {text(lost.node), text(lost.instance), number(claimed_until)}, reason,
                             now);
}

caf::expected<std::vector<job_holder>> postgres_job_store::executing_holders() {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto r = impl_->run("SELECT DISTINCT node, node_instance FROM microlith.jobs WHERE state = "
                      "'executing' ORDER BY 1, 2",
                      {}, "cannot read the holders of executing jobs");
  if (!r)
    return std::move(r.error());
  std::vector<job_holder> out;
  for (int i = 0; i < r->rows(); ++i)
    out.push_back(job_holder{r->str(i, 0), r->str(i, 1)});
  return out;
}

caf::error postgres_job_store::cancel(std::int64_t id, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto r = impl_->run("UPDATE microlith.jobs SET state = 'cancelled', finished_at = $1::bigint, "
                      "epoch = epoch + 1 WHERE id = $2::bigint AND state IN ('available', "
                      "'scheduled', 'executing', 'retryable')",
                      {number(now), number(id)}, "cannot cancel a job");
  if (!r)
    return std::move(r.error());
  if (r->changed() > 0)
    return {};
  auto found = impl_->state_of(id);
  if (!found)
    return std::move(found.error());
  if (!*found)
    return make_error(errc::not_found, fmt::format("no job {}", id));
  return make_error(errc::failed_precondition,
                    fmt::format("job {} is {} already; only a waiting or executing job can be "
                                "cancelled",
                                id, **found));
}

caf::error postgres_job_store::retry(std::int64_t id, std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto r = impl_->run("UPDATE microlith.jobs SET state = 'available', run_at = $1::bigint, "
                      "finished_at = 0, max_attempts = GREATEST(max_attempts, attempt + 1) WHERE "
                      "id = $2::bigint AND state != 'executing'",
                      {number(now), number(id)}, "cannot retry a job");
  if (!r)
    return std::move(r.error());
  if (r->changed() > 0)
    return {};
  auto found = impl_->state_of(id);
  if (!found)
    return std::move(found.error());
  if (!*found)
    return make_error(errc::not_found, fmt::format("no job {}", id));
  return make_error(errc::failed_precondition,
                    fmt::format("job {} is executing; wait for its attempt to end", id));
}

caf::expected<std::optional<job_record>> postgres_job_store::find(std::int64_t id) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  const std::string sql = fmt::format("{} WHERE id = $1::bigint", record_columns);
  auto r = impl_->run(sql.c_str(), {number(id)}, "cannot read a job");
  if (!r)
    return std::move(r.error());
  if (r->rows() == 0)
    return std::optional<job_record>{};
  job_record out = record_of(*r, 0);
  auto errors = impl_->errors_of(id);
  if (!errors)
    return std::move(errors.error());
  out.errors = std::move(*errors);
  return std::optional<job_record>{std::move(out)};
}

caf::expected<std::vector<job_record>> postgres_job_store::list(const job_filter& filter) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  const std::string sql = fmt::format("{} WHERE ($1::text = '' OR queue = $1::text) AND "
                                      "($2::text = '' OR state = $2::text) ORDER BY id DESC "
                                      "LIMIT $3::bigint",
                                      record_columns);
  auto r = impl_->run(sql.c_str(),
                      {text(filter.queue), text(filter.state ? to_string(*filter.state) : ""),
                       number(static_cast<std::int64_t>(filter.limit))},
                      "cannot list jobs");
  if (!r)
    return std::move(r.error());
  std::vector<job_record> out;
  for (int i = 0; i < r->rows(); ++i)
    out.push_back(record_of(*r, i));
  for (auto& job : out) {
    auto errors = impl_->errors_of(job.id);
    if (!errors)
      return std::move(errors.error());
    job.errors = std::move(*errors);
  }
  return out;
}

caf::expected<std::map<std::string, std::map<job_state, std::int64_t>>>
postgres_job_store::stats() {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto r = impl_->run("SELECT queue, state, count(*) FROM microlith.jobs GROUP BY queue, state", {},
                      "cannot count jobs");
  if (!r)
    return std::move(r.error());
  std::map<std::string, std::map<job_state, std::int64_t>> out;
  for (int i = 0; i < r->rows(); ++i)
    if (auto state = job_state_named(r->str(i, 1)))
      out[r->str(i, 0)][*state] = r->num(i, 2);
  return out;
}

caf::expected<std::optional<std::int64_t>>
postgres_job_store::next_run_at(const std::string& queue) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto r = impl_->run("SELECT min(run_at) FROM microlith.jobs WHERE queue = $1 AND state IN "
                      "('available', 'scheduled', 'retryable')",
                      {text(queue)}, "cannot read the next due job");
  if (!r)
    return std::move(r.error());
  if (r->rows() == 0 || r->null(0, 0))
    return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>{r->num(0, 0)};
}

caf::expected<std::int64_t> postgres_job_store::cron_seen(const std::string& name,
                                                          const std::string& expression,
                                                          const std::string& zone,
                                                          std::int64_t now) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return err;
  auto read = impl_->run("SELECT since FROM microlith.cron_schedules WHERE schedule = $1 AND "
                         "expression = $2 AND zone = $3 FOR UPDATE",
                         {text(name), text(expression), text(zone)}, "cannot read a cron schedule");
  if (!read)
    return std::move(read.error());
  if (read->rows() == 0) {
    // First seen, or its expression or zone changed: its missed ticks count from now.
    auto write = impl_->run(
      "INSERT INTO microlith.cron_schedules (schedule, expression, zone, since) VALUES ($1, $2, "
      "$3, $4::bigint) ON CONFLICT (schedule) DO UPDATE SET expression = excluded.expression, "
      "zone = excluded.zone, since = excluded.since",
      {text(name), text(expression), text(zone), number(now)}, "cannot record a cron schedule");
    if (!write)
      return std::move(write.error());
    if (auto err = t.commit())
      return err;
    return now;
  }
  std::int64_t from = read->num(0, 0);
  auto last = impl_->run("SELECT max(tick_at) FROM microlith.cron_ticks WHERE schedule = $1",
                         {text(name)}, "cannot read a schedule's last tick");
  if (!last)
    return std::move(last.error());
  if (last->rows() == 1 && !last->null(0, 0))
    from = std::max<std::int64_t>(from, last->num(0, 0));
  if (auto err = t.commit())
    return err;
  return from;
}

caf::expected<enqueued_job> postgres_job_store::enqueue_cron_tick(const std::string& name,
                                                                  std::int64_t tick_at,
                                                                  const new_job& job,
                                                                  std::int64_t now) {
  if (auto err = detail::check_new_job(job))
    return err;
  std::lock_guard<std::mutex> guard{impl_->mutex};
  impl::transaction t{*impl_};
  if (auto err = t.begin())
    return err;
  auto floor = impl_->run("SELECT pruned_before FROM microlith.cron_schedules WHERE schedule = $1",
                          {text(name)}, "cannot read a cron schedule's floor");
  if (!floor)
    return std::move(floor.error());
  if (floor->rows() == 1 && tick_at < floor->num(0, 0))
    return enqueued_job{0, true}; // recorded once, then pruned
  // The tick's row decides: a tick recorded already (by another node, or by this one before a
  // restart) inserts nothing, and the transaction is rolled back.
  auto take = impl_->run("INSERT INTO microlith.cron_ticks (schedule, tick_at, job_id) VALUES "
                         "($1, $2::bigint, 0) ON CONFLICT (schedule, tick_at) DO NOTHING",
                         {text(name), number(tick_at)}, "cannot record a cron tick");
  if (!take)
    return std::move(take.error());
  if (take->changed() == 0) {
    auto holder = impl_->run("SELECT job_id FROM microlith.cron_ticks WHERE schedule = $1 AND "
                             "tick_at = $2::bigint",
                             {text(name), number(tick_at)}, "cannot read a cron tick's job");
    if (!holder)
      return std::move(holder.error());
    if (holder->rows() != 1)
      return make_error(errc::aborted, fmt::format("job store {}: cron tick of {} changed while "
                                                   "read",
                                                   impl_->where, name));
    return enqueued_job{holder->num(0, 0), true};
  }
  auto done = impl_->enqueue_in_savepoint(job, now);
  if (!done)
    return std::move(done.error());
  auto link =
    impl_->run("UPDATE microlith.cron_ticks SET job_id = $1::bigint WHERE schedule = $2 "
               "AND tick_at = $3::bigint",
               {number(done->id), text(name), number(tick_at)}, "cannot record a cron tick's job");
  if (!link)
    return std::move(link.error());
  // Keeps the newest cron_ticks_kept ticks: the older ones go, and the floor rises to the
  // oldest kept.
  auto oldest =
    impl_->run("SELECT tick_at FROM microlith.cron_ticks WHERE schedule = $1 ORDER "
               "BY tick_at DESC LIMIT 1 OFFSET $2::bigint",
               {text(name), number(cron_ticks_kept - 1)}, "cannot read a schedule's ticks");
  if (!oldest)
    return std::move(oldest.error());
  if (oldest->rows() == 1) {
    const auto kept = oldest->num(0, 0);
    auto raised = impl_->run("UPDATE microlith.cron_schedules SET pruned_before = "
                             "GREATEST(pruned_before, $1::bigint) WHERE schedule = $2",
                             {number(kept), text(name)}, "cannot record a cron schedule's floor");
    if (!raised)
      return std::move(raised.error());
    auto pruned = impl_->run("DELETE FROM microlith.cron_ticks WHERE schedule = $1 AND tick_at < "
                             "$2::bigint",
                             {text(name), number(kept)}, "cannot prune a schedule's ticks");
    if (!pruned)
      return std::move(pruned.error());
  }
  if (auto err = t.commit())
    return err;
  return enqueued_job{done->id, false};
}

caf::expected<std::vector<std::pair<std::int64_t, std::int64_t>>>
postgres_job_store::cron_ticks(const std::string& name) {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto r = impl_->run("SELECT tick_at, job_id FROM microlith.cron_ticks WHERE schedule = $1 "
                      "ORDER BY tick_at",
                      {text(name)}, "cannot read cron ticks");
  if (!r)
    return std::move(r.error());
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  for (int i = 0; i < r->rows(); ++i)
    out.emplace_back(r->num(i, 0), r->num(i, 1));
  return out;
}

} // namespace microlith
