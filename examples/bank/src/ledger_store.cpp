#include "ledger_store.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>

namespace bank {

namespace {

/// A prepared statement, finalized when it goes away.
using statement = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

/// `sql` prepared on `db`; null when SQLite refuses it.
statement prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    raw = nullptr;
  }
  return statement{raw, &sqlite3_finalize};
}

constexpr const char* create_table = R"sql(
  CREATE TABLE IF NOT EXISTS entries (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    delta INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    kind TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    counterparty TEXT NOT NULL,
    idempotency_key TEXT NOT NULL DEFAULT '',
    request_fingerprint TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX IF NOT EXISTS entries_by_account ON entries (account_id, sequence);
)sql";

/// Created once the columns exist (a file from before them gets them first). Partial: most
/// entries have no key.
constexpr const char* create_key_index =
  "CREATE INDEX IF NOT EXISTS entries_by_key ON entries (idempotency_key, sequence) "
  "WHERE idempotency_key <> ''";

constexpr const char* select_columns =
  "SELECT sequence, account_id, delta, balance_after, kind, correlation_id, counterparty, "
  "idempotency_key, request_fingerprint FROM entries";

// Text goes in and comes out with its length, never up to a NUL: "a\0x" and "a\0y" are two
// values, not two spellings of "a". (Equality and ordering on such values compare all their
// bytes under the BINARY collation the columns use.)

/// Binds `text` to parameter `index`, all of its bytes.
int bind_text(sqlite3_stmt* s, int index, const std::string& text) {
  return sqlite3_bind_text64(s, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

/// The text of `column`, all of its bytes (sqlite3_column_bytes after sqlite3_column_text, as
/// SQLite's documentation orders the two calls).
std::string text_of(sqlite3_stmt* s, int column) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  if (p == nullptr)
    return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
}

/// The entry in the current row of a query over `select_columns`.
Entry entry_of(sqlite3_stmt* s) {
  Entry e;
  e.set_sequence(static_cast<std::uint64_t>(sqlite3_column_int64(s, 0)));
  e.set_account_id(text_of(s, 1));
  e.set_delta(sqlite3_column_int64(s, 2));
  e.set_balance_after(sqlite3_column_int64(s, 3));
  e.set_kind(text_of(s, 4));
  e.set_correlation_id(text_of(s, 5));
  e.set_counterparty(text_of(s, 6));
  e.set_idempotency_key(text_of(s, 7));
  e.set_request_fingerprint(text_of(s, 8));
  return e;
}

/// Rolls back the transaction it guards unless it was committed.
class transaction {
public:
  explicit transaction(sqlite3* db) : db_(db) {}
  ~transaction() {
    if (open_)
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  void committed() noexcept { open_ = false; }

private:
  sqlite3* db_;
  bool open_ = true;
};

/// Why `entry` (the `index`-th of its batch) does not continue its account's record, whose last
/// balance_after is `last` (none when the account has no entry yet), or an empty string.
std::string check_continues(const Entry& entry, int index,
                            const std::optional<std::int64_t>& last) {
  auto where = [&] {
    return fmt::format("ledger entry {} ({} of {} for account {})", index, entry.kind(),
                       entry.delta(), entry.account_id());
  };
  if (entry.kind() == "open") {
    if (last)
      return fmt::format("{}: the account is open already, with the recorded balance {}; an open "
                         "must be its first entry",
                         where(), *last);
    if (entry.balance_after() != entry.delta())
      return fmt::format("{}: an open's balance_after must be its delta {}, the entry says {}",
                         where(), entry.delta(), entry.balance_after());
    return {};
  }
  if (!last)
    return fmt::format("{}: the ledger has no entry for the account (it must be opened first)",
                       where());
  constexpr auto max = std::numeric_limits<std::int64_t>::max();
  constexpr auto min = std::numeric_limits<std::int64_t>::min();
  if (entry.delta() > 0 ? *last > max - entry.delta() : *last < min - entry.delta())
    return fmt::format("{}: the recorded balance {} cannot take it", where(), *last);
  auto expected = *last + entry.delta();
  if (entry.balance_after() != expected)
    return fmt::format("{}: the entry says balance_after {}, expected {} (the recorded balance "
                       "{} plus the delta)",
                       where(), entry.balance_after(), expected, *last);
  return {};
}

} // namespace

ledger_store::ledger_store(const std::string& path) : path_(path) {
  if (auto nul = path.find('\0'); nul != std::string::npos) // SQLite would open its prefix
    throw std::runtime_error(fmt::format("ledger database {}: the file name holds a NUL "
                                         "character at byte {}: expected a path without one",
                                         path.substr(0, nul), nul));
  try {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr)
        != SQLITE_OK)
      fail("cannot open the database");
    sqlite3_busy_timeout(db_, 5000);
    if (path != ":memory:") {
      // Two replicas opening one new file at once both switch it to WAL. SQLite answers BUSY
      // at once, without its busy handler, to the one whose lock upgrade would deadlock with the
      // other's; it succeeds once the other is done, so retry for as long as the busy timeout.
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      int rc = SQLITE_OK;
      while ((rc = sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr))
               == SQLITE_BUSY
             && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (rc != SQLITE_OK)
        fail("cannot run \"PRAGMA journal_mode=WAL\"");
      // In WAL mode, NORMAL syncs the log at checkpoints rather than at every commit: a commit
      // survives the process being killed (it is in the OS's cache), and the file is never left
      // inconsistent; an OS crash or power loss may lose the last commits. FULL cost ~7 ms per
      // append on the test machine's disk.
      exec("PRAGMA synchronous=NORMAL");
    }
    migrate();
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

ledger_store::~ledger_store() {
  sqlite3_close(db_);
}

void ledger_store::migrate() {
  // One write transaction, so that two replicas opening an older file at once add each column
  // once.
  exec("BEGIN IMMEDIATE");
  transaction guard{db_};
  exec(create_table);
  auto columns = prepare(db_, "PRAGMA table_info(entries)");
  if (!columns)
    fail("cannot read the columns of table entries");
  std::set<std::string> have;
  int rc = 0;
  while ((rc = sqlite3_step(columns.get())) == SQLITE_ROW)
    have.insert(text_of(columns.get(), 1));
  if (rc != SQLITE_DONE)
    fail("cannot read the columns of table entries");
  columns.reset();
  if (have.count("idempotency_key") == 0)
    exec("ALTER TABLE entries ADD COLUMN idempotency_key TEXT NOT NULL DEFAULT ''");
  if (have.count("request_fingerprint") == 0)
    exec("ALTER TABLE entries ADD COLUMN request_fingerprint TEXT NOT NULL DEFAULT ''");
  exec(create_key_index);
  exec("COMMIT");
  guard.committed();
}

append_result ledger_store::append(const std::vector<Entry>& entries,
                                   const std::string& correlation_id,
                                   const std::string& idempotency_key,
                                   const std::string& fingerprint) {
  exec("BEGIN IMMEDIATE");
  transaction guard{db_};
  append_result out;
  if (!idempotency_key.empty()) {
    auto first = history({}, idempotency_key);
    if (!first.empty()) {
      exec("COMMIT");
      guard.committed();
      if (first.front().request_fingerprint() != fingerprint) {
        out.result = append_result::outcome::key_reused;
        out.reason = fmt::format("idempotency key \"{}\" was first used for another request "
                                 "(fingerprint {}, this one is {}); it was recorded by ledger "
                                 "entry {}",
                                 idempotency_key, first.front().request_fingerprint(), fingerprint,
                                 first.front().sequence());
        return out;
      }
      out.result = append_result::outcome::replayed;
      out.entries = std::move(first);
      return out;
    }
  }

  // Every entry must continue its account's record, including the entries before it in the batch.
  auto last_of = prepare(db_, "SELECT balance_after FROM entries WHERE account_id = ? "
                              "ORDER BY sequence DESC LIMIT 1");
  if (!last_of)
    fail("cannot prepare a balance query");
  std::map<std::string, std::optional<std::int64_t>> last;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& in = entries[i];
    auto it = last.find(in.account_id());
    if (it == last.end()) {
      sqlite3_reset(last_of.get());
      if (bind_text(last_of.get(), 1, in.account_id()) != SQLITE_OK)
        fail("cannot bind a balance query");
      std::optional<std::int64_t> recorded;
      switch (sqlite3_step(last_of.get())) {
        case SQLITE_ROW: recorded = sqlite3_column_int64(last_of.get(), 0); break;
        case SQLITE_DONE: break;
        default: fail("cannot read an account's last balance");
      }
      it = last.emplace(in.account_id(), recorded).first;
    }
    if (auto why = check_continues(in, static_cast<int>(i), it->second); !why.empty()) {
      out.result = append_result::outcome::mismatch;
      out.reason = std::move(why);
      return out; // the guard rolls back the read transaction
    }
    it->second = in.balance_after();
  }

  auto insert = prepare(db_, "INSERT INTO entries (account_id, delta, balance_after, kind, "
                             "correlation_id, counterparty, idempotency_key, request_fingerprint) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert)
    fail("cannot prepare an append");
  const std::string stored_fingerprint = idempotency_key.empty() ? std::string{} : fingerprint;
  for (const auto& in : entries) {
    sqlite3_reset(insert.get());
    if (bind_text(insert.get(), 1, in.account_id()) != SQLITE_OK
        || sqlite3_bind_int64(insert.get(), 2, in.delta()) != SQLITE_OK
        || sqlite3_bind_int64(insert.get(), 3, in.balance_after()) != SQLITE_OK
        || bind_text(insert.get(), 4, in.kind()) != SQLITE_OK
        || bind_text(insert.get(), 5, correlation_id) != SQLITE_OK
        || bind_text(insert.get(), 6, in.counterparty()) != SQLITE_OK
        || bind_text(insert.get(), 7, idempotency_key) != SQLITE_OK
        || bind_text(insert.get(), 8, stored_fingerprint) != SQLITE_OK)
      fail("cannot bind an entry");
    if (sqlite3_step(insert.get()) != SQLITE_DONE)
      fail("cannot append an entry");
    Entry& recorded = out.entries.emplace_back(in);
    recorded.set_sequence(static_cast<std::uint64_t>(sqlite3_last_insert_rowid(db_)));
    recorded.set_correlation_id(correlation_id);
    recorded.set_idempotency_key(idempotency_key);
    recorded.set_request_fingerprint(stored_fingerprint);
  }
  exec("COMMIT");
  guard.committed();
  return out;
}

std::vector<Entry> ledger_store::history(const std::string& account_id,
                                         const std::string& idempotency_key) {
  // The key filter repeats the partial index's condition so that SQLite may use the index.
  std::string sql = select_columns;
  if (!account_id.empty() && !idempotency_key.empty())
    sql += " WHERE account_id = ?1 AND idempotency_key = ?2 AND idempotency_key <> ''";
  else if (!account_id.empty())
    sql += " WHERE account_id = ?1";
  else if (!idempotency_key.empty())
    sql += " WHERE idempotency_key = ?2 AND idempotency_key <> ''";
  sql += " ORDER BY sequence";
  auto query = prepare(db_, sql.c_str());
  if (!query)
    fail("cannot prepare a history query");
  if (!account_id.empty() && bind_text(query.get(), 1, account_id) != SQLITE_OK)
    fail("cannot bind a history query");
  if (!idempotency_key.empty() && bind_text(query.get(), 2, idempotency_key) != SQLITE_OK)
    fail("cannot bind a history query");
  std::vector<Entry> out;
  int rc = 0;
  while ((rc = sqlite3_step(query.get())) == SQLITE_ROW)
    out.push_back(entry_of(query.get()));
  if (rc != SQLITE_DONE)
    fail("cannot read the history");
  return out;
}

void ledger_store::exec(const char* sql) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
    fail(fmt::format("cannot run \"{}\"", sql));
}

void ledger_store::fail(const std::string& what) {
  throw std::runtime_error(fmt::format("ledger database {}: {}: {}", path_, what,
                                       db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory"));
}

} // namespace bank
