#include "microlith/services/jobs_admin.hpp"

#include "microlith/actors/async_caller.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/net/gateway/http_binding.hpp"
#include "proto/microlith_jobs.pb.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <charconv>
#include <memory>
#include <optional>

namespace microlith {

namespace {

namespace pb = microlith::jobs::v1;
using done_function = std::function<void(gateway::admin_response)>;

gateway::admin_response error_response(const caf::error& err, const std::string& request_id) {
  return {gateway::status_of(err),
          gateway::error_body(gateway::error_name(err), message_of(err), request_id)};
}

gateway::admin_response refuse(std::string message, const std::string& request_id) {
  return error_response(make_error(errc::invalid_argument, std::move(message)), request_id);
}

// A whole number >= 0 from query parameter `name`, or nothing when absent.
caf::expected<std::optional<std::int64_t>> number_value(std::string_view query,
                                                        std::string_view name) {
  auto value = gateway::query_value(query, name);
  if (!value)
    return value.error();
  if (!*value)
    return std::optional<std::int64_t>{};
  const std::string& text = **value;
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n < 0)
    return make_error(
      errc::invalid_argument,
      fmt::format("query parameter {} is \"{}\": expected a whole number", name, text));
  return std::optional<std::int64_t>{n};
}

// Calls the jobs service and answers the JSON of its reply.
void call(async_caller caller, const std::string& method,
          std::shared_ptr<google::protobuf::Message> body, const std::string& request_id,
          done_function done) {
  async_call_options options;
  options.timeout = std::chrono::seconds(30);
  options.correlation_id = request_id;
  caller.call("jobs", method, std::move(body), options,
              [done = std::move(done), request_id](caf::expected<message_ptr> answer) {
                if (!answer) {
                  done(error_response(answer.error(), request_id));
                  return;
                }
                std::string json;
                google::protobuf::util::JsonPrintOptions print;
                print.preserve_proto_field_names = true;
                print.always_print_primitive_fields = true;
                (void)google::protobuf::util::MessageToJsonString(**answer, &json, print);
                done({200, std::move(json)});
              });
}

void enqueue(const async_caller& caller, const gateway::admin_request& req, done_function done) {
  const auto& id = req.request_id;
  auto r = std::make_shared<pb::EnqueueRequest>();
  auto queue = gateway::query_value(req.query, "queue");
  if (!queue)
    return done(error_response(queue.error(), id));
  auto type = gateway::query_value(req.query, "type");
  if (!type)
    return done(error_response(type.error(), id));
  if (!*queue || !*type)
    return done(refuse(
      fmt::format("POST {}/enqueue needs ?queue=QUEUE&type=MESSAGE_TYPE", jobs_admin_path), id));
  const auto* desc =
    google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(**type);
  if (desc == nullptr)
    return done(refuse(fmt::format("message type {} is not known to this node", **type), id));
  std::unique_ptr<google::protobuf::Message> message{
    google::protobuf::MessageFactory::generated_factory()->GetPrototype(desc)->New()};
  auto parsed =
    google::protobuf::util::JsonStringToMessage(req.body.empty() ? "{}" : req.body, message.get());
  if (!parsed.ok())
    return done(refuse(
      fmt::format("the body is not a {} in JSON: {}", **type, std::string{parsed.message()}), id));
  r->set_queue(**queue);
  r->set_message_type(**type);
  message->SerializeToString(r->mutable_message());
  auto key = gateway::query_value(req.query, "unique_key");
  if (!key)
    return done(error_response(key.error(), id));
  r->set_unique_key(key->value_or(""));
  for (auto [name, set] : {std::pair<const char*, void (pb::EnqueueRequest::*)(std::int64_t)>{
                             "unique_period_ms", &pb::EnqueueRequest::set_unique_period_ms},
                           {"delay_ms", &pb::EnqueueRequest::set_delay_ms},
                           {"timeout_ms", &pb::EnqueueRequest::set_timeout_ms}}) {
    auto n = number_value(req.query, name);
    if (!n)
      return done(error_response(n.error(), id));
    if (*n)
      ((*r).*set)(**n);
  }
  auto attempts = number_value(req.query, "max_attempts");
  if (!attempts)
    return done(error_response(attempts.error(), id));
  if (*attempts)
    r->set_max_attempts(static_cast<std::int32_t>(std::min<std::int64_t>(**attempts, 1000000)));
  call(caller, "Enqueue", std::move(r), id, std::move(done));
}

void run(const async_caller& caller, const gateway::admin_request& req, done_function done) {
  const auto& id = req.request_id;
  std::string_view rest{req.path};
  rest.remove_prefix(std::min(rest.size(), jobs_admin_path.size()));
  if (rest.empty() || rest == "/") {
    if (req.verb != "GET")
      return done(
        refuse(fmt::format("{} takes GET (stats), not {}", jobs_admin_path, req.verb), id));
    return call(caller, "Stats", std::make_shared<pb::StatsRequest>(), id, std::move(done));
  }
  rest.remove_prefix(1);
  if (rest == "list") {
    if (req.verb != "GET")
      return done(refuse(fmt::format("{}/list takes GET, not {}", jobs_admin_path, req.verb), id));
    auto r = std::make_shared<pb::ListRequest>();
    auto queue = gateway::query_value(req.query, "queue");
    if (!queue)
      return done(error_response(queue.error(), id));
    auto state = gateway::query_value(req.query, "state");
    if (!state)
      return done(error_response(state.error(), id));
    auto limit = number_value(req.query, "limit");
    if (!limit)
      return done(error_response(limit.error(), id));
    r->set_queue(queue->value_or(""));
    r->set_state(state->value_or(""));
    if (*limit)
      r->set_limit(static_cast<std::uint32_t>(std::min<std::int64_t>(**limit, 100000)));
    return call(caller, "List", std::move(r), id, std::move(done));
  }
  if (rest == "enqueue") {
    if (req.verb != "POST")
      return done(
        refuse(fmt::format("{}/enqueue takes POST, not {}", jobs_admin_path, req.verb), id));
    return enqueue(caller, req, std::move(done));
  }
  auto slash = rest.find('/');
  auto number = rest.substr(0, slash);
  auto action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  std::int64_t job = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), job);
  if (ec != std::errc{} || end != number.data() + number.size() || job <= 0
      || (action != "retry" && action != "cancel") || req.verb != "POST")
    return done(refuse(fmt::format("{} {}: expected GET {}, GET {}/list, POST {}/ID/retry, POST "
                                   "{}/ID/cancel or POST {}/enqueue",
                                   req.verb, req.path, jobs_admin_path, jobs_admin_path,
                                   jobs_admin_path, jobs_admin_path, jobs_admin_path),
                       id));
  auto r = std::make_shared<pb::JobRequest>();
  r->set_id(job);
  return call(caller, action == "retry" ? "Retry" : "Cancel", std::move(r), id, std::move(done));
}

} // namespace

gateway::admin_operation jobs_admin_operation(node& host_node) {
  async_caller caller{host_node, "admin"};
  return [caller](gateway::admin_request req, done_function done) {
    try {
      run(caller, req, done);
    } catch (const std::exception& e) {
      done(error_response(make_error(errc::internal, e.what()), req.request_id));
    }
  };
}

} // namespace microlith
