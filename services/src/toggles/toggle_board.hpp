// A node's toggles: the declared ones (toggle_declarations.hpp), their values (saved in the
// toggle store, [toggles] database, or kept in memory without one), and the snapshot the node
// checks them in (node::publish_toggles). Every change is validated, saved with its audit entry
// in one transaction, and only then published: a change that did not reach the disk is not in
// force. Safe from any thread; changes run one at a time.
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/system_file.hpp"

#include "toggles/toggle_store.hpp"

#include <caf/expected.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace microlith {

class toggle_board {
public:
  /// Reads the toggles `config` declares (with the modules of `catalogue`), opens the store of
  /// [toggles] database (an in-memory one without it), reads the saved values and publishes
  /// them on `n`. Fails, naming the file and the reason, when the database cannot be opened or
  /// read.
  static caf::expected<std::unique_ptr<toggle_board>> open(node& n, const system_config& config,
                                                           const module_catalogue& catalogue);

  /// Toggle `name` and its gates; not_found when it is not declared.
  caf::expected<toggles::v1::Toggle> get(const std::string& name) const;

  /// Every declared toggle, sorted by name, and the groups.
  toggles::v1::ToggleList list() const;

  /// Changes the gates `req` names, recording `who` ("admin" or "code"); invalid_argument for a
  /// value out of range or nothing to change, not_found for an undeclared toggle.
  caf::expected<toggles::v1::Toggle> set(const toggles::v1::SetRequest& req,
                                         const std::string& who);

  /// Defines (or removes, with no keys) a group's members, recording `who`.
  caf::expected<toggles::v1::GroupSet> set_group(const toggles::v1::SetGroupRequest& req,
                                                 const std::string& who);

  /// The recorded changes, newest first.
  caf::expected<toggles::v1::ChangeList> history(const toggles::v1::HistoryRequest& req) const;

  /// The [toggles] settings the board was opened with.
  const toggles_config& settings() const noexcept { return settings_; }

  toggle_board(node& n, toggles_config settings, detail::toggle_store store);

private:
  toggles::v1::Toggle message_of_locked(const toggle_state& t) const;
  void publish_locked();

  node& node_;
  toggles_config settings_;
  mutable std::mutex mutex_;
  detail::toggle_store store_;                 // requires mutex_
  std::map<std::string, toggle_state> states_; // requires mutex_
  std::map<std::string, std::string> origin_;  // name -> "system file" / "module NAME"
  toggle_groups groups_;                       // requires mutex_
};

/// The caller name of the admin endpoint's calls to the toggles service: changes it makes are
/// recorded as made by "admin".
inline constexpr const char* toggles_admin_caller = "microlith.admin";

/// "on", "off, actors alice,bob, 25% of actors": a toggle's gates for people and the history.
std::string describe_gates(const toggle_gates& gates);

} // namespace microlith
