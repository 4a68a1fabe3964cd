// The node options of the unit tests' nodes: two scheduler threads (the machines the tests run on
// may have no more), named "unit", with the given default call timeout.
#pragma once

#include <microlith/actors/node.hpp>

#include <chrono>

namespace test_support {

/// A node with two scheduler threads and the given default timeout.
inline microlith::node_options
two_threads(std::chrono::milliseconds default_timeout = std::chrono::milliseconds{5000}) {
  microlith::node_options opts;
  opts.name = "unit";
  opts.threads = 2;
  opts.default_timeout = default_timeout;
  return opts;
}

} // namespace test_support
