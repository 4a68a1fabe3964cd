// Latency histograms for metrics: one set of bucket bounds for every duration microlith counts
// (calls served, HTTP requests), so that the observer and Prometheus compare them directly, and
// a recorder cheap enough to leave on.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace microlith {

/// The upper bounds of the buckets, in seconds (Prometheus's `le`), from 100 µs to 10 s; one
/// more bucket counts what took longer than the last.
inline constexpr std::array<double, 16> duration_bounds_seconds{
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
  0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   5.0,  10.0};

/// How many buckets a histogram has: one per bound and one above the last.
inline constexpr std::size_t duration_buckets = duration_bounds_seconds.size() + 1;

/// The bucket of a duration: the first whose bound it does not exceed, or the last.
std::size_t duration_bucket(std::chrono::nanoseconds d) noexcept;

/// A histogram as read: `counts[i]` durations fell in bucket i (not cumulative), `count` is their
/// total and `sum_seconds` their sum.
struct duration_histogram {
  std::array<std::uint64_t, duration_buckets> counts{};
  double sum_seconds = 0;
  std::uint64_t count = 0;

  /// Adds another histogram's counts (of another instance, another node).
  duration_histogram& operator+=(const duration_histogram& other) noexcept;

  /// The duration below which a fraction `q` (0..1) of the counted ones fell, interpolated
  /// linearly inside its bucket as Prometheus's histogram_quantile does (the last bucket answers
  /// its lower bound); 0 when nothing was counted.
  double quantile(double q) const noexcept;
};

/// The difference of two readings of one histogram (what was counted between them).
duration_histogram operator-(const duration_histogram& later,
                             const duration_histogram& earlier) noexcept;

/// Counts durations from any number of threads: relaxed atomic additions, no lock. Readers get
/// a histogram whose fields may be a few counts apart from each other while writers run.
class duration_recorder {
public:
  void record(std::chrono::nanoseconds d) noexcept;
  duration_histogram read() const noexcept;

private:
  std::array<std::atomic<std::uint64_t>, duration_buckets> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

} // namespace microlith
