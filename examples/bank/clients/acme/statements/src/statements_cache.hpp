// The acme.statements module's cache: a service of its own (contract
// acme.statements.v1.StatementsCache) that keeps the statement computed last for each account.
// The statements service asks it first (Lookup) and fills it after a miss (Store). It subscribes
// to the bank's topic "balances", where accounts publishes every account a confirmed change left
// (bank.Account), and forgets that account's statement, so a statement is never answered stale
// after a deposit, a withdrawal or a transfer.
//
// A statement computed while the account changes must not be stored: a miss answers a ticket, a
// Store carries it, and the cache refuses it when the account changed since the ticket was issued
// or another instance issued it (a restarted cache missed the changes in between). It keeps only
// statements of its own version: while one version of the module replaces another, the old
// version's statements service calls the new cache by name, and a statement laid out the old way
// must not be answered once the new version serves.
#pragma once

#include <microlith/actors/service.hpp>

namespace acme::statements {

/// The name the statements service calls the cache by.
inline constexpr const char* cache_service = "statements_cache";

/// The Protobuf service the cache implements.
inline constexpr const char* cache_contract = "acme.statements.v1.StatementsCache";

/// The bank's topic of changed balances (bank::balances_topic in examples/bank/src/accounts.hpp;
/// named here because the module is built apart from the bank's code).
inline constexpr const char* bank_balances_topic = "balances";

/// The cache's definition (service "statements_cache"), ready to supervise.
microlith::service_definition make_statements_cache();

} // namespace acme::statements
