// The scheduler idle policy the benchmarks run with: the node's defaults
// (microlith::node_options::idle_spin_polls, idle_nap_polls and idle_wait), or
// MICROLITH_BENCH_IDLE_SPIN_POLLS, MICROLITH_BENCH_IDLE_NAP_POLLS and
// MICROLITH_BENCH_IDLE_WAIT_MS when set, so a sweep can rerun the same binary. Raw CAF floors
// use the same values as the node they are compared with.
#pragma once

#include <microlith/actors/node.hpp>

#include <caf/actor_system_config.hpp>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <string>

namespace bench {

inline std::size_t idle_spin_polls() {
  if (const char* text = std::getenv("MICROLITH_BENCH_IDLE_SPIN_POLLS"))
    return static_cast<std::size_t>(std::stoull(text));
  return microlith::node_options{}.idle_spin_polls;
}

/// The node's idle_nap_polls, or MICROLITH_BENCH_IDLE_NAP_POLLS when set.
inline std::size_t idle_nap_polls() {
  if (const char* text = std::getenv("MICROLITH_BENCH_IDLE_NAP_POLLS"))
    return static_cast<std::size_t>(std::stoull(text));
  return microlith::node_options{}.idle_nap_polls;
}

/// The node's idle_wait, or MICROLITH_BENCH_IDLE_WAIT_MS when set.
inline std::chrono::milliseconds idle_wait() {
  if (const char* text = std::getenv("MICROLITH_BENCH_IDLE_WAIT_MS"))
    return std::chrono::milliseconds{std::stoll(text)};
  return microlith::node_options{}.idle_wait;
}

/// Gives a node the benchmark's idle policy.
inline void apply_idle_policy(microlith::node_options& opts) {
  opts.idle_spin_polls = idle_spin_polls();
  opts.idle_nap_polls = idle_nap_polls();
  opts.idle_wait = idle_wait();
}

/// Gives a raw CAF floor the same idle policy as the node it is compared with (the keys the
/// node sets from its options).
inline void apply_idle_policy(caf::actor_system_config& cfg) {
  cfg.set("work-stealing.aggressive-poll-attempts", idle_spin_polls());
  cfg.set("work-stealing.moderate-poll-attempts", idle_nap_polls());
  cfg.set("work-stealing.relaxed-sleep-duration", caf::timespan{idle_wait()});
}

} // namespace bench
