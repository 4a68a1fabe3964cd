#include "microlith/actors/duration_histogram.hpp"

#include <algorithm>

namespace microlith {

namespace {

// The bounds in nanoseconds, compared without floating point on the hot path.
constexpr std::array<std::int64_t, duration_bounds_seconds.size()> bounds_ns = [] {
  std::array<std::int64_t, duration_bounds_seconds.size()> out{};
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::int64_t>(duration_bounds_seconds[i] * 1e9 + 0.5);
  return out;
}();

} // namespace

std::size_t duration_bucket(std::chrono::nanoseconds d) noexcept {
  auto n = d.count();
  auto i = std::lower_bound(bounds_ns.begin(), bounds_ns.end(), n);
  return static_cast<std::size_t>(i - bounds_ns.begin());
}

duration_histogram& duration_histogram::operator+=(const duration_histogram& other) noexcept {
  for (std::size_t i = 0; i < counts.size(); ++i)
    counts[i] += other.counts[i];
  sum_seconds += other.sum_seconds;
  count += other.count;
  return *this;
}

double duration_histogram::quantile(double q) const noexcept {
  if (count == 0)
    return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = q * static_cast<double>(count);
  double below = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    auto in = static_cast<double>(counts[i]);
    if (in > 0 && below + in >= rank) {
      double lower = i == 0 ? 0.0 : duration_bounds_seconds[i - 1];
      if (i == duration_bounds_seconds.size())
        return lower; // above the last bound: nothing better is known
      double upper = duration_bounds_seconds[i];
      return lower + (upper - lower) * ((rank - below) / in);
    }
    below += in;
  }
  return duration_bounds_seconds.back();
}

duration_histogram operator-(const duration_histogram& later,
                             const duration_histogram& earlier) noexcept {
  duration_histogram out;
  for (std::size_t i = 0; i < out.counts.size(); ++i)
    out.counts[i] = later.counts[i] >= earlier.counts[i] ? later.counts[i] - earlier.counts[i] : 0;
  out.count = later.count >= earlier.count ? later.count - earlier.count : 0;
  out.sum_seconds = std::max(0.0, later.sum_seconds - earlier.sum_seconds);
  return out;
}

void duration_recorder::record(std::chrono::nanoseconds d) noexcept {
  counts_[duration_bucket(d)].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(d.count(), 0)),
                    std::memory_order_relaxed);
}

duration_histogram duration_recorder::read() const noexcept {
  duration_histogram out;
  for (std::size_t i = 0; i < out.counts.size(); ++i) {
    out.counts[i] = counts_[i].load(std::memory_order_relaxed);
    out.count += out.counts[i];
  }
  out.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return out;
}

} // namespace microlith
