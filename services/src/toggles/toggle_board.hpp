// A node's toggles: the declared ones (toggle_declarations.hpp), their values (saved in the
// toggle store, [toggles] database, or kept in memory without one), and the snapshot the node
// checks them in (node::publish_toggles). Every change is validated, saved with its audit entry
// in one transaction, and only then published: a change that did not reach the disk is not in
// force. Safe from any thread; changes run one at a time.
//
// Every value and every group's members carry a version (toggles::v1::Version: a hybrid
// logical clock stamp and the writer node's name) that orders changes across the nodes of a
// cluster: the greater version wins, whichever order the changes arrive in. A change from
// another node (apply) or another node's whole state (merge) is taken only where its version is
// newer than the one held, saved, and then published in one snapshot.
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
  /// `node_name` is this node's name in a cluster (empty for a system in one process): it
  /// breaks ties between versions.
  static caf::expected<std::unique_ptr<toggle_board>> open(node& n, const system_config& config,
                                                           const module_catalogue& catalogue,
                                                           std::string node_name = {});

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

  /// Applies a change made on another node when its version is newer than the one held (saved,
  /// recorded as made by "WHO on node FROM", published): APPLIED, also when this very version is
  /// already held; NEWER when a newer one is held (nothing changes).
  caf::expected<toggles::v1::ReplicaApplied::Outcome>
  apply(const toggles::v1::ReplicaChange& change);

  /// Every value and group ever set (removed groups too), with their versions.
  toggles::v1::ReplicaState state() const;

  /// Takes from `theirs` every value and group whose version is newer than the one held, and
  /// publishes them in one snapshot; answers how many were taken.
  caf::expected<int> merge(const toggles::v1::ReplicaState& theirs);

  /// This node's name in a cluster (empty in one process).
  const std::string& node_name() const noexcept { return node_name_; }

  /// The recorded changes, newest first.
  caf::expected<toggles::v1::ChangeList> history(const toggles::v1::HistoryRequest& req) const;

  /// The [toggles] settings the board was opened with.
  const toggles_config& settings() const noexcept { return settings_; }

  toggle_board(node& n, toggles_config settings, detail::toggle_store store,
               std::string node_name = {});

private:
  toggles::v1::Toggle message_of_locked(const toggle_state& t) const;
  void publish_locked();
  // The version of the next change made here (requires mutex_).
  toggles::v1::Version next_version_locked();
  // Takes the clock past `v` (requires mutex_).
  void observe_locked(const toggles::v1::Version& v);
  // Saves a value or a group from another node when it is newer; sets `changed` when it did.
  caf::expected<toggles::v1::ReplicaApplied::Outcome>
  apply_value_locked(const toggles::v1::ReplicaValue& v, const std::string& who, bool& changed);
  caf::expected<toggles::v1::ReplicaApplied::Outcome>
  apply_group_locked(const toggles::v1::ReplicaGroup& g, const std::string& who, bool& changed);

  node& node_;
  toggles_config settings_;
  mutable std::mutex mutex_;
  detail::toggle_store store_;                 // requires mutex_
  std::map<std::string, toggle_state> states_; // requires mutex_
  std::map<std::string, std::string> origin_;  // name -> "system file" / "module NAME"
  toggle_groups groups_;                       // requires mutex_
  std::string node_name_;
  std::map<std::string, toggles::v1::Version> versions_;       // of values set; requires mutex_
  std::map<std::string, toggles::v1::Version> group_versions_; // removed ones too; mutex_
  std::map<std::string, toggles::v1::Gates> undeclared_;       // saved, not declared here; mutex_
  std::int64_t clock_ = 0;                                     // the greatest stamp seen; mutex_
};

/// True when version `a` orders after `b` (stamp first, then node name).
bool newer_version(const toggles::v1::Version& a, const toggles::v1::Version& b);

/// The caller name of the admin endpoint's calls to the toggles service: changes it makes are
/// recorded as made by "admin".
inline constexpr const char* toggles_admin_caller = "microlith.admin";

/// "on", "off, actors alice,bob, 25% of actors": a toggle's gates for people and the history.
std::string describe_gates(const toggle_gates& gates);

} // namespace microlith
