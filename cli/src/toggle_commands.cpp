#include "toggle_commands.hpp"

#include "admin_client.hpp"

#include "proto/microlith_toggles.pb.h"

#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <vector>

namespace microlith::cli {

namespace {

namespace pb = microlith::toggles::v1;

constexpr std::string_view endpoint_hint =
  "its gateway group needs admin = true in its [http] table";

// "off, actors alice,bob, 25% of actors": as the server's history writes it.
std::string describe(const pb::Gates& g) {
  std::string out = g.boolean() ? "on" : "off";
  auto add_gates = [&out](const google::protobuf::Map<std::string, bool>& gates,
                          std::string_view what) {
    std::vector<std::string> on, off;
    for (const auto& [k, v] : gates)
      (v ? on : off).push_back(k);
    std::sort(on.begin(), on.end());
    std::sort(off.begin(), off.end());
    if (!on.empty())
      out += fmt::format(", {} {}", what, fmt::join(on, ","));
    if (!off.empty())
      out += fmt::format(", {} off {}", what, fmt::join(off, ","));
  };
  add_gates(g.actors(), "actors");
  add_gates(g.groups(), "groups");
  if (g.percent_actors() > 0)
    out += fmt::format(", {}% of actors", g.percent_actors());
  else if (g.percent_time() > 0)
    out += fmt::format(", {}% of time", g.percent_time());
  return out;
}

std::string utc_of_seconds(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// In a cluster: where a change is in force, and the nodes that did not acknowledge it.
void print_propagation(const pb::Propagation& p) {
  if (p.applied_on_size() == 0)
    return; // a system in one process
  fmt::print("  applied on: {}\n", fmt::join(p.applied_on(), ", "));
  if (p.newer_on_size() > 0)
    fmt::print("  a newer value is in force on: {}\n", fmt::join(p.newer_on(), ", "));
  for (const auto& problem : p.not_answered())
    fmt::print("  not answered: {} ({})\n", problem.node(), problem.reason());
}

} // namespace

int set_toggle(const std::string& url, const std::string& name, const toggle_change& change) {
  constexpr std::string_view command = "microlith toggle set";
  std::vector<std::string> query;
  if (!change.boolean.empty())
    query.push_back("boolean=" + change.boolean);
  if (change.actors)
    query.push_back("actors=" + url_encode(*change.actors));
  if (change.groups)
    query.push_back("groups=" + url_encode(*change.groups));
  if (change.percent_actors)
    query.push_back(fmt::format("percent_actors={}", *change.percent_actors));
  if (change.percent_time)
    query.push_back(fmt::format("percent_time={}", *change.percent_time));
  if (query.empty()) {
    fmt::print(stderr,
               "{}: nothing to set: give on or off, --actors, --groups, --percent-actors "
               "or --percent-time\n",
               command);
    return 2;
  }
  admin_call call;
  call.target = "/_microlith/toggles/" + url_encode(name);
  for (std::size_t i = 0; i < query.size(); ++i)
    call.target += (i == 0 ? "?" : "&") + query[i];
  pb::Toggle t;
  if (int code = call_admin_json(command, url, call, endpoint_hint, t); code != 0)
    return code;
  fmt::print("{}: {}\n", t.name(), describe(t.gates()));
  print_propagation(t.propagation());
  return 0;
}

int get_toggle(const std::string& url, const std::string& name) {
  admin_call call;
  call.verb = "GET";
  call.target = "/_microlith/toggles/" + url_encode(name);
  pb::Toggle t;
  if (int code = call_admin_json("microlith toggle get", url, call, endpoint_hint, t); code != 0)
    return code;
  fmt::print("{}: {}\n", t.name(), describe(t.gates()));
  fmt::print("  default {}, declared by {}\n", t.default_value() ? "on" : "off", t.declared_by());
  if (!t.description().empty())
    fmt::print("  {}\n", t.description());
  return 0;
}

namespace {

// Per-call overrides, when the node honours them or dropped some: "per-call overrides: not
// honoured ([toggles] test_overrides = false), 3 ignored".
void print_overrides(const pb::ToggleList& all) {
  if (!all.test_overrides() && all.ignored_overrides() == 0 && all.undeclared_overrides() == 0)
    return;
  std::string state = all.test_overrides()
                        ? (all.require_override() ? "honoured and required" : "honoured")
                        : "not honoured ([toggles] test_overrides = false)";
  fmt::print("\nper-call overrides: {}, {} ignored, {} undeclared dropped\n", state,
             all.ignored_overrides(), all.undeclared_overrides());
}

// Calls from other nodes whose snapshot this node did not hold, when there were any.
void print_snapshot_misses(const pb::ToggleList& all) {
  if (all.snapshot_misses() == 0)
    return;
  fmt::print("\nsnapshots from other nodes not held here: {} (those calls used this node's "
             "values)\n",
             all.snapshot_misses());
}

} // namespace

int list_toggles(const std::string& url) {
  admin_call call;
  call.verb = "GET";
  call.target = "/_microlith/toggles";
  pb::ToggleList all;
  if (int code = call_admin_json("microlith toggle list", url, call, endpoint_hint, all); code != 0)
    return code;
  if (all.toggles_size() == 0) {
    fmt::print("no toggles declared\n");
    print_overrides(all);
    print_snapshot_misses(all);
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
    {"NAME", "VALUE", "DEFAULT", "DECLARED BY", "DESCRIPTION"}};
  for (const auto& t : all.toggles())
    rows.push_back({t.name(), describe(t.gates()), t.default_value() ? "on" : "off",
                    t.declared_by(), t.description()});
  print_table(rows);
  if (!all.groups().empty()) {
    std::vector<std::string> names;
    for (const auto& [name, members] : all.groups())
      names.push_back(name);
    std::sort(names.begin(), names.end());
    fmt::print("\ngroups:\n");
    for (const auto& name : names)
      fmt::print("  {}: {}\n", name, fmt::join(all.groups().at(name).keys(), ","));
  }
  print_overrides(all);
  print_snapshot_misses(all);
  return 0;
}

int toggle_history(const std::string& url, const std::string& name) {
  admin_call call;
  call.verb = "GET";
  call.target = "/_microlith/toggles/_history";
  if (!name.empty())
    call.target += "?name=" + url_encode(name);
  pb::ChangeList history;
  if (int code = call_admin_json("microlith toggle history", url, call, endpoint_hint, history);
      code != 0)
    return code;
  if (history.changes_size() == 0) {
    fmt::print(name.empty() ? "no changes recorded\n" : "no changes recorded for {}\n", name);
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"AT", "WHO", "NAME", "OLD", "NEW"}};
  for (const auto& c : history.changes())
    rows.push_back({utc_of_seconds(c.at()), c.who(), c.name(), c.old_value(), c.new_value()});
  print_table(rows);
  return 0;
}

int set_toggle_group(const std::string& url, const std::string& group, const std::string& keys) {
  admin_call call;
  call.target = "/_microlith/toggles/_groups/" + url_encode(group) + "?keys=" + url_encode(keys);
  pb::GroupSet set;
  if (int code = call_admin_json("microlith toggle group", url, call, endpoint_hint, set);
      code != 0)
    return code;
  if (set.keys_size() == 0)
    fmt::print("group {} removed\n", set.group());
  else
    fmt::print("group {}: {}\n", set.group(), fmt::join(set.keys(), ","));
  print_propagation(set.propagation());
  return 0;
}

} // namespace microlith::cli
