// In-process round trips per second: microlith's service call against the raw CAF request it is
// built on. Every case runs batches of 20,000 round trips (CALL_BENCH_BATCH overrides it, e.g.
// for a reduced batch under callgrind) between a driver actor and an echo actor on a 2-thread
// scheduler, keeping a fixed number of requests outstanding. One benchmark iteration is one
// batch: it spawns a fresh driver and ends when the driver's last continuation fulfils a promise
// the benchmark thread waits on (the benchmark thread never polls the actors).
// `raw_caf_request` (`caf::infinite`) is the floor; `raw_caf_request_timeout` (10 s per request)
// is the semantic equivalent of a call with a deadline; `microlith_call` is a worker calling the
// registered service "echo" by name through `call_context::call`: registry lookup, envelope,
// deadline tracking and continuation, with the node's call metrics counting every call (the
// default); `microlith_call_metrics_off` is the same with node_options::call_metrics false.
// items_per_second is the round-trip rate; bench/run.sh runs this with repetitions and prints the
// medians and the microlith / raw CAF ratios.
#include "call_driver.hpp"
#include "echo_service.hpp"
#include "idle_policy.hpp"
#include "raw_call_driver.hpp"
#include "round_trip_batch.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"

#include <benchmark/benchmark.h>

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

namespace {

/// Round trips per benchmark iteration, unless CALL_BENCH_BATCH says otherwise (a reduced batch
/// for profiling under callgrind).
std::int64_t batch_size() {
  static const std::int64_t size = [] {
    const char* text = std::getenv("CALL_BENCH_BATCH");
    const long long parsed = text != nullptr ? std::atoll(text) : 0;
    return parsed > 0 ? static_cast<std::int64_t>(parsed) : std::int64_t{20'000};
  }();
  return size;
}

/// Scheduler threads of every actor system in this file.
constexpr std::size_t scheduler_threads = 2;

/// The finite timeout of `raw_caf_request_timeout`.
constexpr auto raw_timeout = std::chrono::seconds(10);

// -- raw CAF -----------------------------------------------------------------------------------

/// Answers every integer with itself.
caf::behavior raw_echo() {
  return {[](std::int64_t x) { return x; }};
}

/// The raw driver's payload of round trip `n`: `n` itself.
std::int64_t raw_payload(std::int64_t n) {
  return n;
}

void run_raw(benchmark::State& state, caf::duration timeout) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", scheduler_threads);
  // The floor runs on the same scheduler idle policy as the node it is compared with.
  bench::apply_idle_policy(cfg);
  caf::actor_system sys{cfg};
  auto echo = sys.spawn(raw_echo);
  const auto outstanding = state.range(0);
  for (auto _ : state) {
    auto work = std::make_shared<bench::round_trip_batch>(batch_size(), outstanding);
    auto failure = bench::run_batch(work, [&](const auto& w) -> caf::expected<caf::actor> {
      return sys.spawn(bench::raw_driver<std::int64_t>, echo, timeout, &raw_payload, w);
    });
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch_size());
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
}

void raw_caf_request(benchmark::State& state) {
  run_raw(state, caf::duration{caf::infinite});
}

void raw_caf_request_timeout(benchmark::State& state) {
  run_raw(state, caf::duration{raw_timeout});
}

// -- microlith ---------------------------------------------------------------------------------

void run_microlith(benchmark::State& state, bool call_metrics) {
  microlith::node_options options;
  options.name = "bench";
  options.threads = static_cast<int>(scheduler_threads);
  options.call_metrics = call_metrics;
  bench::apply_idle_policy(options);
  microlith::node node{options};
  auto echo = node.spawn(bench::echo_definition());
  if (!echo) {
    state.SkipWithError(("echo failed to start: " + microlith::describe(echo.error())).c_str());
    return;
  }
  const auto outstanding = state.range(0);
  for (auto _ : state) {
    auto work = std::make_shared<bench::round_trip_batch>(batch_size(), outstanding);
    auto failure = bench::run_batch(
      work, [&](const auto& w) { return node.start(bench::driver_definition(w), caf::actor{}); });
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch_size());
  // The node stops echo (it spawned it); every driver has stopped itself.
}

void microlith_call(benchmark::State& state) {
  run_microlith(state, true);
}

void microlith_call_metrics_off(benchmark::State& state) {
  run_microlith(state, false);
}

} // namespace

// The repetition length is left to the command line (bench/run.sh asks for 1 s, e.g. 15 to 80
// batches: single batches with one call outstanding vary a lot with where the scheduler happens
// to place the two actors), so that a profiler can run a single reduced batch.
BENCHMARK(raw_caf_request)
  ->ArgName("outstanding")
  ->Arg(1)
  ->Arg(64)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK(raw_caf_request_timeout)
  ->ArgName("outstanding")
  ->Arg(1)
  ->Arg(64)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK(microlith_call)
  ->ArgName("outstanding")
  ->Arg(1)
  ->Arg(64)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK(microlith_call_metrics_off)
  ->ArgName("outstanding")
  ->Arg(1)
  ->Arg(64)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
