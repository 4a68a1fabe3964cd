#include "microlith/net/gateway/http_metrics.hpp"

#include "microlith/net/gateway/route_table.hpp"

#include <algorithm>

namespace microlith::gateway {

http_metrics::counters::counters(std::string route, std::string target)
  : route_(std::move(route)), target_(std::move(target)) {}

void http_metrics::counters::record(unsigned status, std::chrono::nanoseconds took) noexcept {
  durations_.record(took);
  if (status < 100 || status > 599) {
    other_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // A slot is claimed once for a status and keeps it: the first free slot or the status's own.
  for (auto& s : statuses_) {
    auto held = s.status.load(std::memory_order_acquire);
    if (held == 0) {
      unsigned expected = 0;
      if (s.status.compare_exchange_strong(expected, status, std::memory_order_acq_rel))
        held = status;
      else
        held = expected;
    }
    if (held == status) {
      s.count.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  other_.fetch_add(1, std::memory_order_relaxed);
}

route_metrics http_metrics::counters::read() const {
  route_metrics out;
  out.route = route_;
  out.target = target_;
  for (const auto& s : statuses_) {
    auto status = s.status.load(std::memory_order_acquire);
    if (status == 0)
      break; // slots are claimed in order
    if (auto n = s.count.load(std::memory_order_relaxed); n > 0)
      out.statuses.emplace_back(status, n);
  }
  if (auto n = other_.load(std::memory_order_relaxed); n > 0)
    out.statuses.emplace_back(0U, n);
  std::sort(out.statuses.begin(), out.statuses.end());
  out.durations = durations_.read();
  return out;
}

http_metrics::http_metrics() {
  auto unrouted = std::make_unique<counters>(std::string{}, std::string{});
  unrouted_ = unrouted.get();
  by_route_.emplace(std::make_pair(std::string{}, std::string{}), std::move(unrouted));
}

http_metrics::~http_metrics() = default;

http_metrics::counters& http_metrics::of(const route_table& table, const route& r) {
  const auto* known = last_.load(std::memory_order_acquire);
  if (known == nullptr || known->table_id != table.id())
    known = resolve(table);
  auto index = static_cast<std::size_t>(&r - table.routes().data());
  if (index < known->by_index.size())
    return *known->by_index[index];
  return *unrouted_; // not a route of this table: never
}

const http_metrics::resolved* http_metrics::resolve(const route_table& table) {
  std::lock_guard<std::mutex> guard{mutex_};
  auto& slot = tables_[table.id()];
  if (!slot) {
    slot = std::make_unique<resolved>();
    slot->table_id = table.id();
    for (const auto& r : table.routes()) {
      auto key =
        std::make_pair(r.spec.verb + " " + r.spec.pattern, r.spec.service + "." + r.spec.method);
      auto& c = by_route_[key];
      if (!c)
        c = std::make_unique<counters>(key.first, key.second);
      slot->by_index.push_back(c.get());
    }
  }
  last_.store(slot.get(), std::memory_order_release);
  return slot.get();
}

std::vector<route_metrics> http_metrics::snapshot() const {
  std::vector<const counters*> all;
  {
    std::lock_guard<std::mutex> guard{mutex_};
    for (const auto& entry : by_route_)
      all.push_back(entry.second.get());
  }
  std::vector<route_metrics> out;
  out.reserve(all.size());
  for (const auto* c : all)
    out.push_back(c->read()); // in by_route_'s order: by route, then target, "" first
  return out;
}

} // namespace microlith::gateway
