// Where a node keeps its toggle values: one SQLite file ([toggles] database), in WAL mode with
// synchronous=FULL (a change is on disk when set() returns). It holds each toggle's gates that
// an operator or code set (toggles never set are not in it: they have their declared default),
// the groups' members, and the history of every change: when, who, the old and the new value.
#pragma once

#include "proto/microlith_toggles.pb.h"

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace microlith::detail {

/// One change to record with the value it sets.
struct toggle_change {
  std::string who;       ///< "admin" or "code"
  std::string name;      ///< the toggle, or "group:NAME"
  std::string old_value; ///< as text
  std::string new_value; ///< as text
};

class toggle_store {
public:
  /// Opens (creating when missing) the database `file`. A file that is not a SQLite database,
  /// or that cannot be opened for writing, is an error naming the file and SQLite's reason.
  static caf::expected<toggle_store> open(const std::string& file);

  toggle_store(toggle_store&&) noexcept;
  toggle_store& operator=(toggle_store&&) noexcept;
  ~toggle_store();

  /// The saved gates, by toggle name.
  caf::expected<std::map<std::string, toggles::v1::Gates>> values() const;

  /// The saved groups, by name.
  caf::expected<std::map<std::string, std::vector<std::string>>> groups() const;

  /// Saves `gates` for `change.name` and records `change`, in one transaction.
  caf::error save_value(const toggles::v1::Gates& gates, const toggle_change& change);

  /// Saves the members of group `group` (none: removes it) and records `change`, in one
  /// transaction.
  caf::error save_group(const std::string& group, const std::vector<std::string>& keys,
                        const toggle_change& change);

  /// The recorded changes, newest first: of toggle `name` (every one when empty), at most
  /// `limit`.
  caf::expected<std::vector<toggles::v1::Change>> history(const std::string& name,
                                                          std::uint32_t limit) const;

  /// The file.
  const std::string& file() const noexcept;

private:
  struct impl;
  explicit toggle_store(std::unique_ptr<impl> d);
  std::unique_ptr<impl> impl_;
};

} // namespace microlith::detail
