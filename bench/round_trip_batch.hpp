// One batch of round trips between a driver actor and an echo actor: the unit of work of one
// benchmark iteration in call_bench and cluster_bench. A driver keeps `outstanding` requests in
// flight until `total` have answered (or one failed), then fulfils `done`; the benchmark thread
// waits on it (run_batch) and reads the batch only afterwards.
#pragma once

#include <microlith/actors/error.hpp>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/send.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace bench {

/// Whether a driver times each round trip of a batch.
enum class timing { off, per_round_trip };

/// One batch of round trips. The driver actor owns the counters while it runs; the benchmark
/// thread reads them only after `done` is fulfilled.
struct round_trip_batch {
  round_trip_batch(std::int64_t total_count, std::int64_t outstanding_count,
                   timing timed = timing::off)
    : total(total_count), outstanding(std::min(outstanding_count, total_count)),
      timed(timed == timing::per_round_trip) {
    if (this->timed)
      latencies_us.reserve(static_cast<std::size_t>(total));
  }

  /// Records one answered round trip sent at `sent_at`; true when it was the batch's last.
  bool answered(std::chrono::steady_clock::time_point sent_at) {
    if (timed)
      latencies_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - sent_at)
          .count());
    return ++received == total;
  }

  /// When a request sent now started (the epoch when the batch is not timed: no clock read).
  std::chrono::steady_clock::time_point send_time() const {
    return timed ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  }

  /// Whether another request may be sent.
  bool more_to_send() const { return sent < total; }

  std::int64_t total;
  std::int64_t outstanding;
  bool timed;
  std::int64_t sent = 0;
  std::int64_t received = 0;
  std::vector<double> latencies_us; ///< one per answered round trip, when timed
  std::string failure;
  std::promise<void> done;
};

/// A batch that takes longer than this is reported as an error (something is stuck).
constexpr auto batch_limit = std::chrono::seconds(60);

/// Runs the batch `work` through the driver that `start(work)` starts (returning a
/// caf::expected<caf::actor>) and waits for it; returns why it failed, empty on success. A driver
/// that did not finish is killed.
template <class StartDriver>
std::string run_batch(const std::shared_ptr<round_trip_batch>& work, StartDriver start) {
  auto done = work->done.get_future();
  caf::expected<caf::actor> driver = start(work);
  if (!driver)
    return "driver failed to start: " + microlith::describe(driver.error());
  if (done.wait_for(batch_limit) != std::future_status::ready) {
    caf::anon_send_exit(*driver, caf::exit_reason::kill);
    return "a batch did not finish within 60 s";
  }
  return work->failure;
}

} // namespace bench
