#include "detail/call_metrics_table.hpp"

namespace microlith::detail {

void method_cell::add_to(std::uint64_t& calls, std::array<std::uint64_t, error_slots>& errors,
                         duration_histogram& duration) const noexcept {
  calls += calls_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < error_slots; ++i)
    errors[i] += errors_[i].load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < duration_buckets; ++i) {
    auto n = buckets_[i].load(std::memory_order_relaxed);
    duration.counts[i] += n;
    duration.count += n;
  }
  duration.sum_seconds += static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

method_cell* call_metrics_table::acquire(const std::string& service, const std::string& method) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& cells = cells_[{service, method}];
  for (auto& cell : cells)
    if (!cell->in_use) {
      cell->in_use = true;
      return cell.get();
    }
  cells.push_back(std::make_unique<method_cell>());
  cells.back()->in_use = true;
  return cells.back().get();
}

void call_metrics_table::release(const std::vector<method_cell*>& cells) {
  std::lock_guard<std::mutex> guard{mutex_};
  for (auto* cell : cells)
    if (cell != nullptr)
      cell->in_use = false;
}

std::vector<method_metrics> call_metrics_table::read() const {
  std::vector<method_metrics> out;
  std::lock_guard<std::mutex> guard{mutex_};
  out.reserve(cells_.size());
  for (const auto& [key, cells] : cells_) {
    method_metrics m;
    m.service = key.first;
    m.method = key.second;
    std::array<std::uint64_t, method_cell::error_slots> errors{};
    for (const auto& cell : cells)
      cell->add_to(m.calls, errors, m.duration);
    for (std::size_t i = 1; i < errors.size(); ++i)
      if (errors[i] > 0)
        m.errors.emplace_back(std::string{to_string(static_cast<errc>(i))}, errors[i]);
    std::sort(m.errors.begin(), m.errors.end());
    out.push_back(std::move(m));
  }
  return out; // the map's order: by service, then method
}

} // namespace microlith::detail
