#include "ledger_store.hpp"

#include <fmt/format.h>

#include <memory>
#include <stdexcept>

namespace bank {

namespace {

/// A prepared statement, finalized when it goes away.
using statement = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

constexpr const char* schema = R"sql(
  CREATE TABLE IF NOT EXISTS entries (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    delta INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    kind TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    counterparty TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS entries_by_account ON entries (account_id, sequence);
)sql";

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
    if (path != ":memory:")
      exec("PRAGMA journal_mode=WAL");
    exec(schema);
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

ledger_store::~ledger_store() {
  sqlite3_close(db_);
}

std::vector<Entry> ledger_store::append(const std::vector<Entry>& entries,
                                        const std::string& correlation_id) {
  exec("BEGIN IMMEDIATE");
  try {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_,
                           "INSERT INTO entries (account_id, delta, balance_after, kind, "
                           "correlation_id, counterparty) VALUES (?, ?, ?, ?, ?, ?)",
                           -1, &raw, nullptr)
        != SQLITE_OK)
      fail("cannot prepare an append");
    statement insert{raw, &sqlite3_finalize};
    std::vector<Entry> recorded;
    for (const auto& in : entries) {
      sqlite3_reset(insert.get());
      if (bind_text(insert.get(), 1, in.account_id()) != SQLITE_OK
          || sqlite3_bind_int64(insert.get(), 2, in.delta()) != SQLITE_OK
          || sqlite3_bind_int64(insert.get(), 3, in.balance_after()) != SQLITE_OK
          || bind_text(insert.get(), 4, in.kind()) != SQLITE_OK
          || bind_text(insert.get(), 5, correlation_id) != SQLITE_OK
          || bind_text(insert.get(), 6, in.counterparty()) != SQLITE_OK)
        fail("cannot bind an entry");
      if (sqlite3_step(insert.get()) != SQLITE_DONE)
        fail("cannot append an entry");
      Entry& out = recorded.emplace_back(in);
      out.set_sequence(static_cast<std::uint64_t>(sqlite3_last_insert_rowid(db_)));
      out.set_correlation_id(correlation_id);
    }
    exec("COMMIT");
    return recorded;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::vector<Entry> ledger_store::history(const std::string& account_id) {
  sqlite3_stmt* raw = nullptr;
  const char* sql = account_id.empty()
                      ? "SELECT sequence, account_id, delta, balance_after, kind, correlation_id, "
                        "counterparty FROM entries ORDER BY sequence"
                      : "SELECT sequence, account_id, delta, balance_after, kind, correlation_id, "
                        "counterparty FROM entries WHERE account_id = ? ORDER BY sequence";
  if (sqlite3_prepare_v2(db_, sql, -1, &raw, nullptr) != SQLITE_OK)
    fail("cannot prepare a history query");
  statement query{raw, &sqlite3_finalize};
  if (!account_id.empty() && bind_text(query.get(), 1, account_id) != SQLITE_OK)
    fail("cannot bind a history query");
  std::vector<Entry> out;
  int rc = 0;
  while ((rc = sqlite3_step(query.get())) == SQLITE_ROW) {
    Entry& e = out.emplace_back();
    e.set_sequence(static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 0)));
    e.set_account_id(text_of(query.get(), 1));
    e.set_delta(sqlite3_column_int64(query.get(), 2));
    e.set_balance_after(sqlite3_column_int64(query.get(), 3));
    e.set_kind(text_of(query.get(), 4));
    e.set_correlation_id(text_of(query.get(), 5));
    e.set_counterparty(text_of(query.get(), 6));
  }
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
