// The acme.statements module: one group, "statements", running the statements service and its
// cache, and the route GET /statements/{account_id} to statements.Get. It reads the bank's ledger
// and listens to the bank's balances topic, so a system file lists the ledger group in this
// group's `needs`.
#include "statements.hpp"
#include "statements_cache.hpp"

#include <microlith/services/module.hpp>

namespace acme::statements {

/// The statements group's name: its key in the system file.
inline constexpr const char* statements_group = "statements";

} // namespace acme::statements

MICROLITH_MODULE(acme_statements) {
  return microlith::module_definition{"acme.statements"}
    .group(acme::statements::statements_group,
           [](microlith::group_context& g) {
             // The cache first: the statements service asks it from its first request on.
             return microlith::children{g.service(acme::statements::make_statements_cache()),
                                        g.service(acme::statements::make_statements())};
           })
    .route("GET /statements/{account_id}", "statements.Get");
}
