// Where the ledger keeps its entries: a SQLite database. ":memory:" (the default) is private to
// one ledger instance and lost when it stops; a file survives restarts of the instance and of the
// process, and is shared by every ledger instance that names it — replicas on several nodes of
// one machine see one ledger (SQLite's WAL mode and a busy timeout let them write in turn).
//
// The store is where the ledger's two guarantees are kept, each inside the append's own write
// transaction, so they hold for replicas sharing a file and across restarts:
// - every appended entry continues the account's record: its balance_after is the account's last
//   recorded balance_after plus its delta, and an "open" is the account's first entry;
// - an idempotency key is recorded once: an append with a key already recorded answers the
//   entries first recorded with it and appends nothing, or is refused when it stands for another
//   request (another fingerprint).
// Text is stored byte-exact (bound with its length, read with sqlite3_column_bytes).
#pragma once

#include "proto/bank.pb.h"

#include <sqlite3.h>

#include <string>
#include <vector>

namespace bank {

/// What an append did.
struct append_result {
  enum class outcome {
    /// The entries were recorded (`entries` as recorded).
    recorded,
    /// The key was recorded before with the same fingerprint: `entries` are the entries first
    /// recorded with it; nothing was appended.
    replayed,
    /// The batch does not continue the ledger's record; nothing was appended (`reason`).
    mismatch,
    /// The key was recorded before for another request (another fingerprint); nothing was
    /// appended (`reason`).
    key_reused,
  };
  outcome result = outcome::recorded;
  std::vector<Entry> entries;
  std::string reason;
};

class ledger_store {
public:
  /// Opens (and if needed creates) the database at `path`, adding the idempotency columns to a
  /// file written before they existed; throws std::runtime_error naming the path and SQLite's
  /// reason when it cannot, or when `path` holds a NUL character.
  explicit ledger_store(const std::string& path);

  ~ledger_store();

  ledger_store(const ledger_store&) = delete;
  ledger_store& operator=(const ledger_store&) = delete;

  /// In one transaction: answers the entries first recorded with `idempotency_key` when it is
  /// not empty and recorded already (or refuses it for another `fingerprint`); otherwise checks
  /// that `entries` continue each account's record and records them all, numbered in arrival
  /// order and stamped with `correlation_id`, the key and the fingerprint; or refuses them all.
  /// Throws on a database error (nothing is recorded then). Strings are kept byte for byte,
  /// embedded NUL characters included.
  append_result append(const std::vector<Entry>& entries, const std::string& correlation_id,
                       const std::string& idempotency_key = {},
                       const std::string& fingerprint = {});

  /// The entries of `account_id` (every entry when empty), recorded with `idempotency_key` (any
  /// key when empty), oldest first; both match byte for byte ("a\0x" is not "a\0y", nor "a").
  std::vector<Entry> history(const std::string& account_id,
                             const std::string& idempotency_key = {});

private:
  void exec(const char* sql);
  void migrate();
  [[noreturn]] void fail(const std::string& what);

  std::string path_;
  sqlite3* db_ = nullptr;
};

} // namespace bank
