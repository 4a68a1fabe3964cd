// Decides, before any code of a module version runs, what loading its contracts means in this
// process: Protobuf keeps one generated copy of each .proto file per process and aborts on a
// second registration (CAF-NOTES: "TRAP (hot loading)"), so a contract already loaded must be
// byte-for-byte the module's to be reused, and a new one must not define a symbol another file
// defines.
#pragma once

#include "microlith/services/module_manifest.hpp"

#include <caf/expected.hpp>

#include <string_view>

namespace microlith::detail {

/// What loading a version's contracts takes.
struct contract_plan {
  bool load_library = false; ///< its contracts are not in the process: load its contracts library
};

/// Checks `manifest`'s contracts (the FileDescriptorSet `descriptor_set`) against the process's
/// generated descriptor pool. Refused (errc::failed_precondition) naming the file and the symbol:
/// a provided file loaded with other contents; a provided file's symbol defined by another file;
/// some provided files loaded and others not; a required file that the process lacks or has with
/// other contents. `who` names the version in messages ("acme.statements 1.0.0").
caf::expected<contract_plan> check_contracts(const module_manifest& manifest,
                                             std::string_view descriptor_set, std::string_view who);

} // namespace microlith::detail
