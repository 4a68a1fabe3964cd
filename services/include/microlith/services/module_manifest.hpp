// The manifest of a loadable module (`manifest.toml` in its archive) and the ABI note beside it
// (`abi.toml`, which holds only the ABI, so a loader can refuse a library built for another
// microlith, CAF, Protobuf or compiler before any of its code runs).
//
// An archive (module_archive.hpp) made by `microlith package` holds:
//   manifest.toml                   this manifest
//   abi.toml                        the ABI the library was built for
//   contracts.desc                  a FileDescriptorSet: the module's .proto files and those they
//                                   import
//   lib/lib<target>.so              the module's code (entry symbol microlith_module_v1)
//   lib/lib<target>_contracts_<hash>.so   the code Protobuf generated for the module's own
//                                   contracts, named after their digest (none without PROTOS)
#pragma once

#include "microlith/services/module_archive.hpp"
#include "microlith/services/system_file.hpp"

#include <caf/expected.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace microlith {

/// What a library must have been built with to load into this process: every field must be
/// equal.
struct module_abi {
  std::string microlith; ///< microlith's version ("0.4.0")
  std::string caf;       ///< CAF's version ("0.17.6")
  std::string protobuf;  ///< Protobuf's version ("3.21.12")
  std::string compiler;  ///< compiler id and version ("GNU 12.2.0")
  std::string cxx_abi;   ///< the C++ library and its ABI ("libstdc++ cxx11")

  bool operator==(const module_abi& other) const;
  bool operator!=(const module_abi& other) const { return !(*this == other); }
};

/// The ABI of this build of microlith (what a loadable module must have been built with).
module_abi running_abi();

/// One line per field that differs, with both values: "CAF 0.17.5 (library) vs 0.17.6 (this
/// process)". Empty when they are equal.
std::vector<std::string> abi_differences(const module_abi& library, const module_abi& running);

/// The ABI note (abi.toml) for `abi`, and back. Parsing errors name `source` and the key.
std::string abi_note(const module_abi& abi);
caf::expected<module_abi> parse_abi_note(std::string_view text, std::string_view source);

/// One group the module defines, with the supervision flags it runs with once loaded.
struct manifest_group {
  std::string name;
  restart_type restart = restart_type::permanent;
  microlith::strategy strategy = microlith::strategy::one_for_one;
  int intensity = 1;
  std::chrono::milliseconds period{5000};
};

/// One route the module declares in code (module_definition::route), as written.
struct manifest_route {
  std::string key;    ///< "GET /statements/{account_id}"
  std::string target; ///< "statements.Get"
};

/// One file of the archive, with its digest and size (checked when the archive is opened).
struct manifest_file {
  std::string name; ///< its path inside the archive
  std::string sha256;
  std::uint64_t size = 0;
};

/// Everything a loader needs to know of a module before loading it.
struct module_manifest {
  std::string name;    ///< the module's name as its definition gives it ("acme.statements")
  std::string target;  ///< the CMake target it was built as ("acme_statements")
  std::string version; ///< "1.2.0" (digits and dots, as CMake's VERSION)
  module_abi abi;      ///< equal to abi.toml's
  std::string library; ///< the archive path of its code ("lib/libacme_statements.so")
  std::string contracts_library;     ///< the archive path of its generated contract code; empty
                                     ///< when it declares no contract
  std::string contracts;             ///< the archive path of its descriptor set ("contracts.desc")
  std::vector<std::string> provides; ///< the .proto files it defines ("acme/statements.proto")
  std::vector<std::string> requires_contracts; ///< the .proto files it uses that the running
                                               ///< system must already have ("bank.proto")
  std::vector<manifest_group> groups;
  std::vector<manifest_route> routes;
  std::vector<manifest_file> files; ///< every other entry of the archive
};

/// The manifest as TOML (manifest.toml), and back. Parsing checks every key and value and
/// names `source`, the line and the key in its error.
std::string manifest_text(const module_manifest& manifest);
caf::expected<module_manifest> parse_manifest(std::string_view text, std::string_view source);

/// An archive whose manifest, ABI note and files agree: every file the manifest lists is
/// present with its size and digest, no other entry exists, the library and contracts entries
/// are listed, the ABI note equals the manifest's ABI.
struct module_package {
  module_manifest manifest;
  std::vector<archive_entry> entries; ///< every entry, manifest and note included
  std::string sha256;                 ///< of the whole archive
};

/// Reads and checks an archive (read_archive, then the agreements above); the error names
/// `source` (the file or "upload") and says what is wrong. Does not compare the ABI with this
/// process's (abi_differences) nor load anything.
caf::expected<module_package> open_package(std::string_view archive_bytes, std::string_view source,
                                           const archive_limits& limits = {});

} // namespace microlith
