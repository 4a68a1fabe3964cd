// Supervision costs: restart latency (a supervised service killed, until its replacement answers
// a call by name), with no siblings and with 10,000 idle siblings under the same supervisor; the
// spawn rate of dynamic children, the time to stop all of them; heap memory per idle supervised
// child (the child actor and the supervisor's bookkeeping for it).
//
// Restart latency is measured inside the node by a prober worker: it kills the current instance
// (an exit signal in the urgent queue), then calls the service by name, retrying at once on
// service_unavailable/service_down, and takes the time of the first successful answer. Each
// benchmark run does 2000 restarts and reports the median and p99 in microseconds as counters.
#include "idle_policy.hpp"
#include "proto/bench.pb.h"

#include <microlith/actors/exit.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/supervision/dynamic_supervisor.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <future>
#include <malloc.h>

namespace {

using clock_type = std::chrono::steady_clock;

class echo {
public:
  microlith::reply<bench::PingReply> ping(microlith::call_context&, const bench::PingRequest& req) {
    bench::PingReply out;
    out.set_value(req.value());
    return out;
  }
};

microlith::service_definition echo_service() {
  return microlith::service<echo>("echo", "bench.Echo").handle("Ping", &echo::ping);
}

// What the prober needs; set before it is spawned (one prober at a time).
struct probe_job {
  microlith::service_registry* registry = nullptr;
  int restarts = 0;
  std::vector<double> samples_us;
  std::promise<void> done;
};
probe_job* current_job = nullptr;

class prober {
public:
  explicit prober(microlith::call_context& ctx) : ctx_(ctx), job_(current_job) {
    job_->samples_us.reserve(static_cast<std::size_t>(job_->restarts));
    next();
  }

private:
  void next() {
    if (static_cast<int>(job_->samples_us.size()) == job_->restarts) {
      job_->done.set_value();
      return;
    }
    auto victim = job_->registry->resolve("echo");
    crashed_at_ = clock_type::now();
    microlith::signal_exit(victim, caf::exit_reason::kill);
    probe(victim);
  }

  void probe(caf::actor victim) {
    bench::PingRequest req;
    req.set_value(1);
    ctx_.call<bench::PingReply>("echo", "Ping", req)
      .then(
        [this, victim](const bench::PingReply&) {
          // An answer from the old instance (the kill not yet processed) does not count.
          if (job_->registry->resolve("echo") == victim) {
            probe(victim);
            return;
          }
          auto took = clock_type::now() - crashed_at_;
          job_->samples_us.push_back(std::chrono::duration<double, std::micro>(took).count());
          next();
        },
        [this, victim](const caf::error&) { probe(victim); });
  }

  microlith::call_context ctx_;
  probe_job* job_;
  clock_type::time_point crashed_at_;
};

// An idle sibling: a plain actor doing nothing.
caf::behavior idle_actor(caf::event_based_actor*) {
  return {[](int) {}};
}

double percentile(std::vector<double> xs, double p) {
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[i];
}

void restart_latency(benchmark::State& state) {
  const auto siblings = static_cast<int>(state.range(0));
  microlith::node_options opts;
  opts.threads = 2;
  bench::apply_idle_policy(opts);
  microlith::node n{opts};
  auto spec = microlith::supervisor_spec{"bench"}.intensity(1000000, std::chrono::seconds(1));
  auto* np = &n;
  spec.child(microlith::child("echo", [np](caf::event_based_actor* sup) {
               return np->start(echo_service(), caf::actor_cast<caf::actor>(sup));
             }).await_ready());
  for (int i = 0; i < siblings; ++i)
    spec.child(microlith::child("sibling-" + std::to_string(i),
                                [](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
                                  return sup->spawn(idle_actor);
                                }));
  auto sup = microlith::start_supervisor(n.system(), spec);
  if (!sup) {
    state.SkipWithError("supervisor did not start");
    return;
  }
  n.adopt(*sup);
  std::vector<double> all;
  for (auto _ : state) {
    probe_job job;
    job.registry = &n.registry();
    job.restarts = 2000;
    current_job = &job;
    auto done = job.done.get_future();
    auto worker = n.spawn(microlith::worker<prober>("prober"));
    done.wait();
    current_job = nullptr;
    caf::anon_send_exit(*worker, caf::exit_reason::user_shutdown);
    all.insert(all.end(), job.samples_us.begin(), job.samples_us.end());
  }
  state.counters["p50_us"] = percentile(all, 0.50);
  state.counters["p99_us"] = percentile(all, 0.99);
  state.counters["restarts"] = static_cast<double>(all.size());
}

// Heap bytes in use (glibc's mallinfo2): unlike the resident set, it does not read zero when a
// repetition reuses memory freed by the one before.
std::size_t heap_in_use() {
  return mallinfo2().uordblks;
}

// Starts `count` children of a dynamic supervisor keeping 256 starts outstanding, so that the
// supervisor, not the caller, is the bottleneck; fulfils `done` when all have answered.
class starter final : public caf::event_based_actor {
public:
  starter(caf::actor_config& cfg, caf::actor sup, int count, std::promise<void>* done)
    : caf::event_based_actor(cfg), sup_(std::move(sup)), count_(count), done_(done) {}

  caf::behavior make_behavior() override {
    while (sent_ < std::min(count_, 256))
      send_one();
    return {[](int) {}};
  }

private:
  void send_one() {
    request(sup_, std::chrono::seconds(30), microlith::start_child_atom::value,
            caf::make_message(sent_))
      .then([this](caf::actor&) { answered(); }, [this](caf::error&) { answered(); });
    ++sent_;
  }

  void answered() {
    if (++answered_ == count_) {
      done_->set_value();
      quit();
      return;
    }
    if (sent_ < count_)
      send_one();
  }

  caf::actor sup_;
  int count_;
  std::promise<void>* done_;
  int sent_ = 0;
  int answered_ = 0;
};

void dynamic_children(benchmark::State& state) {
  const auto count = static_cast<int>(state.range(0));
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", std::size_t{2});
  bench::apply_idle_policy(cfg);
  caf::actor_system sys{cfg};
  double rate = 0;
  double bytes_per_child = 0;
  double stop_ms = 0;
  for (auto _ : state) {
    auto spec = microlith::dynamic_supervisor_spec{
      "pool", [](caf::event_based_actor* sup, const caf::message&) -> caf::expected<caf::actor> {
        return sup->spawn(idle_actor);
      }};
    auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
    auto before = heap_in_use();
    auto started = clock_type::now();
    std::promise<void> done;
    auto finished = done.get_future();
    sys.spawn<starter>(sup, count, &done);
    finished.wait();
    auto took = std::chrono::duration<double>(clock_type::now() - started).count();
    auto after = heap_in_use();
    rate = count / took;
    bytes_per_child = static_cast<double>(after - before) / count;
    auto stopping = clock_type::now();
    caf::scoped_actor self{sys};
    self->monitor(sup);
    microlith::signal_exit(sup, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});
    stop_ms = std::chrono::duration<double, std::milli>(clock_type::now() - stopping).count();
  }
  state.counters["children_per_s"] = rate;
  state.counters["bytes_per_child"] = bytes_per_child;
  state.counters["stop_all_ms"] = stop_ms;
}

} // namespace

BENCHMARK(restart_latency)
  ->Arg(0)
  ->Arg(10000)
  ->Iterations(1)
  ->Unit(benchmark::kMillisecond)
  ->UseRealTime();
BENCHMARK(dynamic_children)
  ->Arg(10000)
  ->Arg(100000)
  ->Iterations(1)
  ->Unit(benchmark::kMillisecond)
  ->UseRealTime();

BENCHMARK_MAIN();
