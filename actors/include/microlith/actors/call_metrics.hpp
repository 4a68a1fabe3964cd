// Call metrics: what the services of a node answered, per service and method — how many calls,
// the failures by error kind, and how long the serving instance took from taking the request to
// answering it (answers through a promise included). Every instance counts its own calls with
// plain stores (one writer, no lock, no allocation per call); a read sums the instances, and the
// counts of an instance that stopped stay with the node, so they survive restarts. Counted
// unless node_options::call_metrics is false; read with node::call_metrics().
#pragma once

#include "microlith/actors/duration_histogram.hpp"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace microlith {

/// One method of one service on a node, served by its instances there since the node started.
struct method_metrics {
  std::string service;
  std::string method;
  /// Calls answered (with a value or an error), refusals included.
  std::uint64_t calls = 0;
  /// The failed ones by error kind (kind_name in error.hpp: "not_found", "timeout", ...), in
  /// name order; kinds that never happened are left out. A refusal counts as a failure of the
  /// method asked for: no_such_method, bad_request (a body of the wrong type, an unreadable
  /// one, a call loop), timeout (the deadline passed before the instance took the request).
  std::vector<std::pair<std::string, std::uint64_t>> errors;
  /// From the instance taking the request to its answer.
  duration_histogram duration;
};

} // namespace microlith
