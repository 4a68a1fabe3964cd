// Opening a module version's shared libraries. A library, once its code may have run, is never
// closed: a continuation, a timer, a std::function or a vtable of a version can outlive its
// groups in places no one tracks, and unmapping code that still runs crashes the node
// (docs/modules.md, "What stays mapped"). Opening the same file again reuses the mapping.
#pragma once

#include "microlith/services/module.hpp"
#include "microlith/services/module_manifest.hpp"

#include <caf/expected.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace microlith::detail {

/// Loads a contracts library with RTLD_NOW | RTLD_GLOBAL (the module library resolves its
/// generated symbols from it). Refused with the loader's message.
caf::error open_contracts_library(const std::filesystem::path& file, std::string_view who);

/// Loads a module library with RTLD_NOW | RTLD_LOCAL and calls its entry symbol. Refused with
/// the loader's message, or when the entry symbol is missing (the library is then closed: none of
/// its code but its static initializers ran) or throws.
caf::expected<std::unique_ptr<module_definition>>
open_module_library(const std::filesystem::path& file, std::string_view who);

/// A stored version's manifest (in `folder`), once its ABI note equals this process's ABI and its
/// contracts are in the process: checked against the process's pool, its contracts library
/// loaded when they were not there yet. Nothing of the module library is loaded. An ABI refusal
/// names `who` and ends saying what was not loaded (`unloaded`).
caf::expected<module_manifest> load_stored_contracts(const std::filesystem::path& folder,
                                                     std::string_view who,
                                                     std::string_view unloaded);

} // namespace microlith::detail
