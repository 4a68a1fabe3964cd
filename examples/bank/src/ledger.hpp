// The bank example's ledger service: the append-only record of every change to every account.
// Accounts appends one entry per deposit, withdrawal or opening and two per transfer; the ledger
// numbers them 1, 2, 3 ... in arrival order, stamps each with the correlation id of the request
// that caused it, and answers History queries per account or for the whole bank. It is the
// bank's source of truth: it records an entry only if it continues the account's record (its
// balance_after is the last recorded one plus its delta), whatever accounts believed, and an
// Append carrying an idempotency key is recorded once (a repeat answers the first entries). Its
// record lives in a SQLite database (ledger_store.hpp): private and in memory by default, or a
// file that survives restarts and is shared by ledger replicas that name it.
#pragma once

#include <microlith/actors/service.hpp>

#include <string>

namespace bank {

/// The name callers use to reach the ledger.
inline constexpr const char* ledger_service = "ledger";

/// The Protobuf service the ledger implements.
inline constexpr const char* ledger_contract = "bank.Ledger";

/// The ledger's definition (service "ledger", contract bank.Ledger), ready to spawn or supervise,
/// keeping its entries in the SQLite database `database` (a path, or ":memory:"). A database that
/// cannot be opened makes the instance fail to start with the path and SQLite's reason.
microlith::service_definition make_ledger(std::string database = ":memory:");

} // namespace bank
