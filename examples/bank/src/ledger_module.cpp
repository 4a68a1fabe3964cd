// The bank.ledger module: one group, "ledger", running the ledger service.
#include "ledger.hpp"

#include <microlith/services/module.hpp>

namespace bank {

/// The ledger group's name: its key in the system file.
inline constexpr const char* ledger_group = "ledger";

} // namespace bank

MICROLITH_MODULE(bank_ledger) {
  return microlith::module_definition{"bank.ledger"}.group(
    bank::ledger_group,
    [](microlith::group_context& g) { return microlith::children{g.service(bank::make_ledger())}; });
}
