#include "observe_command.hpp"

#include "admin_client.hpp"

#include "proto/microlith_observer.pb.h"

#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <thread>
#include <vector>

namespace microlith::cli {

namespace {

namespace pb = microlith::observer::v1;

constexpr std::string_view endpoint_hint =
  "its gateway group needs admin = true in its [http] table";

// `text` with its control characters as \xNN: what a terminal shows comes from the system (a
// crash's message may carry a client's input), and must not move the cursor or recolour it.
std::string printable(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  return out;
}

std::string seconds(double s) {
  if (s <= 0)
    return "-";
  if (s < 0.001)
    return fmt::format("{:.0f}us", s * 1e6);
  if (s < 1)
    return fmt::format("{:.2f}ms", s * 1e3);
  return fmt::format("{:.2f}s", s);
}

std::string mib(std::int64_t bytes) {
  return fmt::format("{:.1f}MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string node_name(const std::string& n) {
  return n.empty() ? std::string{"(this process)"} : n;
}

template <class Counts>
std::string counts(const Counts& list) {
  std::vector<std::string> parts;
  for (const auto& c : list)
    parts.push_back(fmt::format("{}={}", c.name(), c.value()));
  return parts.empty() ? std::string{"-"} : fmt::format("{}", fmt::join(parts, " "));
}

void print_tree(const pb::TreeEntry& e, int depth) {
  std::string line = fmt::format("{:{}}{} {} {}", "", depth * 2, e.id(), e.kind(), e.state());
  if (depth > 0 && e.restarts() > 0)
    line += fmt::format(" restarts={}", e.restarts());
  if (e.mailbox() >= 0)
    line += fmt::format(" mailbox={}", e.mailbox());
  if (e.services_size() > 0)
    line += fmt::format(" services={}", fmt::join(e.services(), ","));
  if (!e.last_exit_reason().empty())
    line +=
      fmt::format(" last_exit=\"{}\" at {}", e.last_exit_reason(), utc(e.last_exit_unix_ms()));
  fmt::print("{}\n", line);
  for (const auto& c : e.children())
    print_tree(c, depth + 1);
}

void print_view(const pb::SystemView& view, unsigned requests) {
  fmt::print("system {}, collected by {} at {}\n\n", view.system(), node_name(view.collected_by()),
             utc(view.taken_unix_ms()));
  std::vector<std::vector<std::string>> nodes{
    {"NODE", "STATE", "SINCE", "ROUND TRIP", "THREADS", "UTILISATION", "RSS", "CPU", "ERROR"}};
  for (const auto& n : view.nodes()) {
    const auto& r = n.report();
    nodes.push_back({node_name(n.node()), n.up() ? "up" : "down",
                     n.up() ? utc(n.up_since_unix_ms())
                            : (n.up_since_unix_ms() > 0 ? "last seen " + utc(n.up_since_unix_ms())
                                                        : "never seen"),
                     // The link from the collecting node (its agents' ping); none to itself.
                     n.up() && n.node() != view.collected_by() && n.round_trip_seconds() > 0
                       ? seconds(n.round_trip_seconds())
                       : "-",
                     n.up() ? std::to_string(r.scheduler_threads()) : "-",
                     n.up() ? fmt::format("{:.0f}%", r.scheduler_utilisation() * 100) : "-",
                     n.up() ? mib(r.resident_bytes()) : "-",
                     n.up() ? fmt::format("{:.1f}s", r.cpu_seconds()) : "-", printable(n.error())});
  }
  print_table(nodes);
  for (const auto& n : view.nodes()) {
    if (!n.up() || !n.report().has_tree())
      continue;
    fmt::print("\nTREE of {}\n", node_name(n.node()));
    print_tree(n.report().tree(), 0);
  }
  std::vector<std::vector<std::string>> methods{
    {"SERVICE.METHOD", "NODE", "CALLS", "CALLS/S", "P50", "P99", "ERRORS"}};
  std::vector<std::vector<std::string>> routes{
    {"ROUTE", "TARGET", "NODE", "REQ/S", "P50", "P99", "STATUSES"}};
  std::vector<std::vector<std::string>> small{{"KIND", "NAME", "NODE", "VALUE"}};
  for (const auto& n : view.nodes()) {
    for (const auto& m : n.report().methods())
      methods.push_back({m.service() + "." + m.method(), node_name(n.node()),
                         std::to_string(m.calls()), fmt::format("{:.1f}", m.calls_per_second()),
                         seconds(m.p50_seconds()), seconds(m.p99_seconds()), counts(m.errors())});
    for (const auto& r : n.report().routes())
      routes.push_back({r.route().empty() ? "(no route)" : r.route(), r.target(),
                        node_name(n.node()), fmt::format("{:.1f}", r.requests_per_second()),
                        seconds(r.p50_seconds()), seconds(r.p99_seconds()), counts(r.statuses())});
    for (const auto& q : n.report().queues())
      small.push_back({"queue", q.queue(), node_name(n.node()), counts(q.states())});
    for (const auto& t : n.report().toggles())
      small.push_back({"toggle", t.name(), node_name(n.node()), t.value()});
    for (const auto& m : n.report().modules())
      small.push_back(
        {"module", m.name(), node_name(n.node()), m.version() + (m.active() ? " active" : "")});
  }
  fmt::print("\n");
  print_table(methods);
  if (routes.size() > 1) {
    fmt::print("\n");
    print_table(routes);
  }
  if (small.size() > 1) {
    fmt::print("\n");
    print_table(small);
  }
  if (requests == 0)
    return;
  fmt::print("\nREQUESTS (newest first)\n");
  if (view.requests_size() == 0)
    fmt::print("none logged (send one with the header X-Microlith-Trace: 1)\n");
  unsigned shown = 0;
  for (const auto& req : view.requests()) {
    if (shown++ == requests)
      break;
    fmt::print("{} {} {} {}{}\n", utc(req.start_unix_ms()), printable(req.correlation_id()),
               seconds(req.duration_seconds()), printable(req.outcome()),
               req.forced() ? " forced" : "");
    std::map<std::uint64_t, int> depth;
    for (const auto& s : req.spans()) {
      auto p = depth.find(s.parent_span());
      int d = p == depth.end() ? 0 : p->second + 1;
      depth[s.span()] = d;
      fmt::print("  {:{}}{}.{} on {} {} {}\n", "", d * 2, s.service(), s.method(),
                 node_name(s.node()), seconds(s.duration_seconds()), s.outcome());
    }
  }
}

} // namespace

int observe(const std::string& url, const observe_options& options) {
  admin_call call;
  call.verb = "GET";
  call.target = fmt::format("/_microlith/observer?requests={}", options.requests);
  call.limit = std::chrono::seconds(10);
  for (;;) {
    pb::SystemView view;
    if (int code = call_admin_json("microlith observe", url, call, endpoint_hint, view); code != 0)
      return code;
    if (options.json) {
      std::string json;
      google::protobuf::util::JsonPrintOptions print;
      print.preserve_proto_field_names = true;
      print.always_print_primitive_fields = true;
      (void)google::protobuf::util::MessageToJsonString(view, &json, print);
      fmt::print("{}\n", json);
    } else {
      if (options.watch)
        fmt::print("\x1b[H\x1b[2J"); // home, clear: redraw in place
      print_view(view, options.requests);
    }
    std::fflush(stdout);
    if (!options.watch)
      return 0;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

} // namespace microlith::cli
