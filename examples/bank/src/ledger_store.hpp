// Where the ledger keeps its entries: a SQLite database. ":memory:" (the default) is private to
// one ledger instance and lost when it stops; a file survives restarts of the instance and of the
// process, and is shared by every ledger instance that names it — replicas on several nodes of
// one machine see one ledger (SQLite's WAL mode and a busy timeout let them write in turn).
#pragma once

#include "proto/bank.pb.h"

#include <sqlite3.h>

#include <string>
#include <vector>

namespace bank {

class ledger_store {
public:
  /// Opens (and if needed creates) the database at `path`; throws std::runtime_error naming the
  /// path and SQLite's reason when it cannot, or when `path` holds a NUL character.
  explicit ledger_store(const std::string& path);

  ~ledger_store();

  ledger_store(const ledger_store&) = delete;
  ledger_store& operator=(const ledger_store&) = delete;

  /// Records `entries` in one transaction, all or none, numbering them in arrival order and
  /// stamping them with `correlation_id`; answers them as recorded. Throws on a database error.
  /// Strings are kept byte for byte, embedded NUL characters included.
  std::vector<Entry> append(const std::vector<Entry>& entries, const std::string& correlation_id);

  /// The entries of `account_id` (every entry when empty), oldest first; `account_id` matches
  /// byte for byte ("a\0x" is not "a\0y", nor "a").
  std::vector<Entry> history(const std::string& account_id);

private:
  void exec(const char* sql);
  [[noreturn]] void fail(const std::string& what);

  std::string path_;
  sqlite3* db_ = nullptr;
};

} // namespace bank
