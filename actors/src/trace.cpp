#include "microlith/actors/trace.hpp"

#include "detail/span_log.hpp"

#include <algorithm>
#include <random>

namespace microlith {

std::uint64_t new_span_id() noexcept {
  thread_local std::mt19937_64 generator{[] {
    std::random_device rd;
    std::seed_seq seed{rd(), rd(), rd(), rd()};
    return std::mt19937_64{seed};
  }()};
  std::uint64_t id = 0;
  while (id == 0)
    id = generator();
  return id;
}

std::int64_t unix_now_us() noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

namespace detail {

span_log::span_log(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void span_log::record(span_record span) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(span));
    return;
  }
  ring_[next_] = std::move(span);
  next_ = (next_ + 1) % capacity_;
}

span_selection span_log::select(const std::vector<std::string>& correlation_ids,
                                std::size_t limit) const {
  auto wanted = [&](const span_record& s) {
    return correlation_ids.empty()
           || std::find(correlation_ids.begin(), correlation_ids.end(), s.correlation_id)
                != correlation_ids.end();
  };
  span_selection out;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    // Newest first, so that a limit keeps the newest.
    const auto size = ring_.size();
    for (std::size_t k = 0; k < size; ++k) {
      if (limit != 0 && out.spans.size() >= limit)
        break;
      const auto& s = ring_[(next_ + size - 1 - k) % size];
      if (wanted(s))
        out.spans.push_back(s);
    }
  }
  std::reverse(out.spans.begin(), out.spans.end());
  for (const auto& s : out.spans)
    if (s.forced
        && std::find(out.forced.begin(), out.forced.end(), s.correlation_id) == out.forced.end())
      out.forced.push_back(s.correlation_id);
  return out;
}

} // namespace detail

} // namespace microlith
