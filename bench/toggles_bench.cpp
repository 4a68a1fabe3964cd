// The cost of checking a feature toggle (actors/include/microlith/actors/toggles.hpp): ns per
// check in a snapshot of 1 and of 10,000 declared toggles, through call_context::enabled as a
// handler calls it (the snapshot its request captured: a null test and a hash lookup), without
// and with an actor key; and the capture a request makes when it enters the node
// (node::toggles(): an atomic load and a shared_ptr copy).
//
//   build/bench/toggles_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <microlith/actors/call_context.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/toggles.hpp>

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace {

// A snapshot of `count` toggles named like "area3.feature_1234", every third one on, each with
// one actor gate; answers it and the names checked (up to 1024 of them, spread over the table).
std::pair<microlith::toggle_snapshot_ptr, std::vector<std::string>> snapshot_of(int count) {
  std::vector<microlith::toggle_state> all;
  for (int i = 0; i < count; ++i) {
    microlith::toggle_state t;
    t.name = "area" + std::to_string(i % 7) + ".feature_" + std::to_string(i);
    t.gates.boolean = i % 3 == 0;
    t.gates.actors.emplace("account-7", true);
    all.push_back(std::move(t));
  }
  std::vector<std::string> names;
  const int step = count > 1024 ? count / 1024 : 1;
  for (int i = 0; i < count && names.size() < 1024; i += step)
    names.push_back(all[static_cast<std::size_t>(i)].name);
  return {
    std::make_shared<const microlith::toggle_snapshot>(std::move(all), microlith::toggle_groups{}),
    std::move(names)};
}

// A handler's context whose request captured `snapshot` (no actor: enabled() reads only the
// captured snapshot).
microlith::call_context context_with(microlith::toggle_snapshot_ptr snapshot) {
  microlith::metadata meta;
  meta.toggles = std::move(snapshot);
  return microlith::call_context{nullptr, std::move(meta)};
}

void BM_check(benchmark::State& state) {
  auto [snapshot, names] = snapshot_of(static_cast<int>(state.range(0)));
  auto ctx = context_with(snapshot);
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ctx.enabled(names[i]));
    i = (i + 1) % names.size();
  }
}
BENCHMARK(BM_check)->Arg(1)->Arg(10000);

void BM_check_literal(benchmark::State& state) {
  std::vector<microlith::toggle_state> all(1);
  all[0].name = "bank.transfer_fee";
  auto ctx = context_with(
    std::make_shared<const microlith::toggle_snapshot>(std::move(all), microlith::toggle_groups{}));
  for (auto _ : state)
    benchmark::DoNotOptimize(ctx.enabled("bank.transfer_fee"));
}
BENCHMARK(BM_check_literal);

void BM_check_with_key(benchmark::State& state) {
  auto [snapshot, names] = snapshot_of(static_cast<int>(state.range(0)));
  auto ctx = context_with(snapshot);
  const std::string keys[] = {"account-7", "account-8"};
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ctx.enabled(names[i % names.size()], keys[i & 1]));
    ++i;
  }
}
BENCHMARK(BM_check_with_key)->Arg(1)->Arg(10000);

void BM_capture_at_entry(benchmark::State& state) {
  microlith::node_options options;
  options.threads = 1;
  microlith::node n{options};
  n.publish_toggles(snapshot_of(10000).first);
  for (auto _ : state)
    benchmark::DoNotOptimize(n.toggles());
}
BENCHMARK(BM_capture_at_entry);

} // namespace

BENCHMARK_MAIN();
