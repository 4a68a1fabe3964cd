// In-process round trips per second: microlith's service call against the raw CAF request it is
// built on. Every case runs batches of 20,000 round trips (CALL_BENCH_BATCH overrides it, e.g.
// for a reduced batch under callgrind) between a driver actor and an echo actor on a 2-thread
// scheduler, keeping a fixed number of requests outstanding. One benchmark iteration is one
// batch: it spawns a fresh driver and ends when the driver's last continuation fulfils a promise
// the benchmark thread waits on (the benchmark thread never polls the actors).
// `raw_caf_request` (`caf::infinite`) is the floor; `raw_caf_request_timeout` (10 s per request)
// is the semantic equivalent of a call with a deadline; `microlith_call` is a worker calling the
// registered service "echo" by name through `call_context::call`: registry lookup, envelope,
// deadline tracking and continuation. items_per_second is the round-trip rate; bench/run.sh runs
// this with repetitions and prints the medians and the microlith / raw CAF ratios.
#include "idle_policy.hpp"
#include "proto/bench.pb.h"

#include "microlith/actors/error.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"

#include <benchmark/benchmark.h>

#include <caf/all.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
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

/// A batch that takes longer than this is reported as an error (something is stuck).
constexpr auto batch_limit = std::chrono::seconds(60);

/// The finite timeout of `raw_caf_request_timeout`.
constexpr auto raw_timeout = std::chrono::seconds(10);

/// One batch of round trips. The driver actor owns the counters while it runs; the benchmark
/// thread reads `failure` only after `done` is fulfilled.
struct batch {
  batch(std::int64_t total_count, std::int64_t outstanding_count)
    : total(total_count), outstanding(std::min(outstanding_count, total_count)) {
  }

  std::int64_t total;
  std::int64_t outstanding;
  std::int64_t sent = 0;
  std::int64_t received = 0;
  std::string failure;
  std::promise<void> done;
};

/// Waits for `b` to finish; returns an error text (empty on success).
std::string wait_for(batch& b, std::future<void>& done) {
  if (done.wait_for(batch_limit) != std::future_status::ready)
    return "a batch did not finish within 60 s";
  return b.failure;
}

// -- raw CAF -----------------------------------------------------------------------------------

/// Answers every integer with itself.
caf::behavior raw_echo() {
  return {[](std::int64_t x) { return x; }};
}

struct raw_driver_state {
  caf::actor echo;
  caf::duration timeout;
  std::shared_ptr<batch> work;
};

using raw_driver_actor = caf::stateful_actor<raw_driver_state>;

void raw_finish(raw_driver_actor* self) {
  self->state.work->done.set_value();
  self->quit();
}

/// Sends one request and, on its reply, the next one until the batch is complete.
void raw_request_one(raw_driver_actor* self) {
  auto& st = self->state;
  self->request(st.echo, st.timeout, st.work->sent++)
    .then(
      [self](std::int64_t) {
        auto& b = *self->state.work;
        if (++b.received == b.total)
          raw_finish(self);
        else if (b.sent < b.total)
          raw_request_one(self);
      },
      [self](caf::error& err) {
        auto& b = *self->state.work;
        if (b.failure.empty()) {
          b.failure = "raw request failed: " + to_string(err);
          raw_finish(self);
        }
      });
}

/// Keeps `work->outstanding` requests to `echo` in flight until `work->total` have answered.
void raw_driver(raw_driver_actor* self, caf::actor echo, caf::duration timeout,
                std::shared_ptr<batch> work) {
  self->state.echo = std::move(echo);
  self->state.timeout = timeout;
  self->state.work = std::move(work);
  for (std::int64_t i = 0; i < self->state.work->outstanding; ++i)
    raw_request_one(self);
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
    auto work = std::make_shared<batch>(batch_size(), outstanding);
    auto done = work->done.get_future();
    auto driver = sys.spawn(raw_driver, echo, timeout, work);
    if (auto failure = wait_for(*work, done); !failure.empty()) {
      caf::anon_send_exit(driver, caf::exit_reason::kill);
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

/// The echo service.
class echo_service {
public:
  microlith::reply<bench::PingReply> ping(microlith::call_context&,
                                          const bench::PingRequest& request) {
    bench::PingReply out;
    out.set_value(request.value());
    return out;
  }
};

/// A worker's state that keeps `outstanding` calls to echo.Ping in flight until the batch is
/// complete, then fulfils the batch's promise and stops its actor.
class call_driver {
public:
  call_driver(microlith::call_context& ctx, std::shared_ptr<batch> work)
    : ctx_(ctx), work_(std::move(work)) {
    for (std::int64_t i = 0; i < work_->outstanding; ++i)
      call_one();
  }

private:
  void call_one() {
    bench::PingRequest request;
    request.set_value(work_->sent++);
    ctx_.call<bench::PingReply>("echo", "Ping", request)
      .then([this](const bench::PingReply&) { on_reply(); },
            [this](const caf::error& err) { on_error(err); });
  }

  void on_reply() {
    if (++work_->received == work_->total)
      finish();
    else if (work_->sent < work_->total)
      call_one();
  }

  void on_error(const caf::error& err) {
    if (!work_->failure.empty())
      return;
    work_->failure = "call failed: " + microlith::describe(err);
    finish();
  }

  void finish() {
    work_->done.set_value();
    ctx_.self()->quit();
  }

  microlith::call_context ctx_;
  std::shared_ptr<batch> work_;
};

/// The definition microlith::worker<call_driver>() would build, with a state factory that hands
/// the batch to the state's constructor.
microlith::service_definition driver_definition(std::shared_ptr<batch> work) {
  microlith::service_definition def;
  def.name = "driver";
  def.make_state = [work = std::move(work)](microlith::call_context& ctx) {
    return std::static_pointer_cast<void>(std::make_shared<call_driver>(ctx, work));
  };
  return def;
}

void microlith_call(benchmark::State& state) {
  microlith::node_options options;
  options.name = "bench";
  options.threads = static_cast<int>(scheduler_threads);
  bench::apply_idle_policy(options);
  microlith::node node{options};
  auto echo = node.spawn(microlith::service<echo_service>("echo", "bench.Echo")
                           .handle("Ping", &echo_service::ping));
  if (!echo) {
    state.SkipWithError(("echo failed to start: " + microlith::describe(echo.error())).c_str());
    return;
  }
  const auto outstanding = state.range(0);
  for (auto _ : state) {
    auto work = std::make_shared<batch>(batch_size(), outstanding);
    auto done = work->done.get_future();
    auto driver = node.start(driver_definition(work), caf::actor{});
    if (!driver) {
      auto why = "driver failed to start: " + microlith::describe(driver.error());
      state.SkipWithError(why.c_str());
      break;
    }
    if (auto failure = wait_for(*work, done); !failure.empty()) {
      caf::anon_send_exit(*driver, caf::exit_reason::kill);
      state.SkipWithError(failure.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * batch_size());
  // The node stops echo (it spawned it); every driver has stopped itself.
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

BENCHMARK_MAIN();
