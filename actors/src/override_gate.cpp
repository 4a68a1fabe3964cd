#include "detail/override_gate.hpp"

#include "microlith/actors/error.hpp"

#include <memory>
#include <utility>

namespace microlith::detail {

void override_gate::set_policy(toggle_override_policy policy) noexcept {
  honoured_.store(policy.honoured, std::memory_order_relaxed);
  required_.store(policy.honoured && policy.required, std::memory_order_relaxed);
}

toggle_override_policy override_gate::policy() const noexcept {
  return {honoured_.load(std::memory_order_relaxed), required_.load(std::memory_order_relaxed)};
}

toggle_override_counts override_gate::counts() const noexcept {
  return {ignored_.load(std::memory_order_relaxed), undeclared_.load(std::memory_order_relaxed)};
}

caf::error override_gate::admit_given(toggle_overrides given, const toggle_snapshot& declared,
                                      toggle_overrides_ptr& out) {
  out = nullptr;
  if (given.empty())
    return {};
  if (!honoured_.load(std::memory_order_relaxed)) {
    count_ignored();
    return {};
  }
  if (auto problem = toggle_overrides_problem(given, declared); !problem.empty())
    return make_error(errc::invalid_argument, std::move(problem));
  out = std::make_shared<const toggle_overrides>(std::move(given));
  return {};
}

void override_gate::admit_arrived(metadata& meta, const toggle_snapshot& declared) {
  if (!meta.toggle_overrides)
    return;
  if (meta.toggle_overrides->empty()) {
    meta.toggle_overrides = nullptr;
    return;
  }
  if (!honoured_.load(std::memory_order_relaxed)) {
    meta.toggle_overrides = nullptr;
    count_ignored();
    return;
  }
  const auto& given = *meta.toggle_overrides;
  auto keep = [&](std::size_t i) {
    if (declared.find(given[i].name) == nullptr)
      return false;
    for (std::size_t j = 0; j < i; ++j)
      if (given[j].name == given[i].name)
        return false;
    return true;
  };
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < given.size(); ++i)
    if (!keep(i))
      ++dropped;
  if (dropped == 0)
    return;
  undeclared_.fetch_add(dropped, std::memory_order_relaxed);
  if (dropped == given.size()) {
    meta.toggle_overrides = nullptr;
    return;
  }
  auto kept = std::make_shared<toggle_overrides>();
  for (std::size_t i = 0; i < given.size(); ++i)
    if (keep(i))
      kept->push_back(given[i]);
  meta.toggle_overrides = std::move(kept);
}

} // namespace microlith::detail
