// A node's trace log (trace.hpp): the last span_log_capacity spans in a ring. Only traced
// requests write to it, so a mutex is cheap enough.
#pragma once

#include "microlith/actors/trace.hpp"

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace microlith::detail {

class span_log {
public:
  explicit span_log(std::size_t capacity = span_log_capacity);

  /// Adds `span`, dropping the oldest when full.
  void record(span_record span);

  /// The spans of `correlation_ids` (all when empty), at most `limit` of them (0 = no limit):
  /// the newest, oldest first; and the correlation ids among them that were forced.
  span_selection select(const std::vector<std::string>& correlation_ids, std::size_t limit) const;

private:
  mutable std::mutex mutex_;
  std::size_t capacity_;
  std::vector<span_record> ring_; // grows to capacity_, then next_ wraps
  std::size_t next_ = 0;          // where the next span goes once full
};

} // namespace microlith::detail
