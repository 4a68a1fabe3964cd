// The node's call metrics (call_metrics.hpp). A serving instance takes one cell per method it
// serves when it starts and gives them back when it stops; between the two it is the cell's
// only writer, so a count is a relaxed load and store (no lock prefix) and readers on other
// threads sum the cells with relaxed loads. Cells given back keep their counts and are handed
// to the next instance of the same service and method, so the counts survive restarts and the
// cells of a method are at most as many as its instances ever ran at once.
#pragma once

#include "microlith/actors/call_metrics.hpp"
#include "microlith/actors/error.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace microlith::detail {

/// One instance's counts of one method.
class method_cell {
public:
  /// How many error slots a cell has: one per error code (index 0 unused).
  static constexpr std::size_t error_slots = static_cast<std::size_t>(errc_last) + 1;

  /// Counts one answered call that took `d` and ended with `err` (empty = answered a value).
  /// From the owning instance only.
  void count(std::chrono::nanoseconds d, const caf::error& err) noexcept {
    bump(calls_);
    if (err)
      bump(errors_[slot_of(err)]);
    bump(buckets_[duration_bucket(d)]);
    auto ns = d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0;
    sum_ns_.store(sum_ns_.load(std::memory_order_relaxed) + ns, std::memory_order_relaxed);
  }

  /// Adds this cell's counts to `out` (from any thread).
  void add_to(std::uint64_t& calls, std::array<std::uint64_t, error_slots>& errors,
              duration_histogram& duration) const noexcept;

  bool in_use = false; // guarded by the table's mutex

private:
  static void bump(std::atomic<std::uint64_t>& counter) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  static std::size_t slot_of(const caf::error& err) noexcept {
    auto code = code_of(err);
    if (code == errc::none || code > errc_last)
      code = errc::internal; // kind_name's "internal"
    return static_cast<std::size_t>(code);
  }

  std::atomic<std::uint64_t> calls_{0};
  std::array<std::atomic<std::uint64_t>, error_slots> errors_{};
  std::array<std::atomic<std::uint64_t>, duration_buckets> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

class call_metrics_table {
public:
  /// Whether instances count at all (node_options::call_metrics).
  bool enabled = true;

  /// A free cell of `service`.`method` (one given back, or a new one), now owned by the caller.
  method_cell* acquire(const std::string& service, const std::string& method);

  /// Gives cells back (an instance stopping); they keep their counts.
  void release(const std::vector<method_cell*>& cells);

  /// Every method with a cell, sorted by service and method, its cells summed.
  std::vector<method_metrics> read() const;

private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::vector<std::unique_ptr<method_cell>>> cells_;
};

} // namespace microlith::detail
