#include "toggles/toggle_board.hpp"

#include "microlith/actors/error.hpp"
#include "toggles/toggle_declarations.hpp"
#include "toggles/toggle_naming.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace microlith {

namespace {

namespace pb = microlith::toggles::v1;

constexpr std::size_t max_keys = 10000;
constexpr std::size_t max_key_length = 256;
constexpr std::uint32_t default_history = 100;
constexpr std::uint32_t max_history = 10000;

toggle_gates gates_of(const pb::Gates& g) {
  toggle_gates out;
  out.boolean = g.boolean();
  for (const auto& [k, v] : g.actors())
    out.actors.emplace(k, v);
  for (const auto& [k, v] : g.groups())
    out.groups.emplace(k, v);
  if (g.percent_actors() > 0) {
    out.percentage = percentage_kind::actors;
    out.percent = static_cast<int>(std::min<std::uint32_t>(g.percent_actors(), 100));
  } else if (g.percent_time() > 0) {
    out.percentage = percentage_kind::time;
    out.percent = static_cast<int>(std::min<std::uint32_t>(g.percent_time(), 100));
  }
  return out;
}

pb::Gates message_of(const toggle_gates& g) {
  pb::Gates out;
  out.set_boolean(g.boolean);
  for (const auto& [k, v] : g.actors)
    (*out.mutable_actors())[k] = v;
  for (const auto& [k, v] : g.groups)
    (*out.mutable_groups())[k] = v;
  if (g.percentage == percentage_kind::actors)
    out.set_percent_actors(static_cast<std::uint32_t>(g.percent));
  else if (g.percentage == percentage_kind::time)
    out.set_percent_time(static_cast<std::uint32_t>(g.percent));
  return out;
}

// Why `key` cannot be an actor key or a group member; nothing when it can.
std::optional<std::string> key_problem(const std::string& key) {
  if (key.empty())
    return std::string{"an actor key cannot be empty"};
  if (key.size() > max_key_length)
    return fmt::format("an actor key has at most {} bytes, this one {}", max_key_length,
                       key.size());
  for (char c : key)
    if (static_cast<unsigned char>(c) < 0x20 || c == ',' || c == 0x7f)
      return fmt::format("actor key \"{}\" holds a comma or a control character", key);
  return std::nullopt;
}

caf::error check_keys(const google::protobuf::RepeatedPtrField<std::string>& keys,
                      std::string_view what) {
  if (static_cast<std::size_t>(keys.size()) > max_keys)
    return make_error(errc::invalid_argument,
                      fmt::format("at most {} {}, got {}", max_keys, what, keys.size()));
  for (const auto& k : keys)
    if (auto problem = key_problem(k))
      return make_error(errc::invalid_argument, *problem);
  return {};
}

caf::error check_percent(std::uint32_t value, std::string_view what) {
  if (value > 100)
    return make_error(errc::invalid_argument,
                      fmt::format("{} is a whole number from 0 to 100, got {}", what, value));
  return {};
}

std::string describe_members(const std::vector<std::string>& keys) {
  return keys.empty() ? std::string{"none"} : fmt::format("{}", fmt::join(keys, ","));
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

bool newer_version(const pb::Version& a, const pb::Version& b) {
  if (a.stamp() != b.stamp())
    return a.stamp() > b.stamp();
  return a.node() > b.node();
}

std::string describe_gates(const toggle_gates& g) {
  std::string out = g.boolean ? "on" : "off";
  std::vector<std::string> on, off;
  for (const auto& [k, v] : g.actors)
    (v ? on : off).push_back(k);
  if (!on.empty())
    out += fmt::format(", actors {}", fmt::join(on, ","));
  if (!off.empty())
    out += fmt::format(", actors off {}", fmt::join(off, ","));
  on.clear();
  off.clear();
  for (const auto& [k, v] : g.groups)
    (v ? on : off).push_back(k);
  if (!on.empty())
    out += fmt::format(", groups {}", fmt::join(on, ","));
  if (!off.empty())
    out += fmt::format(", groups off {}", fmt::join(off, ","));
  if (g.percentage == percentage_kind::actors)
    out += fmt::format(", {}% of actors", g.percent);
  else if (g.percentage == percentage_kind::time)
    out += fmt::format(", {}% of time", g.percent);
  return out;
}

toggle_board::toggle_board(node& n, toggles_config settings, detail::toggle_store store,
                           std::string node_name)
  : node_(n), settings_(std::move(settings)), store_(std::move(store)),
    node_name_(std::move(node_name)) {}

caf::expected<std::unique_ptr<toggle_board>> toggle_board::open(node& n,
                                                                const system_config& config,
                                                                const module_catalogue& catalogue,
                                                                std::string node_name) {
  auto declared = detail::declared_toggles(config, catalogue);
  if (!declared.errors.empty())
    return make_error(errc::invalid_argument, declared.errors.front().to_string());
  const std::string file =
    config.toggles.database.empty() ? std::string{":memory:"} : config.toggles.database;
  auto store = detail::toggle_store::open(file);
  if (!store)
    return store.error();
  auto saved = store->values();
  if (!saved)
    return saved.error();
  auto groups = store->groups();
  if (!groups)
    return groups.error();
  auto board =
    std::make_unique<toggle_board>(n, config.toggles, std::move(*store), std::move(node_name));
  std::lock_guard<std::mutex> guard{board->mutex_};
  for (auto& t : declared.toggles) {
    if (auto s = saved->find(t.name); s != saved->end())
      t.gates = gates_of(s->second.gates);
    board->states_.emplace(t.name, std::move(t));
  }
  for (auto& [name, v] : *saved) {
    // A saved value of a toggle that is no longer declared stays in the file, unused (and is
    // still handed to the other nodes of a cluster, which may declare it).
    if (board->states_.count(name) == 0)
      board->undeclared_.emplace(name, v.gates);
    board->observe_locked(v.version);
    board->versions_.emplace(name, std::move(v.version));
  }
  board->origin_ = std::move(declared.origin);
  for (auto& [name, g] : *groups) {
    if (!g.keys.empty())
      board->groups_[name].insert(g.keys.begin(), g.keys.end());
    board->observe_locked(g.version);
    board->group_versions_.emplace(name, std::move(g.version));
  }
  board->publish_locked();
  // Per-call overrides: honoured and required as the file says (both off by default).
  n.set_toggle_override_policy({config.toggles.test_overrides, config.toggles.require_override});
  return board;
}

void toggle_board::publish_locked() {
  std::vector<toggle_state> all;
  all.reserve(states_.size());
  for (const auto& [name, t] : states_)
    all.push_back(t);
  node_.publish_toggles(std::make_shared<const toggle_snapshot>(std::move(all), groups_));
}

pb::Version toggle_board::next_version_locked() {
  clock_ = std::max(wall_ms(), clock_ + 1);
  pb::Version v;
  v.set_stamp(clock_);
  v.set_node(node_name_);
  return v;
}

void toggle_board::observe_locked(const pb::Version& v) {
  clock_ = std::max(clock_, v.stamp());
}

pb::Toggle toggle_board::message_of_locked(const toggle_state& t) const {
  pb::Toggle out;
  out.set_name(t.name);
  out.set_description(t.description);
  out.set_default_value(t.default_value);
  *out.mutable_gates() = message_of(t.gates);
  if (auto o = origin_.find(t.name); o != origin_.end())
    out.set_declared_by(o->second);
  if (auto v = versions_.find(t.name); v != versions_.end())
    *out.mutable_version() = v->second;
  return out;
}

caf::expected<pb::Toggle> toggle_board::get(const std::string& name) const {
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = states_.find(name);
  if (i == states_.end())
    return make_error(errc::not_found, undeclared_toggle_message(name));
  return message_of_locked(i->second);
}

pb::ToggleList toggle_board::list() const {
  std::lock_guard<std::mutex> guard{mutex_};
  pb::ToggleList out;
  for (const auto& [name, t] : states_)
    *out.add_toggles() = message_of_locked(t);
  for (const auto& [name, keys] : groups_) {
    auto& members = (*out.mutable_groups())[name];
    for (const auto& k : keys)
      members.add_keys(k);
  }
  const auto policy = node_.override_policy();
  const auto counts = node_.override_counts();
  const auto saturated = [](std::uint64_t n) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX));
  };
  out.set_test_overrides(policy.honoured);
  out.set_require_override(policy.required);
  out.set_ignored_overrides(saturated(counts.ignored));
  out.set_undeclared_overrides(saturated(counts.undeclared));
  out.set_snapshot_misses(saturated(node_.toggle_snapshot_misses()));
  return out;
}

caf::expected<pb::Toggle> toggle_board::set(const pb::SetRequest& req, const std::string& who) {
  const bool anything = !req.boolean().empty() || req.set_actors() || req.set_percent_actors()
                        || req.set_percent_time() || req.set_groups();
  if (!anything)
    return make_error(errc::invalid_argument,
                      fmt::format("nothing to change for toggle {}: give on or off, actors, "
                                  "groups, a percentage of actors or a percentage of time",
                                  req.name()));
  if (!req.boolean().empty() && req.boolean() != "on" && req.boolean() != "off")
    return make_error(
      errc::invalid_argument,
      fmt::format("the boolean gate is \"on\" or \"off\", got \"{}\"", req.boolean()));
  if (req.set_percent_actors() && req.set_percent_time())
    return make_error(errc::invalid_argument,
                      "a toggle has one percentage gate: give a percentage of actors or a "
                      "percentage of time, not both");
  if (auto err = check_percent(req.percent_actors(), "the percentage of actors"))
    return err;
  if (auto err = check_percent(req.percent_time(), "the percentage of time"))
    return err;
  if (auto err = check_keys(req.actors(), "actors"))
    return err;
  if (auto err = check_keys(req.groups(), "groups"))
    return err;
  std::lock_guard<std::mutex> guard{mutex_};
  auto i = states_.find(req.name());
  if (i == states_.end())
    return make_error(errc::not_found, undeclared_toggle_message(req.name()));
  toggle_gates next = i->second.gates;
  if (!req.boolean().empty())
    next.boolean = req.boolean() == "on";
  if (req.set_actors()) {
    next.actors.clear();
    for (const auto& k : req.actors())
      next.actors[k] = true;
  }
  if (req.set_groups()) {
    next.groups.clear();
    for (const auto& g : req.groups())
      next.groups[g] = true;
  }
  if (req.set_percent_actors()) {
    next.percentage = req.percent_actors() > 0 ? percentage_kind::actors : percentage_kind::none;
    next.percent = static_cast<int>(req.percent_actors());
  }
  if (req.set_percent_time()) {
    next.percentage = req.percent_time() > 0 ? percentage_kind::time : percentage_kind::none;
    next.percent = static_cast<int>(req.percent_time());
  }
  detail::toggle_change change{who, req.name(), describe_gates(i->second.gates),
                               describe_gates(next)};
  auto version = next_version_locked();
  if (auto err = store_.save_value(message_of(next), version, change))
    return err;
  i->second.gates = std::move(next);
  versions_[req.name()] = std::move(version);
  publish_locked();
  return message_of_locked(i->second);
}

caf::expected<pb::GroupSet> toggle_board::set_group(const pb::SetGroupRequest& req,
                                                    const std::string& who) {
  if (auto problem = detail::toggle_name_problem(req.group()))
    return make_error(
      errc::invalid_argument,
      fmt::format("invalid group name \"{}\": {}", req.group(),
                  std::string{"a group name follows the rule of toggle names: "} + *problem));
  if (auto err = check_keys(req.keys(), "members"))
    return err;
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::string> before;
  if (auto g = groups_.find(req.group()); g != groups_.end())
    before.assign(g->second.begin(), g->second.end());
  std::set<std::string, std::less<>> after(req.keys().begin(), req.keys().end());
  std::vector<std::string> keys(after.begin(), after.end());
  detail::toggle_change change{who, "group:" + req.group(), describe_members(before),
                               describe_members(keys)};
  auto version = next_version_locked();
  if (auto err = store_.save_group(req.group(), keys, version, change))
    return err;
  if (keys.empty())
    groups_.erase(req.group());
  else
    groups_[req.group()] = std::move(after);
  group_versions_[req.group()] = version;
  publish_locked();
  pb::GroupSet out;
  out.set_group(req.group());
  for (const auto& k : keys)
    out.add_keys(k);
  *out.mutable_version() = std::move(version);
  return out;
}

caf::expected<pb::ReplicaApplied::Outcome>
toggle_board::apply_value_locked(const pb::ReplicaValue& v, const std::string& who, bool& changed) {
  observe_locked(v.version());
  pb::Version held;
  if (auto i = versions_.find(v.name()); i != versions_.end())
    held = i->second;
  if (!newer_version(v.version(), held))
    return v.version().stamp() == held.stamp() && v.version().node() == held.node()
             ? pb::ReplicaApplied::APPLIED
             : pb::ReplicaApplied::NEWER;
  auto state = states_.find(v.name());
  auto gates = gates_of(v.gates());
  std::string before = "not set";
  if (state != states_.end())
    before = describe_gates(state->second.gates);
  else if (auto u = undeclared_.find(v.name()); u != undeclared_.end())
    before = describe_gates(gates_of(u->second));
  detail::toggle_change change{who, v.name(), before, describe_gates(gates)};
  if (auto err = store_.save_value(message_of(gates), v.version(), change))
    return err;
  if (state != states_.end())
    state->second.gates = std::move(gates);
  else
    undeclared_[v.name()] = v.gates();
  versions_[v.name()] = v.version();
  changed = true;
  return pb::ReplicaApplied::APPLIED;
}

caf::expected<pb::ReplicaApplied::Outcome>
toggle_board::apply_group_locked(const pb::ReplicaGroup& g, const std::string& who, bool& changed) {
  observe_locked(g.version());
  pb::Version held;
  if (auto i = group_versions_.find(g.group()); i != group_versions_.end())
    held = i->second;
  if (!newer_version(g.version(), held))
    return g.version().stamp() == held.stamp() && g.version().node() == held.node()
             ? pb::ReplicaApplied::APPLIED
             : pb::ReplicaApplied::NEWER;
  std::vector<std::string> before;
  if (auto i = groups_.find(g.group()); i != groups_.end())
    before.assign(i->second.begin(), i->second.end());
  std::set<std::string, std::less<>> after(g.keys().begin(), g.keys().end());
  std::vector<std::string> keys(after.begin(), after.end());
  detail::toggle_change change{who, "group:" + g.group(), describe_members(before),
                               describe_members(keys)};
  if (auto err = store_.save_group(g.group(), keys, g.version(), change))
    return err;
  if (keys.empty())
    groups_.erase(g.group());
  else
    groups_[g.group()] = std::move(after);
  group_versions_[g.group()] = g.version();
  changed = true;
  return pb::ReplicaApplied::APPLIED;
}

caf::expected<pb::ReplicaApplied::Outcome> toggle_board::apply(const pb::ReplicaChange& change) {
  const auto who = fmt::format("{} on node {}", change.who(), change.from());
  std::lock_guard<std::mutex> guard{mutex_};
  bool changed = false;
  caf::expected<pb::ReplicaApplied::Outcome> done = pb::ReplicaApplied::APPLIED;
  if (change.has_value())
    done = apply_value_locked(change.value(), who, changed);
  else if (change.has_group())
    done = apply_group_locked(change.group(), who, changed);
  else
    return make_error(
      errc::invalid_argument,
      fmt::format("the change from node {} holds neither a value nor a group", change.from()));
  if (changed)
    publish_locked();
  return done;
}

pb::ReplicaState toggle_board::state() const {
  std::lock_guard<std::mutex> guard{mutex_};
  pb::ReplicaState out;
  out.set_node(node_name_);
  for (const auto& [name, version] : versions_) {
    auto* v = out.add_values();
    v->set_name(name);
    if (auto s = states_.find(name); s != states_.end())
      *v->mutable_gates() = message_of(s->second.gates);
    else if (auto u = undeclared_.find(name); u != undeclared_.end())
      *v->mutable_gates() = u->second;
    *v->mutable_version() = version;
  }
  for (const auto& [name, version] : group_versions_) {
    auto* g = out.add_groups();
    g->set_group(name);
    if (auto i = groups_.find(name); i != groups_.end())
      for (const auto& k : i->second)
        g->add_keys(k);
    *g->mutable_version() = version;
  }
  return out;
}

caf::expected<int> toggle_board::merge(const pb::ReplicaState& theirs) {
  const auto who = fmt::format("node {} (catching up)", theirs.node());
  std::lock_guard<std::mutex> guard{mutex_};
  int taken = 0;
  bool any = false;
  caf::error failed;
  for (const auto& v : theirs.values()) {
    bool changed = false;
    auto done = apply_value_locked(v, who, changed);
    if (!done) {
      failed = done.error();
      break;
    }
    taken += changed ? 1 : 0;
    any = any || changed;
  }
  for (const auto& g : theirs.groups()) {
    if (failed)
      break;
    bool changed = false;
    auto done = apply_group_locked(g, who, changed);
    if (!done) {
      failed = done.error();
      break;
    }
    taken += changed ? 1 : 0;
    any = any || changed;
  }
  // What was saved is in force, also when a later save failed.
  if (any)
    publish_locked();
  if (failed)
    return failed;
  return taken;
}

caf::expected<pb::ChangeList> toggle_board::history(const pb::HistoryRequest& req) const {
  std::uint32_t limit = req.limit() == 0 ? default_history : std::min(req.limit(), max_history);
  std::lock_guard<std::mutex> guard{mutex_};
  if (!req.name().empty() && states_.count(req.name()) == 0 && req.name().rfind("group:", 0) != 0)
    return make_error(errc::not_found, undeclared_toggle_message(req.name()));
  auto changes = store_.history(req.name(), limit);
  if (!changes)
    return changes.error();
  pb::ChangeList out;
  for (auto& c : *changes)
    *out.add_changes() = std::move(c);
  return out;
}

} // namespace microlith
