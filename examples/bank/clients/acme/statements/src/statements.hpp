// The acme.statements module's service "statements" (contract acme.statements.v1.Statements):
// Get answers an account's statement (statement_format.hpp), laid out as this build of the module
// says (build_settings.hpp). It asks the cache (statements_cache.hpp) first; on a miss it reads
// the account's entries from the bank's ledger — by name, `ledger.History`, never through the
// ledger's code — makes the statement, answers it and hands it to the cache. An account the
// ledger has no entry for is not_found; a cache that cannot answer only costs the cache (the
// statement is computed from the ledger); a ledger that cannot answer fails the request with its
// error, named.
#pragma once

#include <microlith/actors/service.hpp>

namespace acme::statements {

/// The name callers (and the module's route) use to reach the statements service.
inline constexpr const char* statements_service = "statements";

/// The Protobuf service the statements service implements.
inline constexpr const char* statements_contract = "acme.statements.v1.Statements";

/// The statements service's definition, ready to supervise. It needs the bank's ledger service
/// ("ledger") to answer and the cache (make_statements_cache) to answer repeats from memory.
microlith::service_definition make_statements();

} // namespace acme::statements
