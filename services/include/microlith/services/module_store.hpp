// Where a node keeps its installed modules: a folder (`[modules] dir`) holding one subfolder per
// installed version (NAME/VERSION/, the archive's files) and a SQLite registry (registry.sqlite,
// WAL) recording, per version: name, version, sha256 of the archive, whether it is the active
// one, its route prefix, the node it runs on and when it was installed.
//
// A kill -9 at any moment leaves the store consistent: after open(), every version the registry
// lists has its complete folder, and no folder lies around that the registry does not list.
// Files are written under a temporary folder, synced and renamed into place before the row is
// committed; open() removes what an interrupted add() left.
#pragma once

#include "microlith/services/module_archive.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace microlith {

/// One installed version of a module.
struct installed_module {
  std::string name;         ///< "acme.statements"
  std::string version;      ///< "1.2.0"
  std::string sha256;       ///< of the archive it came from
  bool active = false;      ///< at most one version of a name is active
  std::string route_prefix; ///< "/clients/acme"; empty = none
  std::string node;         ///< the node that runs its groups; empty = the one it was installed on
  std::int64_t installed_at = 0; ///< seconds since the Unix epoch
};

/// The installed modules of one node.
class module_store {
public:
  /// Opens (creating when missing) the store in `dir` and removes what an interrupted add()
  /// left. The error names the folder or file and what failed.
  static caf::expected<std::unique_ptr<module_store>> open(const std::filesystem::path& dir);

  ~module_store();
  module_store(const module_store&) = delete;
  module_store& operator=(const module_store&) = delete;

  /// Stores a version: its files under folder_of(name, version), then its row (inactive). The
  /// same name, version and sha256 again answers the stored row unchanged; the same name and
  /// version with another sha256 is refused (errc::already_exists, naming both digests).
  caf::expected<installed_module> add(const installed_module& module,
                                      const std::vector<archive_entry>& files);

  /// Makes `version` the active version of `name` (the others of that name inactive), in one
  /// transaction; with `node`, records in the same transaction that `node` runs it (in a
  /// cluster). errc::not_found when that version is not installed.
  caf::error activate(const std::string& name, const std::string& version,
                      const std::optional<std::string>& node = std::nullopt);

  /// Makes no version of `name` active. errc::not_found when `name` is not installed.
  caf::error deactivate(const std::string& name);

  /// Removes every version of `name`: rows first (one transaction), then folders.
  /// errc::not_found when `name` is not installed.
  caf::error remove(const std::string& name);

  /// Every installed version, by name then install order.
  std::vector<installed_module> list() const;

  /// The installed version, or nothing.
  std::optional<installed_module> find(const std::string& name, const std::string& version) const;

  /// The active version of `name`, or nothing.
  std::optional<installed_module> active(const std::string& name) const;

  /// The folder holding a version's files.
  std::filesystem::path folder_of(const std::string& name, const std::string& version) const;

  /// The store's folder.
  const std::filesystem::path& dir() const noexcept;

private:
  struct impl;
  explicit module_store(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace microlith
