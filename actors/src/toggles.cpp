#include "microlith/actors/toggles.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <random>
#include <thread>

namespace microlith {

namespace {

std::uint32_t name_hash(std::string_view name) noexcept {
  return static_cast<std::uint32_t>(std::hash<std::string_view>{}(name));
}

// One draw in 0..9999 for a percentage-of-time gate: a per-thread xorshift64*, seeded once.
std::uint32_t time_draw() noexcept {
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    auto seed =
      (std::uint64_t{rd()} << 32) ^ rd() ^ std::hash<std::thread::id>{}(std::this_thread::get_id());
    return seed == 0 ? 0x9e3779b97f4a7c15ULL : seed;
  }();
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return static_cast<std::uint32_t>((state * 0x2545f4914f6cdd1dULL) >> 32) % 10000;
}

} // namespace

std::string undeclared_toggle_message(std::string_view name) {
  return fmt::format("toggle \"{}\" is not declared: declare it in a module "
                     "(module_definition::toggle) or in the system file's [toggles] table",
                     name);
}

undeclared_toggle::undeclared_toggle(std::string_view name)
  : std::logic_error(undeclared_toggle_message(name)) {}

const toggle_override* find_toggle_override(const toggle_overrides& overrides,
                                            std::string_view name) noexcept {
  for (const auto& o : overrides)
    if (o.name == name)
      return &o;
  return nullptr;
}

std::string toggle_overrides_problem(const toggle_overrides& overrides,
                                     const toggle_snapshot& declared) {
  if (overrides.size() > max_toggle_overrides)
    return fmt::format("{} toggle overrides given; a call carries at most {}", overrides.size(),
                       max_toggle_overrides);
  for (std::size_t i = 0; i < overrides.size(); ++i) {
    const auto& name = overrides[i].name;
    if (declared.find(name) == nullptr)
      return fmt::format("toggle override \"{}\": not a declared toggle", name);
    for (std::size_t j = 0; j < i; ++j)
      if (overrides[j].name == name)
        return fmt::format("toggle override \"{}\": given more than once", name);
  }
  return {};
}

std::string toggle_override_missing_message(std::string_view name) {
  return fmt::format("toggle \"{}\" has no override in this call and [toggles] "
                     "require_override = true",
                     name);
}

toggle_override_missing::toggle_override_missing(std::string_view name)
  : std::logic_error(toggle_override_missing_message(name)) {}

std::uint32_t toggle_actor_score(std::string_view name, std::string_view key) noexcept {
  // FNV-1a, 64 bits, over name, one zero byte, key.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  for (char c : name)
    mix(static_cast<unsigned char>(c));
  mix(0);
  for (char c : key)
    mix(static_cast<unsigned char>(c));
  return static_cast<std::uint32_t>(h % 10000);
}

bool evaluate_toggle(const toggle_state& state, const toggle_groups& groups,
                     const std::string_view* key) {
  const auto& gates = state.gates;
  if (key != nullptr) {
    // 1. actor gates
    if (auto a = gates.actors.find(*key); a != gates.actors.end())
      return a->second;
    // 2. group gates: a group that is off wins over one that is on
    bool any_on = false;
    for (const auto& [group, on] : gates.groups) {
      auto g = groups.find(group);
      if (g == groups.end() || g->second.find(*key) == g->second.end())
        continue;
      if (!on)
        return false;
      any_on = true;
    }
    if (any_on)
      return true;
  }
  // 3. the boolean gate
  if (gates.boolean)
    return true;
  // 4. the percentage gate
  const auto threshold = static_cast<std::uint32_t>(gates.percent) * 100;
  switch (gates.percentage) {
    case percentage_kind::actors:
      return key != nullptr && toggle_actor_score(state.name, *key) < threshold;
    case percentage_kind::time: return time_draw() < threshold;
    case percentage_kind::none: break;
  }
  return false;
}

std::uint64_t toggle_snapshot_digest(const std::vector<toggle_state>& toggles,
                                     const toggle_groups& groups) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto byte = [&h](unsigned char c) {
    h ^= c;
    h *= 0x100000001b3ULL;
  };
  auto number = [&byte](std::uint64_t n) {
    for (int i = 0; i < 8; ++i)
      byte(static_cast<unsigned char>(n >> (8 * i)));
  };
  auto text = [&](std::string_view s) {
    number(s.size());
    for (char c : s)
      byte(static_cast<unsigned char>(c));
  };
  number(toggles.size());
  for (const auto& t : toggles) {
    text(t.name);
    byte(t.gates.boolean ? 1 : 0);
    number(t.gates.actors.size());
    for (const auto& [key, on] : t.gates.actors) {
      text(key);
      byte(on ? 1 : 0);
    }
    number(t.gates.groups.size());
    for (const auto& [group, on] : t.gates.groups) {
      text(group);
      byte(on ? 1 : 0);
    }
    byte(static_cast<unsigned char>(t.gates.percentage));
    number(static_cast<std::uint64_t>(t.gates.percent));
  }
  std::size_t with_members = 0;
  for (const auto& [name, keys] : groups)
    with_members += keys.empty() ? 0 : 1;
  number(with_members);
  for (const auto& [name, keys] : groups) {
    if (keys.empty())
      continue;
    text(name);
    number(keys.size());
    for (const auto& k : keys)
      text(k);
  }
  // A finalizer (splitmix64's), so that nearby inputs spread over all 64 bits.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h == 0 ? 1 : h;
}

toggle_snapshot::toggle_snapshot() : digest_(toggle_snapshot_digest(toggles_, groups_)) {}

toggle_snapshot::toggle_snapshot(std::vector<toggle_state> toggles, toggle_groups groups)
  : toggles_(std::move(toggles)), groups_(std::move(groups)) {
  std::sort(toggles_.begin(), toggles_.end(),
            [](const toggle_state& a, const toggle_state& b) { return a.name < b.name; });
  digest_ = toggle_snapshot_digest(toggles_, groups_);
  std::size_t size = 2;
  while (size < toggles_.size() * 2)
    size *= 2;
  slots_.resize(size);
  const std::size_t mask = size - 1;
  for (std::size_t i = 0; i < toggles_.size(); ++i) {
    const auto h = name_hash(toggles_[i].name);
    std::size_t at = h & mask;
    while (slots_[at].index != 0)
      at = (at + 1) & mask;
    slots_[at] = slot{static_cast<std::uint32_t>(i + 1), h};
  }
}

const toggle_state* toggle_snapshot::find(std::string_view name) const noexcept {
  if (toggles_.empty())
    return nullptr;
  const auto h = name_hash(name);
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t at = h & mask;; at = (at + 1) & mask) {
    const slot& s = slots_[at];
    if (s.index == 0)
      return nullptr;
    if (s.hash == h && toggles_[s.index - 1].name == name)
      return &toggles_[s.index - 1];
  }
}

const toggle_state& toggle_snapshot::require(std::string_view name) const {
  if (const auto* state = find(name))
    return *state;
  throw undeclared_toggle(name);
}

bool toggle_snapshot::enabled(std::string_view name) const {
  return evaluate_toggle(require(name), groups_, nullptr);
}

bool toggle_snapshot::enabled(std::string_view name, std::string_view key) const {
  return evaluate_toggle(require(name), groups_, &key);
}

} // namespace microlith
