// Where per-call toggle overrides enter a node: the node's policy (honoured or not, required or
// not), kept in atomics that a check reads without a lock, the counts of overrides dropped, and
// the two admissions: overrides given by code on this node (node::call, an async caller's call),
// refused with an error naming the problem, and overrides that arrived with a request from
// another node, of which what this node does not honour or declare is dropped and counted.
#pragma once

#include "microlith/actors/envelope.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/toggles.hpp"

#include <caf/error.hpp>

#include <atomic>
#include <cstdint>

namespace microlith::detail {

class override_gate {
public:
  /// Sets the policy; `required` only counts together with `honoured`.
  void set_policy(toggle_override_policy policy) noexcept;

  /// The policy now.
  toggle_override_policy policy() const noexcept;

  /// Whether a check without an override fails its call (strict mode).
  bool required() const noexcept { return required_.load(std::memory_order_relaxed); }

  /// What was dropped so far.
  toggle_override_counts counts() const noexcept;

  /// Counts one request whose overrides were ignored because the node does not honour them.
  void count_ignored() noexcept { ignored_.fetch_add(1, std::memory_order_relaxed); }

  /// The metadata form of `given`, overrides from code on this node for a call that captured
  /// `declared`: null for none, or when the node does not honour overrides (counted); an
  /// invalid_argument error naming the problem (an undeclared name, one given twice, too many).
  caf::error admit_given(toggle_overrides given, const toggle_snapshot& declared,
                         toggle_overrides_ptr& out);

  /// Applies the policy to the overrides of `meta`, which arrived from another node and enters
  /// this one now with the snapshot `declared`: all dropped and counted when the node does not
  /// honour overrides; else those naming a toggle this node does not declare, or named twice,
  /// dropped and counted.
  void admit_arrived(metadata& meta, const toggle_snapshot& declared);

private:
  std::atomic<bool> honoured_{false};
  std::atomic<bool> required_{false};
  std::atomic<std::uint64_t> ignored_{0};
  std::atomic<std::uint64_t> undeclared_{0};
};

} // namespace microlith::detail
