// What a node reports of its process (services/src/observer/process_stats.hpp), read from /proc
// while a real node runs: its resident memory, CPU time and start time, its scheduler's worker
// threads (the middleman's I/O thread, named as they are, left out), and their utilisation,
// which rises while its actors spin.
#include "observer/process_stats.hpp"

#include <microlith/actors/node.hpp>

#include "support/two_threads.hpp"

#include <caf/all.hpp>
#include <caf/io/middleman.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// An actor that, asked with "spin", keeps its thread busy until the thread has used `cpu` of
// CPU time (at most 10 s of wall time, on a crowded machine), then answers.
caf::behavior spinner(caf::event_based_actor*, std::chrono::milliseconds cpu) {
  return {
    [cpu](const std::string&) {
      auto start = thread_cpu_seconds();
      auto until = std::chrono::steady_clock::now() + 10s;
      while (thread_cpu_seconds() - start < std::chrono::duration<double>(cpu).count()
             && std::chrono::steady_clock::now() < until) {
      }
      return true;
    },
  };
}

// Spins `n` actors of `n0` at once and waits for all of them.
void spin(microlith::node& n0, int n, std::chrono::milliseconds cpu) {
  caf::scoped_actor self{n0.system()};
  std::vector<caf::actor> spinners;
  for (int i = 0; i < n; ++i)
    spinners.push_back(n0.system().spawn(spinner, cpu));
  for (const auto& s : spinners)
    self->send(s, std::string{"spin"});
  for (int i = 0; i < n; ++i)
    self->receive([](bool) {}, caf::after(30s) >> [] { FAIL("a spinner did not answer"); });
  for (const auto& s : spinners)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}

// Waits (at most 10 s) until `n` threads have named themselves as scheduler workers (besides
// `excluded_tid`): a node's threads start, and name themselves, while its constructor returns.
bool workers_named(std::uint32_t n, long excluded_tid = 0) {
  auto until = std::chrono::steady_clock::now() + 10s;
  while (microlith::observer::scheduler_worker_threads(excluded_tid).threads != n) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

} // namespace

TEST_CASE("the process's memory cpu time and start time are read from proc", "[unit]") {
  microlith::node n{test_support::two_threads()};
  CHECK(microlith::observer::resident_bytes() > 1024 * 1024);
  spin(n, 1, 50ms);
  CHECK(microlith::observer::process_cpu_seconds() >= 0.05);
  auto now = static_cast<double>(std::time(nullptr));
  auto started = microlith::observer::process_start_unix_seconds();
  CHECK(started <= now + 1);
  CHECK(started > now - 3600); // the test program started within the hour
  // The same whenever it is asked.
  CHECK(microlith::observer::process_start_unix_seconds() == Approx(started));
}

TEST_CASE("the scheduler's worker threads are counted as the node has them", "[unit]") {
  SECTION("a node without a middleman") {
    microlith::node n{test_support::two_threads()};
    CHECK_FALSE(n.system().has_middleman());
    CHECK(microlith::observer::middleman_thread_id(n.system()) == 0);
    REQUIRE(workers_named(2));
    microlith::observer::scheduler_sampler sampler{n.system()};
    CHECK(sampler.threads() == 2);
    CHECK(sampler.threads() == n.system().scheduler().num_workers());
  }
  SECTION("a node with a middleman, whose thread is named as the workers are") {
    auto opts = test_support::two_threads();
    opts.configure_system = [](caf::actor_system_config& cfg) { cfg.load<caf::io::middleman>(); };
    microlith::node n{opts};
    REQUIRE(n.system().has_middleman());
    auto mm = microlith::observer::middleman_thread_id(n.system());
    CHECK(mm != 0);
    REQUIRE(workers_named(2, mm));
    CHECK(microlith::observer::scheduler_worker_threads().threads == 3); // with the middleman's
    CHECK(microlith::observer::scheduler_worker_threads(mm).threads == 2);
    microlith::observer::scheduler_sampler sampler{n.system()};
    CHECK(sampler.threads() == 2);
  }
}

TEST_CASE("the workers' utilisation rises while actors spin", "[unit]") {
  microlith::node n{test_support::two_threads()};
  REQUIRE(workers_named(2));
  microlith::observer::scheduler_sampler sampler{n.system()};
  CHECK(sampler.utilisation() == 0);  // one sample: no window yet
  std::this_thread::sleep_for(200ms); // a window of idleness to compare with
  sampler.sample();
  auto idle = sampler.utilisation();
  auto cpu_before = sampler.cpu_seconds();
  spin(n, 2, 300ms);
  sampler.sample();
  auto busy = sampler.utilisation();
  INFO("idle " << idle << ", busy " << busy);
  CHECK(idle >= 0.0);
  CHECK(idle < 0.5);
  CHECK(busy <= 1.0);
  CHECK(busy > idle);
  // Both threads spun the whole window on an idle machine (about 1); on a crowded one they get
  // a share of the cores only, so the bound only tells busy from idle.
  CHECK(busy > 0.05);
  // Both spinners' CPU time is the workers'.
  CHECK(sampler.cpu_seconds() - cpu_before >= 0.55);
}
