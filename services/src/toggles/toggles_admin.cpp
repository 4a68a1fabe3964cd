#include "microlith/services/toggles_admin.hpp"

#include "microlith/actors/async_caller.hpp"
#include "microlith/actors/error.hpp"
#include "microlith/net/gateway/http_binding.hpp"
#include "proto/microlith_toggles.pb.h"
#include "toggles/toggle_board.hpp"

#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <charconv>
#include <memory>
#include <optional>

namespace microlith {

namespace {

namespace pb = microlith::toggles::v1;
using done_function = std::function<void(gateway::admin_response)>;

gateway::admin_response error_response(const caf::error& err, const std::string& request_id) {
  return {gateway::status_of(err),
          gateway::error_body(gateway::error_name(err), message_of(err), request_id)};
}

gateway::admin_response refuse(std::string message, const std::string& request_id) {
  return error_response(make_error(errc::invalid_argument, std::move(message)), request_id);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= text.size() && !text.empty()) {
    auto comma = text.find(',', from);
    auto part = text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
    if (!part.empty())
      out.push_back(std::move(part));
    if (comma == std::string::npos)
      break;
    from = comma + 1;
  }
  return out;
}

caf::expected<std::optional<std::uint32_t>> percent_value(std::string_view query,
                                                          std::string_view name) {
  auto value = gateway::query_value(query, name);
  if (!value)
    return value.error();
  if (!*value)
    return std::optional<std::uint32_t>{};
  const std::string& text = **value;
  std::uint32_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n > 100)
    return make_error(errc::invalid_argument,
                      fmt::format("query parameter {} is \"{}\": expected a whole number from 0 "
                                  "to 100",
                                  name, text));
  return std::optional<std::uint32_t>{n};
}

// Calls the toggles service and answers the JSON of its reply.
void call(async_caller caller, const std::string& method,
          std::shared_ptr<google::protobuf::Message> body, const std::string& request_id,
          done_function done) {
  async_call_options options;
  options.timeout = std::chrono::seconds(30);
  options.correlation_id = request_id;
  caller.call("toggles", method, std::move(body), options,
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

void run(const async_caller& caller, const gateway::admin_request& req, done_function done) {
  const auto& id = req.request_id;
  std::string_view rest{req.path};
  rest.remove_prefix(std::min(rest.size(), toggles_admin_path.size()));
  if (rest.empty() || rest == "/") {
    if (req.verb != "GET")
      return done(
        refuse(fmt::format("{} takes GET (list), not {}", toggles_admin_path, req.verb), id));
    return call(caller, "List", std::make_shared<pb::ListRequest>(), id, std::move(done));
  }
  rest.remove_prefix(1);
  if (rest == "_history") {
    if (req.verb != "GET")
      return done(
        refuse(fmt::format("{}/_history takes GET, not {}", toggles_admin_path, req.verb), id));
    auto name = gateway::query_value(req.query, "name");
    if (!name)
      return done(error_response(name.error(), id));
    auto limit = gateway::query_value(req.query, "limit");
    if (!limit)
      return done(error_response(limit.error(), id));
    auto r = std::make_shared<pb::HistoryRequest>();
    r->set_name(name->value_or(""));
    if (*limit) {
      std::uint32_t n = 0;
      const auto& text = **limit;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc{} || end != text.data() + text.size())
        return done(refuse(
          fmt::format("query parameter limit is \"{}\": expected a whole number", text), id));
      r->set_limit(n);
    }
    return call(caller, "History", std::move(r), id, std::move(done));
  }
  if (rest.rfind("_groups/", 0) == 0) {
    auto group = gateway::percent_decode(rest.substr(8), false);
    if (!group || group->empty() || req.verb != "POST")
      return done(refuse(fmt::format("{} {}: expected POST {}/_groups/GROUP?keys=a,b", req.verb,
                                     req.path, toggles_admin_path),
                         id));
    auto keys = gateway::query_value(req.query, "keys");
    if (!keys)
      return done(error_response(keys.error(), id));
    auto r = std::make_shared<pb::SetGroupRequest>();
    r->set_group(*group);
    for (auto& k : split_list(keys->value_or("")))
      r->add_keys(std::move(k));
    return call(caller, "SetGroup", std::move(r), id, std::move(done));
  }
  auto name = gateway::percent_decode(rest, false);
  if (!name || name->empty() || name->find('/') != std::string::npos)
    return done(refuse(fmt::format("{}: expected {}/NAME", req.path, toggles_admin_path), id));
  if (req.verb == "GET") {
    auto r = std::make_shared<pb::GetRequest>();
    r->set_name(*name);
    return call(caller, "Get", std::move(r), id, std::move(done));
  }
  if (req.verb != "POST")
    return done(
      refuse(fmt::format("{}/NAME takes GET or POST, not {}", toggles_admin_path, req.verb), id));
  auto r = std::make_shared<pb::SetRequest>();
  r->set_name(*name);
  auto boolean = gateway::query_value(req.query, "boolean");
  if (!boolean)
    return done(error_response(boolean.error(), id));
  r->set_boolean(boolean->value_or(""));
  auto actors = gateway::query_value(req.query, "actors");
  if (!actors)
    return done(error_response(actors.error(), id));
  if (*actors) {
    r->set_set_actors(true);
    for (auto& k : split_list(**actors))
      r->add_actors(std::move(k));
  }
  auto groups = gateway::query_value(req.query, "groups");
  if (!groups)
    return done(error_response(groups.error(), id));
  if (*groups) {
    r->set_set_groups(true);
    for (auto& g : split_list(**groups))
      r->add_groups(std::move(g));
  }
  auto percent_actors = percent_value(req.query, "percent_actors");
  if (!percent_actors)
    return done(error_response(percent_actors.error(), id));
  if (*percent_actors) {
    r->set_set_percent_actors(true);
    r->set_percent_actors(**percent_actors);
  }
  auto percent_time = percent_value(req.query, "percent_time");
  if (!percent_time)
    return done(error_response(percent_time.error(), id));
  if (*percent_time) {
    r->set_set_percent_time(true);
    r->set_percent_time(**percent_time);
  }
  return call(caller, "Set", std::move(r), id, std::move(done));
}

} // namespace

gateway::admin_operation toggles_admin_operation(node& host_node) {
  async_caller caller{host_node, toggles_admin_caller};
  return [caller](gateway::admin_request req, done_function done) {
    try {
      run(caller, req, done);
    } catch (const std::exception& e) {
      done(error_response(make_error(errc::internal, e.what()), req.request_id));
    }
  };
}

} // namespace microlith
