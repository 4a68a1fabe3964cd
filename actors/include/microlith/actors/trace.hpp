// Request tracing: a node's log of spans. A traced request (metadata::traced, set by whoever
// starts it — the gateway for a sampled or forced request, a caller through async_call_options
// or blocking_call_options) records one span per call it makes on every node that serves one:
// which service and method, on which node, called by whom, when, how long and how it ended.
// Every served call gets a fresh span id; the calls its handler makes carry it as their parent
// (metadata::parent_span), also across nodes, so the spans of one correlation id form a tree.
// Untraced requests record nothing and cost one branch. Each node keeps its last spans in a
// bounded log (node::spans); the gateway records its own root span there (node::record_span).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace microlith {

/// One call of a traced request (the observer's Span, services/proto/microlith_observer.proto).
struct span_record {
  std::string correlation_id;
  /// This call's span id (never 0).
  std::uint64_t span = 0;
  /// The span of the call that made this one; 0 for a request's first call.
  std::uint64_t parent_span = 0;
  std::string service;
  std::string method;
  /// The node that served it (node_options::name).
  std::string node;
  /// Who called it (metadata::caller).
  std::string caller;
  /// When the serving instance took it: microseconds since the Unix epoch.
  std::int64_t start_unix_us = 0;
  /// From then to its answer.
  std::chrono::nanoseconds duration{0};
  /// "ok", or the error kind it failed with (kind_name in error.hpp).
  std::string outcome;
  /// The request was forced into the log by its client (metadata::trace_forced).
  bool forced = false;
};

/// What node::spans answers: the spans asked for, oldest first, and the correlation ids among
/// them whose requests were forced into the log.
struct span_selection {
  std::vector<span_record> spans;
  std::vector<std::string> forced;
};

/// How many spans a node keeps: the newest ones; older ones are dropped.
inline constexpr std::size_t span_log_capacity = 4096;

/// A fresh span id: random 64 bits from a generator of the calling thread, never 0.
std::uint64_t new_span_id() noexcept;

/// Microseconds since the Unix epoch, now (span_record::start_unix_us).
std::int64_t unix_now_us() noexcept;

} // namespace microlith
