// How the kernel's own parts (an async_caller's port, say) reach a node's internals: the public
// node class names this struct as a friend and nothing else, so no internal type appears in its
// header.
#pragma once

namespace microlith {
class node;
} // namespace microlith

namespace microlith::detail {

struct node_core;

struct node_access {
  /// The internals `host` shares with its actors: actor system, registry, topics, defaults.
  static node_core& core(node& host) noexcept;
};

} // namespace microlith::detail
