#include "microlith/services/observer_admin.hpp"

#include "observer/observer_runtime.hpp"
#include "observer/observer_service.hpp"
#include "observer/prometheus_text.hpp"

#include "microlith/actors/async_caller.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/actors/log.hpp"
#include "microlith/net/gateway/http_binding.hpp"
#include "proto/microlith_observer.pb.h"

#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <set>

namespace microlith {

namespace {

namespace pb = microlith::observer::v1;
using done_function = std::function<void(gateway::admin_response)>;

// How many requests the view's log shows by default, and at most.
constexpr std::uint32_t default_requests = 50;
constexpr std::uint32_t max_requests = 500;
// The spans asked of each node for the log.
constexpr std::uint32_t spans_per_node = 4096;

// Which nodes a collection asks: this node and, in a cluster, every other node of the file.
struct observer_scope {
  std::string system;
  std::string node;                         // this node ("" = the whole system in one process)
  std::vector<std::string> peers;           // the other nodes of the file
  std::chrono::milliseconds deadline{2000}; // how long a collection waits for a node
};

observer_scope scope_of(const detail::observer_runtime& rt) {
  const auto& s = rt.sources();
  return {s.system, s.node_name, s.peers};
}

// `text` on one line (a comment line of Prometheus' text format ends at a newline).
std::string one_line(std::string text) {
  std::replace_if(
    text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

gateway::admin_response error_response(const caf::error& err, const std::string& request_id) {
  return {gateway::status_of(err),
          gateway::error_body(gateway::error_name(err), message_of(err), request_id)};
}

gateway::admin_response refuse(std::string message, const std::string& request_id) {
  return error_response(make_error(errc::invalid_argument, std::move(message)), request_id);
}

std::string to_json(const google::protobuf::Message& m) {
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  print.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &json, print);
  return json;
}

// The requests of the log from the spans the nodes answered: one per correlation id, its calls
// in start order, newest request first, at most `limit`.
void assemble_requests(std::vector<pb::Span>& spans, const std::set<std::string>& forced,
                       std::uint32_t limit, pb::SystemView& view) {
  std::map<std::string, std::vector<pb::Span*>> by_request;
  for (auto& s : spans)
    by_request[s.correlation_id()].push_back(&s);
  std::vector<pb::RequestTrace> traces;
  for (auto& [id, calls] : by_request) {
    std::sort(calls.begin(), calls.end(), [](const pb::Span* a, const pb::Span* b) {
      return a->start_unix_us() < b->start_unix_us();
    });
    std::set<std::uint64_t> ids;
    for (const auto* s : calls)
      ids.insert(s->span());
    // The root: the first call whose parent is not among the request's calls.
    const pb::Span* root = calls.front();
    for (const auto* s : calls)
      if (ids.count(s->parent_span()) == 0) {
        root = s;
        break;
      }
    std::int64_t first = calls.front()->start_unix_us();
    std::int64_t last = first;
    for (const auto* s : calls)
      last = std::max<std::int64_t>(
        last, s->start_unix_us() + static_cast<std::int64_t>(s->duration_seconds() * 1e6));
    pb::RequestTrace t;
    t.set_correlation_id(id);
    t.set_start_unix_ms(first / 1000);
    t.set_duration_seconds(static_cast<double>(last - first) / 1e6);
    t.set_outcome(root->outcome());
    t.set_forced(forced.count(id) > 0);
    for (const auto* s : calls)
      *t.add_spans() = *s;
    traces.push_back(std::move(t));
  }
  std::sort(traces.begin(), traces.end(),
            [](const auto& a, const auto& b) { return a.start_unix_ms() > b.start_unix_ms(); });
  if (traces.size() > limit)
    traces.resize(limit);
  for (auto& t : traces)
    *view.add_requests() = std::move(t);
}

// One collection of the system view: asks every node's observer at once and answers when the
// last one answered or failed (each call is bounded by the scope's deadline).
struct collection {
  std::mutex mutex;
  pb::SystemView view;
  std::vector<pb::Span> spans;
  std::set<std::string> forced;
  std::size_t waiting = 0;
  std::uint32_t requests = 0;
  std::function<void(pb::SystemView)> done;

  void finish_one() {
    std::function<void(pb::SystemView)> finish;
    {
      std::lock_guard<std::mutex> guard{mutex};
      if (--waiting > 0)
        return;
      assemble_requests(spans, forced, requests, view);
      finish = std::move(done);
    }
    finish(std::move(view));
  }
};

void collect(const async_caller& caller, const std::shared_ptr<detail::observer_runtime>& rt,
             const observer_scope& scope, std::uint32_t requests,
             std::function<void(pb::SystemView)> done) {
  auto c = std::make_shared<collection>();
  c->requests = requests;
  c->done = std::move(done);
  c->view.set_system(scope.system);
  c->view.set_collected_by(scope.node);
  c->view.set_taken_unix_ms(unix_ms_now());
  std::vector<std::string> nodes{scope.node};
  nodes.insert(nodes.end(), scope.peers.begin(), scope.peers.end());
  for (const auto& name : nodes)
    c->view.add_nodes()->set_node(name);
  c->waiting = nodes.size() * (requests > 0 ? 2 : 1);
  async_call_options options;
  options.timeout = scope.deadline;
  // Each link's round trip as this node's agent measures it (its ping, beside the heartbeats).
  const auto& sources = rt->sources();
  if (sources.members)
    for (const auto& m : sources.members())
      for (auto& status : *c->view.mutable_nodes())
        if (status.node() == m.name)
          status.set_round_trip_seconds(std::chrono::duration<double>(m.round_trip).count());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto service = detail::observer_service_name(nodes[i]);
    auto began = std::chrono::steady_clock::now();
    caller.call(service, "Report", std::make_shared<pb::ReportRequest>(), options,
                [c, rt, i, began, node = nodes[i]](caf::expected<message_ptr> answer) {
                  auto elapsed =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
                  {
                    std::lock_guard<std::mutex> guard{c->mutex};
                    auto* status = c->view.mutable_nodes(static_cast<int>(i));
                    const auto* report =
                      answer ? dynamic_cast<const pb::NodeReport*>(answer->get()) : nullptr;
                    if (report != nullptr) {
                      status->set_up(true);
                      status->set_up_since_unix_ms(report->started_unix_ms());
                      status->set_report_seconds(std::max(0.0, elapsed - report->build_seconds()));
                      *status->mutable_report() = *report;
                      rt->seen(node, unix_ms_now());
                    } else {
                      status->set_up(false);
                      status->set_up_since_unix_ms(rt->last_seen(node));
                      status->set_error(answer ? std::string{"it answered something else"}
                                               : describe(answer.error()));
                    }
                  }
                  c->finish_one();
                });
    if (requests == 0)
      continue;
    auto ask = std::make_shared<pb::SpansRequest>();
    // The newest spans, enough for the requests asked (a request makes a few calls per node).
    ask->set_limit(std::min<std::uint32_t>(spans_per_node, requests * 32));
    caller.call(service, "Spans", std::move(ask), options, [c](caf::expected<message_ptr> answer) {
      {
        std::lock_guard<std::mutex> guard{c->mutex};
        const auto* reply = answer ? dynamic_cast<const pb::SpansReply*>(answer->get()) : nullptr;
        if (reply != nullptr) {
          for (const auto& s : reply->spans())
            c->spans.push_back(s);
          for (const auto& id : reply->forced())
            c->forced.insert(id);
        }
      }
      c->finish_one();
    });
  }
}

// The number in query parameter `name`, or `fallback` when absent.
caf::expected<std::uint32_t> count_value(std::string_view query, std::string_view name,
                                         std::uint32_t fallback, std::uint32_t most) {
  auto value = gateway::query_value(query, name);
  if (!value)
    return value.error();
  if (!*value)
    return fallback;
  const std::string& text = **value;
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n > most)
    return make_error(errc::invalid_argument,
                      fmt::format("query parameter {} is \"{}\": expected a whole number from 0 "
                                  "to {}",
                                  name, text, most));
  return n;
}

void child_action(const async_caller& caller, const observer_scope& scope,
                  const gateway::admin_request& req, const std::string& action,
                  done_function done) {
  const auto& id = req.request_id;
  auto node = gateway::query_value(req.query, "node");
  if (!node)
    return done(error_response(node.error(), id));
  auto child = gateway::query_value(req.query, "child");
  if (!child)
    return done(error_response(child.error(), id));
  if (!*child)
    return done(refuse(fmt::format("POST {}/children/{} needs ?child=GROUP/CHILD (and "
                                   "&node=NODE in a cluster)",
                                   observer_admin_path, action),
                       id));
  std::string target = node->value_or(scope.node);
  if (target != scope.node
      && std::find(scope.peers.begin(), scope.peers.end(), target) == scope.peers.end()) {
    std::vector<std::string> known{scope.node};
    known.insert(known.end(), scope.peers.begin(), scope.peers.end());
    return done(refuse(fmt::format("node \"{}\" is not a node of this system (its nodes: {})",
                                   target, fmt::join(known, ", ")),
                       id));
  }
  auto ask = std::make_shared<pb::ChildActionRequest>();
  std::string_view rest = **child;
  while (true) {
    auto slash = rest.find('/');
    ask->add_path(std::string{rest.substr(0, slash)});
    if (slash == std::string_view::npos)
      break;
    rest.remove_prefix(slash + 1);
  }
  ask->set_action(action);
  ask->set_requested_by(req.client.empty() ? std::string{"an admin client"}
                                           : fmt::format("the admin client at {}", req.client));
  async_call_options options;
  options.timeout = std::chrono::seconds(60);
  options.correlation_id = id;
  caller.call(detail::observer_service_name(target), "ChildAction", std::move(ask), options,
              [done = std::move(done), id](caf::expected<message_ptr> answer) {
                if (!answer)
                  return done(error_response(answer.error(), id));
                done({200, to_json(**answer)});
              });
}

} // namespace

gateway::admin_operation
observer_admin_operation(node& host_node, std::shared_ptr<detail::observer_runtime> runtime) {
  async_caller caller{host_node, "observer.admin"};
  auto scope = scope_of(*runtime);
  return [caller, runtime = std::move(runtime),
          scope = std::move(scope)](gateway::admin_request req, done_function done) {
    const auto& id = req.request_id;
    std::string_view rest = req.path;
    rest.remove_prefix(std::min(rest.size(), observer_admin_path.size()));
    if (rest.empty() || rest == "/") {
      if (req.verb != "GET")
        return done(refuse(
          fmt::format("{} takes GET (the system view), not {}", observer_admin_path, req.verb),
          id));
      auto requests = count_value(req.query, "requests", default_requests, max_requests);
      if (!requests)
        return done(error_response(requests.error(), id));
      collect(caller, runtime, scope, *requests, [done](pb::SystemView view) {
        done({200, to_json(view)});
      });
      return;
    }
    for (const char* action : {"restart", "stop"}) {
      if (rest == fmt::format("/children/{}", action)) {
        if (req.verb != "POST")
          return done(refuse(
            fmt::format("{}{} takes POST, not {}", observer_admin_path, rest, req.verb), id));
        return child_action(caller, scope, req, action, std::move(done));
      }
    }
    done(error_response(
      make_error(errc::not_found, fmt::format("no observer operation at {} {} (GET {}; POST "
                                              "{}/children/restart or {}/children/stop)",
                                              req.verb, req.path, observer_admin_path,
                                              observer_admin_path, observer_admin_path)),
      id));
  };
}

gateway::metrics_renderer
observer_metrics_renderer(node& host_node, std::shared_ptr<detail::observer_runtime> runtime) {
  async_caller caller{host_node, "observer.metrics"};
  auto scope = scope_of(*runtime);
  return [caller, runtime = std::move(runtime),
          scope = std::move(scope)](std::string query, std::function<void(std::string)> done) {
    auto nodes = gateway::query_value(query, "nodes");
    if (!nodes)
      return done(fmt::format("# {}\n", one_line(message_of(nodes.error()))));
    bool all = nodes->has_value() && **nodes == "all";
    if (nodes->has_value() && !all)
      return done(fmt::format("# query parameter nodes is \"{}\": expected all (or no "
                              "parameter, for this node)\n",
                              one_line(**nodes)));
    observer_scope asked = scope;
    if (!all)
      asked.peers.clear();
    collect(caller, runtime, asked, 0, [done = std::move(done)](pb::SystemView view) {
      std::vector<pb::NodeReport> reports;
      std::string missing;
      for (const auto& n : view.nodes()) {
        if (n.up())
          reports.push_back(n.report());
        else
          missing += fmt::format("# node {} did not answer: {}\n", n.node(), one_line(n.error()));
      }
      done(missing + observer::prometheus_text(reports));
    });
  };
}

} // namespace microlith
