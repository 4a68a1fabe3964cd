// Feature toggles as the kernel sees them: an immutable snapshot of every declared toggle's
// gates, and their evaluation. The kernel knows nothing of where values come from (the toggles
// service in services/ declares, persists and publishes them); it holds the node's current
// snapshot (node::publish_toggles), and every request captures the snapshot in force when it
// enters the node, which travels in its metadata to every call it makes, so a change during a
// request never gives its nested calls mixed values (metadata::toggles, call_context::enabled).
//
// Gates, as FunWithFlags defines them, checked in this order; the first that decides wins:
//
//   1. actor:   the key has an actor gate (on or off): its value.
//   2. group:   the key is a member of groups that have a group gate: off when any of them is
//               off, else on.
//   3. boolean: on: on. Off: go on to the percentage gate.
//   4. percentage of actors (with a key): on when the key's score is below the percentage;
//      percentage of time: on for that share of checks, drawn at random per check.
//   5. otherwise off.
//
// A check without a key skips the actor, group and percentage-of-actors gates. The actor score
// is stable: FNV-1a (64 bits) of the toggle's name, one zero byte and the key, modulo 10000;
// enabled when score < percent * 100. The same key always gets the same answer, and raising the
// percentage only adds keys (toggle_actor_score).
//
// Checking a name that is not declared throws undeclared_toggle, naming it: never a silent false.
//
// A snapshot has a digest: 64 bits of its content (toggle_snapshot::digest), computed once when
// it is built. It is what travels to other nodes with a call (the envelope's wire form), so the
// receiving node can find the snapshot of the same values among the ones it published recently
// (a ring of the last 64 the node published, node::published_toggles) and give the nested calls the
// values the request entered with.
//
// Per-call overrides (toggle_override): a call may carry values of some toggles that beat every
// gate for that call and every call its handlers make, on every node, and nothing else. They
// are validated where they enter a node (declared names only, at most max_toggle_overrides, no
// name twice) and honoured only when the node's policy says so (node::set_toggle_override_policy,
// the system file's `[toggles] test_overrides = true`); otherwise they are dropped and counted.
// In strict mode (`require_override`) a check of a toggle the call has no override for throws
// toggle_override_missing, which fails the call (failed_precondition), not the service.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace microlith {

/// Which percentage gate a toggle has (FunWithFlags has one at most).
enum class percentage_kind : std::uint8_t {
  none = 0,   ///< no percentage gate
  actors = 1, ///< percentage of actors: a stable share of keys
  time = 2,   ///< percentage of time: a random share of checks
};

/// The gates of one toggle.
struct toggle_gates {
  /// The boolean gate; a toggle that was never set has its declared default here.
  bool boolean = false;
  /// Actor gates: key -> on/off.
  std::map<std::string, bool, std::less<>> actors;
  /// Group gates: group name -> on/off (members in toggle_snapshot::groups()).
  std::map<std::string, bool, std::less<>> groups;
  /// The percentage gate's kind and value (0..100).
  percentage_kind percentage = percentage_kind::none;
  int percent = 0;

  friend bool operator==(const toggle_gates& a, const toggle_gates& b) {
    return a.boolean == b.boolean && a.actors == b.actors && a.groups == b.groups
           && a.percentage == b.percentage && a.percent == b.percent;
  }
  friend bool operator!=(const toggle_gates& a, const toggle_gates& b) { return !(a == b); }
};

/// One declared toggle and its gates.
struct toggle_state {
  std::string name;        ///< "bank.transfer_fee"
  std::string description; ///< for operators
  bool default_value = false;
  toggle_gates gates;
};

/// The members of the named groups that group gates refer to: group name -> keys.
using toggle_groups = std::map<std::string, std::set<std::string, std::less<>>, std::less<>>;

/// Thrown when a toggle that is not declared is checked.
class undeclared_toggle : public std::logic_error {
public:
  explicit undeclared_toggle(std::string_view name);
};

/// The message of undeclared_toggle for `name`.
std::string undeclared_toggle_message(std::string_view name);

/// The stable score of `key` for toggle `name`, in 0..9999 (see the top of this file).
std::uint32_t toggle_actor_score(std::string_view name, std::string_view key) noexcept;

/// An immutable set of declared toggles with their gates, and the groups they refer to. Lookups
/// take no lock and allocate nothing.
class toggle_snapshot {
public:
  /// A snapshot in which nothing is declared.
  toggle_snapshot();

  /// A snapshot of `toggles` (names unique) and `groups`.
  toggle_snapshot(std::vector<toggle_state> toggles, toggle_groups groups);

  /// Whether toggle `name` is on without an actor key. Throws undeclared_toggle.
  bool enabled(std::string_view name) const;

  /// Whether toggle `name` is on for actor `key`. Throws undeclared_toggle.
  bool enabled(std::string_view name, std::string_view key) const;

  /// The toggle `name`, or nullptr when it is not declared.
  const toggle_state* find(std::string_view name) const noexcept;

  /// Every toggle, sorted by name.
  const std::vector<toggle_state>& toggles() const noexcept { return toggles_; }

  /// The groups' members.
  const toggle_groups& groups() const noexcept { return groups_; }

  /// 64 bits of what the snapshot decides (toggle_snapshot_digest), never 0: snapshots of the
  /// same values on two nodes have the same digest.
  std::uint64_t digest() const noexcept { return digest_; }

private:
  const toggle_state& require(std::string_view name) const;

  std::vector<toggle_state> toggles_;
  toggle_groups groups_;
  struct slot {
    std::uint32_t index = 0; ///< 1 + index into toggles_; 0 = empty
    std::uint32_t hash = 0;  ///< the name's hash, low 32 bits
  };
  std::vector<slot> slots_; ///< open addressing, a power of two at least twice the toggles
  std::uint64_t digest_ = 0;
};

/// The digest of `toggles` (sorted by name) and `groups`, never 0: FNV-1a (64 bits) over a
/// canonical, length-prefixed encoding of every toggle's name and gates in name order (actor
/// and group gates in key order) and of every group with members, in name order, with its
/// members in order, then mixed once more (a 64-bit finalizer). Descriptions and declared
/// defaults are not in it: they decide nothing (a toggle never set has its default in its
/// boolean gate). A group without members decides what an absent one does, and is left out.
std::uint64_t toggle_snapshot_digest(const std::vector<toggle_state>& toggles,
                                     const toggle_groups& groups) noexcept;

/// A shared, immutable snapshot.
using toggle_snapshot_ptr = std::shared_ptr<const toggle_snapshot>;

/// One per-call override: toggle `name` is `on` for the call that carries it and every call it
/// causes, whatever its gates say.
struct toggle_override {
  std::string name;
  bool on = false;

  friend bool operator==(const toggle_override& a, const toggle_override& b) {
    return a.name == b.name && a.on == b.on;
  }
  friend bool operator!=(const toggle_override& a, const toggle_override& b) { return !(a == b); }
};

/// The overrides a call carries (names unique, at most max_toggle_overrides).
using toggle_overrides = std::vector<toggle_override>;

/// Shared and immutable, as they travel in metadata.
using toggle_overrides_ptr = std::shared_ptr<const toggle_overrides>;

/// How many overrides one call may carry: a check scans them linearly.
inline constexpr std::size_t max_toggle_overrides = 32;

/// The override of `name` in `overrides`, or nullptr.
const toggle_override* find_toggle_override(const toggle_overrides& overrides,
                                            std::string_view name) noexcept;

/// What is wrong with `overrides` as a call's overrides on a node whose declared toggles are
/// those of `declared`: more than max_toggle_overrides, a name that is not declared, a name
/// given twice. Empty when nothing is.
std::string toggle_overrides_problem(const toggle_overrides& overrides,
                                     const toggle_snapshot& declared);

/// Thrown by a check of toggle `name` in a call without an override of it while the node
/// requires one (`[toggles] require_override = true`). A handler that lets it escape fails its
/// call with failed_precondition and this message; the service is not restarted.
class toggle_override_missing : public std::logic_error {
public:
  explicit toggle_override_missing(std::string_view name);
};

/// The message of toggle_override_missing for `name`.
std::string toggle_override_missing_message(std::string_view name);

/// Evaluates `state` for `key` (nullptr: no key) with `groups` (see the top of this file).
bool evaluate_toggle(const toggle_state& state, const toggle_groups& groups,
                     const std::string_view* key);

} // namespace microlith
