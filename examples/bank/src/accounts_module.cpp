// The bank.accounts module: one group, "accounts", running the accounts service, and the toggle
// bank.transfer_fee that its transfers check (off by default). It calls the ledger, so a system
// file lists the ledger group in this group's `needs`.
#include "accounts.hpp"

#include <microlith/services/module.hpp>

namespace bank {

/// The accounts group's name: its key in the system file.
inline constexpr const char* accounts_group = "accounts";

} // namespace bank

MICROLITH_MODULE(bank_accounts) {
  return microlith::module_definition{"bank.accounts"}
    .toggle(bank::transfer_fee_toggle, false,
            "a transfer also moves a fee of 1% of its amount (rounded down, at least 1) from the "
            "sender to the account fees")
    .group(bank::accounts_group, [](microlith::group_context& g) {
      return microlith::children{g.service(bank::make_accounts())};
    });
}
