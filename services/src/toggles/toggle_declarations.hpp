// Which toggles a system declares: those of the system file's [toggles] table and those the
// modules of its groups declare in code (module_definition::toggle). The file's declaration of
// a name a module declares too wins (an operator may change a default); two modules declaring
// one name with different defaults is an error, as is a malformed name.
#pragma once

#include "microlith/actors/toggles.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/system_file.hpp"

#include <map>
#include <string>
#include <vector>

namespace microlith::detail {

struct toggle_declarations {
  std::vector<toggle_state> toggles;         ///< gates: boolean = the default
  std::map<std::string, std::string> origin; ///< name -> "system file" or "module NAME"
  std::vector<system_file_error> errors;     ///< what check_system reports
};

/// The toggles `config` declares, with the modules of `catalogue`.
toggle_declarations declared_toggles(const system_config& config,
                                     const module_catalogue& catalogue);

} // namespace microlith::detail
