// Nodes' reports as Prometheus text (see prometheus_text.hpp).
#include "observer/prometheus_text.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>

namespace microlith::observer {

namespace {

using label = std::pair<std::string_view, std::string_view>;

// A label value with `\`, `"` and newlines escaped, as the format requires.
std::string escaped_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

// A sample value: Go's float syntax, with the format's spellings of infinities and NaN.
std::string value_text(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", x);
}

std::string value_text(std::uint64_t x) {
  return std::to_string(x);
}

std::string value_text(std::int64_t x) {
  return std::to_string(x);
}

// One metric family: its HELP and TYPE lines, then its samples.
class family {
public:
  family(std::string_view name, std::string_view type, std::string_view help)
    : name_(name), text_(fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type)) {}

  // One sample of the family itself, or of one of its series (`suffix`: "_bucket", "_sum"...).
  template <class Value>
  void add(std::initializer_list<label> labels, Value value, std::string_view suffix = {},
           const label* extra = nullptr) {
    text_ += name_;
    text_ += suffix;
    text_ += '{';
    bool first = true;
    auto put = [&](const label& l) {
      if (!first)
        text_ += ',';
      first = false;
      text_ += l.first;
      text_ += "=\"";
      text_ += escaped_value(l.second);
      text_ += '"';
    };
    for (const auto& l : labels)
      put(l);
    if (extra != nullptr)
      put(*extra);
    text_ += "} ";
    text_ += value_text(value);
    text_ += '\n';
  }

  // One histogram's series: cumulative buckets (le="+Inf" last), _sum and _count.
  void add_histogram(std::initializer_list<label> labels, const v1::Histogram& h) {
    std::uint64_t cumulative = 0;
    auto n = static_cast<std::size_t>(h.bounds_size());
    for (std::size_t i = 0; i < n; ++i) {
      if (i < static_cast<std::size_t>(h.counts_size()))
        cumulative += h.counts(static_cast<int>(i));
      auto le = value_text(h.bounds(static_cast<int>(i)));
      label bound{"le", le};
      add(labels, cumulative, "_bucket", &bound);
    }
    for (auto i = n; i < static_cast<std::size_t>(h.counts_size()); ++i)
      cumulative += h.counts(static_cast<int>(i));
    // A report without bucket counts still has its total.
    auto total = h.counts_size() > 0 ? cumulative : h.count();
    label inf{"le", "+Inf"};
    add(labels, total, "_bucket", &inf);
    add(labels, h.sum_seconds(), "_sum");
    add(labels, total, "_count");
  }

  const std::string& text() const noexcept { return text_; }

private:
  std::string_view name_;
  std::string text_;
};

// The families, in the order they are written.
struct families {
  family calls{"microlith_calls_total", "counter",
               "Calls answered (with a value or an error) by the service's instances on the node."};
  family call_errors{"microlith_call_errors_total", "counter", "Calls that failed, by error kind."};
  family call_duration{"microlith_call_duration_seconds", "histogram",
                       "Time from an instance taking a call to its answer."};
  family http_requests{"microlith_http_requests_total", "counter",
                       "HTTP responses of a gateway group, by route (and its target) and status."};
  family http_duration{"microlith_http_request_duration_seconds", "histogram",
                       "Time from an HTTP request read to its response written."};
  family restarts{"microlith_child_restarts_total", "counter",
                  "Restarts of a supervision tree's child by its supervisor."};
  family up{"microlith_child_up", "gauge", "1 when a supervision tree's child is running, else 0."};
  family last_exit{"microlith_child_last_exit_timestamp_seconds", "gauge",
                   "When a child last exited abnormally (crashed or was killed), Unix time."};
  family mailbox{"microlith_mailbox_messages", "gauge",
                 "Messages waiting in a child's mailbox (where the child reports it)."};
  family jobs{"microlith_jobs", "gauge", "Background jobs of a queue, by state."};
  family threads{"microlith_scheduler_threads", "gauge", "The node's scheduler threads."};
  family utilisation{"microlith_scheduler_utilisation_ratio", "gauge",
                     "The scheduler threads' CPU time over their wall time in the last window "
                     "(0..1)."};
  family link_up{"microlith_link_up", "gauge",
                 "1 while the node is joined with the peer node, else 0."};
  family link_round_trip{"microlith_link_round_trip_seconds", "gauge",
                         "The newest round trip of the node agents' ping over the link."};
  family resident{"process_resident_memory_bytes", "gauge", "Resident memory size in bytes."};
  family cpu{"process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds."};
  family start{"process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds."};

  std::string text() const {
    std::string out;
    for (const auto* f : {&calls, &call_errors, &call_duration, &http_requests, &http_duration,
                          &restarts, &up, &last_exit, &mailbox, &jobs, &threads, &utilisation,
                          &link_up, &link_round_trip, &resident, &cpu, &start})
      out += f->text();
    return out;
  }
};

// One entry below a group, and its children in turn; `path` is its child label.
void add_child(families& out, std::string_view node, std::string_view group,
               const v1::TreeEntry& entry, const std::string& path) {
  out.restarts.add({{"node", node}, {"group", group}, {"child", path}},
                   static_cast<std::uint64_t>(entry.restarts()));
  out.up.add({{"node", node}, {"group", group}, {"child", path}},
             std::uint64_t{entry.state() == "running" ? 1U : 0U});
  if (entry.last_exit_unix_ms() > 0)
    out.last_exit.add({{"node", node}, {"group", group}, {"child", path}},
                      static_cast<double>(entry.last_exit_unix_ms()) / 1000.0);
  if (entry.mailbox() >= 0)
    out.mailbox.add({{"node", node}, {"group", group}, {"child", path}}, entry.mailbox());
  for (const auto& c : entry.children())
    add_child(out, node, group, c, path + "/" + c.id());
}

void add_group(families& out, std::string_view node, const v1::TreeEntry& group) {
  for (const auto& c : group.children())
    add_child(out, node, group.id(), c, c.id());
}

void add_report(families& out, const v1::NodeReport& r) {
  auto node_name = node_label(r);
  std::string_view node = node_name;
  for (const auto& m : r.methods()) {
    std::initializer_list<label> labels{
      {"node", node}, {"service", m.service()}, {"method", m.method()}};
    out.calls.add(labels, m.calls());
    for (const auto& e : m.errors())
      out.call_errors.add(
        {{"node", node}, {"service", m.service()}, {"method", m.method()}, {"kind", e.name()}},
        e.value());
    if (m.has_duration())
      out.call_duration.add_histogram(labels, m.duration());
  }
  for (const auto& route : r.routes()) {
    for (const auto& s : route.statuses())
      out.http_requests.add({{"node", node},
                             {"group", route.group()},
                             {"route", route.route()},
                             {"target", route.target()},
                             {"status", s.name()}},
                            s.value());
    if (route.has_duration())
      out.http_duration.add_histogram({{"node", node},
                                       {"group", route.group()},
                                       {"route", route.route()},
                                       {"target", route.target()}},
                                      route.duration());
  }
  if (r.has_tree()) {
    const auto& tree = r.tree();
    if (tree.kind() == "system") {
      for (const auto& group : tree.children())
        add_group(out, node, group);
    } else if (!tree.id().empty()) {
      add_group(out, node, tree);
    }
  }
  for (const auto& q : r.queues())
    for (const auto& s : q.states())
      out.jobs.add({{"node", node}, {"queue", q.queue()}, {"state", s.name()}}, s.value());
  out.threads.add({{"node", node}}, static_cast<std::uint64_t>(r.scheduler_threads()));
  out.utilisation.add({{"node", node}}, r.scheduler_utilisation());
  for (const auto& l : r.links()) {
    out.link_up.add({{"node", node}, {"peer", l.node()}}, std::uint64_t{l.joined() ? 1U : 0U});
    if (l.joined() && l.round_trip_seconds() > 0)
      out.link_round_trip.add({{"node", node}, {"peer", l.node()}}, l.round_trip_seconds());
  }
  out.resident.add({{"node", node}}, static_cast<std::int64_t>(r.resident_bytes()));
  out.cpu.add({{"node", node}}, r.cpu_seconds());
  out.start.add({{"node", node}}, static_cast<double>(r.started_unix_ms()) / 1000.0);
}

} // namespace

std::string node_label(const v1::NodeReport& report) {
  if (!report.node().empty())
    return report.node();
  if (!report.system().empty())
    return report.system();
  return "local";
}

std::string prometheus_text(const std::vector<v1::NodeReport>& reports) {
  families out;
  for (const auto& r : reports)
    add_report(out, r);
  return out.text();
}

} // namespace microlith::observer
