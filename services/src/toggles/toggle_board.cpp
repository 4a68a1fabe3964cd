#include "toggles/toggle_board.hpp"

#include "microlith/actors/error.hpp"
#include "toggles/toggle_declarations.hpp"
#include "toggles/toggle_naming.hpp"

#include <fmt/format.h>

#include <algorithm>

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

} // namespace

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

toggle_board::toggle_board(node& n, toggles_config settings, detail::toggle_store store)
  : node_(n), settings_(std::move(settings)), store_(std::move(store)) {}

caf::expected<std::unique_ptr<toggle_board>>
toggle_board::open(node& n, const system_config& config, const module_catalogue& catalogue) {
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
  auto board = std::make_unique<toggle_board>(n, config.toggles, std::move(*store));
  std::lock_guard<std::mutex> guard{board->mutex_};
  for (auto& t : declared.toggles) {
    // A saved value of a toggle that is no longer declared stays in the file, unused.
    if (auto s = saved->find(t.name); s != saved->end())
      t.gates = gates_of(s->second);
    board->states_.emplace(t.name, std::move(t));
  }
  board->origin_ = std::move(declared.origin);
  for (auto& [name, keys] : *groups)
    board->groups_[name].insert(keys.begin(), keys.end());
  board->publish_locked();
  return board;
}

void toggle_board::publish_locked() {
  std::vector<toggle_state> all;
  all.reserve(states_.size());
  for (const auto& [name, t] : states_)
    all.push_back(t);
  node_.publish_toggles(std::make_shared<const toggle_snapshot>(std::move(all), groups_));
}

pb::Toggle toggle_board::message_of_locked(const toggle_state& t) const {
  pb::Toggle out;
  out.set_name(t.name);
  out.set_description(t.description);
  out.set_default_value(t.default_value);
  *out.mutable_gates() = message_of(t.gates);
  if (auto o = origin_.find(t.name); o != origin_.end())
    out.set_declared_by(o->second);
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
  if (auto err = store_.save_value(message_of(next), change))
    return err;
  i->second.gates = std::move(next);
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
  detail::toggle_change change{who, "group:" + req.group(),
                               before.empty() ? "none" : fmt::format("{}", fmt::join(before, ",")),
                               keys.empty() ? "none" : fmt::format("{}", fmt::join(keys, ","))};
  if (auto err = store_.save_group(req.group(), keys, change))
    return err;
  if (keys.empty())
    groups_.erase(req.group());
  else
    groups_[req.group()] = std::move(after);
  publish_locked();
  pb::GroupSet out;
  out.set_group(req.group());
  for (const auto& k : keys)
    out.add_keys(k);
  return out;
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
