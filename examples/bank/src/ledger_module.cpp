// The bank.ledger module: one group, "ledger", running the ledger service.
#include "ledger.hpp"

#include <microlith/services/module.hpp>

#include <stdexcept>
#include <string>
#include <variant>

namespace bank {

/// The ledger group's name: its key in the system file.
inline constexpr const char* ledger_group = "ledger";

} // namespace bank

MICROLITH_MODULE(bank_ledger) {
  return microlith::module_definition{"bank.ledger"}.group(
    bank::ledger_group, [](microlith::group_context& g) {
      // [groups.ledger.config] database = "ledger.db" keeps the entries in that file (shared by
      // replicas that name it), a relative path being inside the system's data folder; absent,
      // or ":memory:", they live in memory.
      std::string database = ":memory:";
      if (auto value = g.setting("database")) {
        const auto* path = std::get_if<std::string>(&*value);
        if (path == nullptr || path->empty())
          throw std::invalid_argument("groups.ledger.config.database: expected a non-empty string "
                                      "(a file path, or \":memory:\")");
        database = *path == ":memory:" ? *path : g.data_path(*path);
      }
      return microlith::children{g.service(bank::make_ledger(database))};
    });
}
