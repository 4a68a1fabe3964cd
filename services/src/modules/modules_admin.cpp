#include "microlith/services/modules_admin.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/net/gateway/http_binding.hpp"
#include "microlith/services/code_server.hpp"

#include <fmt/format.h>

#include <chrono>
#include <optional>

namespace microlith {

namespace {

using gateway::json_quote;

std::string module_json(const module_status& s) {
  const auto& m = s.installed;
  return fmt::format("{{\"name\":{},\"version\":{},\"sha256\":{},\"active\":{},"
                     "\"route_prefix\":{},\"node\":{},\"installed_at\":{},\"loaded\":{},"
                     "\"problem\":{}}}",
                     json_quote(m.name), json_quote(m.version), json_quote(m.sha256),
                     m.active ? "true" : "false", json_quote(m.route_prefix), json_quote(m.node),
                     m.installed_at, s.loaded ? "true" : "false", json_quote(s.problem));
}

std::string describe_status(const module_status& s) {
  const auto& m = s.installed;
  std::string what = fmt::format("{} {} (sha256 {})", m.name, m.version, m.sha256);
  if (s.loaded)
    what += ", active";
  else if (m.active)
    what += ", active but not loaded: " + s.problem;
  else
    what += ", installed, not active";
  if (!m.route_prefix.empty())
    what += ", served under " + m.route_prefix;
  if (m.active && !m.node.empty())
    what += ", its groups run on node " + m.node;
  return what;
}

gateway::admin_response error_response(const caf::error& err, const std::string& request_id) {
  return {gateway::status_of(err),
          gateway::error_body(gateway::error_name(err), message_of(err), request_id)};
}

gateway::admin_response refuse(errc kind, std::string message, const std::string& request_id) {
  return error_response(make_error(kind, std::move(message)), request_id);
}

// The value of query parameter `name`, or nothing; an error for a malformed query.
caf::expected<std::optional<std::string>> query_value(std::string_view query,
                                                      std::string_view name) {
  auto params = gateway::parse_query(query);
  if (!params)
    return params.error();
  for (auto& p : *params)
    if (p.name == name)
      return std::optional<std::string>{std::move(p.value)};
  return std::optional<std::string>{};
}

caf::expected<bool> flag_value(std::string_view query, std::string_view name) {
  auto value = query_value(query, name);
  if (!value)
    return value.error();
  if (!*value || **value == "false" || **value == "0")
    return false;
  if (**value == "true" || **value == "1" || (*value)->empty())
    return true;
  return make_error(
    errc::invalid_argument,
    fmt::format("query parameter {} is \"{}\": expected true or false", name, **value));
}

gateway::admin_response run(code_server& modules, const gateway::admin_request& req) {
  const auto& id = req.request_id;
  std::string_view rest{req.path};
  rest.remove_prefix(std::min(rest.size(), modules_admin_path.size()));
  if (rest.empty() || rest == "/") {
    if (req.verb == "GET") {
      std::string body = "{\"modules\":[";
      bool first = true;
      for (const auto& s : modules.list()) {
        body += first ? "" : ",";
        body += module_json(s);
        first = false;
      }
      return {200, body + "]}"};
    }
    if (req.verb == "POST") {
      install_options options;
      auto prefix = query_value(req.query, "route_prefix");
      if (!prefix)
        return error_response(prefix.error(), id);
      options.route_prefix = prefix->value_or("");
      auto activate = flag_value(req.query, "activate");
      if (!activate)
        return error_response(activate.error(), id);
      options.activate = *activate;
      auto node = query_value(req.query, "node");
      if (!node)
        return error_response(node.error(), id);
      options.node = node->value_or("");
      if (req.body.empty())
        return refuse(errc::invalid_argument,
                      "the request body must be the module archive (.mlm), and it is empty", id);
      auto installed = modules.install(req.body, options);
      if (!installed)
        return error_response(installed.error(), id);
      return {200, fmt::format("{{\"installed\":{},\"message\":{}}}", module_json(*installed),
                               json_quote("installed " + describe_status(*installed)))};
    }
    return refuse(
      errc::invalid_argument,
      fmt::format("{} takes GET (list) or POST (install), not {}", modules_admin_path, req.verb),
      id);
  }
  // /NAME or /NAME/activate
  rest.remove_prefix(1);
  auto slash = rest.find('/');
  auto encoded_name = rest.substr(0, slash);
  auto action = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  auto name = gateway::percent_decode(encoded_name, false);
  if (!name || name->empty())
    return refuse(errc::invalid_argument,
                  fmt::format("{}: expected {}/NAME or {}/NAME/activate", req.path,
                              modules_admin_path, modules_admin_path),
                  id);
  if (action.empty() && req.verb == "DELETE") {
    if (auto err = modules.remove(*name))
      return error_response(err, id);
    return {200, fmt::format("{{\"removed\":{},\"message\":{}}}", json_quote(*name),
                             json_quote(fmt::format("removed {}: its routes and groups stopped, "
                                                    "every installed version deleted",
                                                    *name)))};
  }
  if (action == "activate" && req.verb == "POST") {
    auto version = query_value(req.query, "version");
    if (!version)
      return error_response(version.error(), id);
    if (!*version || (*version)->empty())
      return refuse(errc::invalid_argument,
                    fmt::format("activating {} needs the version: ?version=1.2.0", *name), id);
    auto node = query_value(req.query, "node");
    if (!node)
      return error_response(node.error(), id);
    auto activated = modules.activate(*name, **version, node->value_or(""));
    if (!activated)
      return error_response(activated.error(), id);
    return {200, fmt::format("{{\"activated\":{},\"message\":{}}}", module_json(*activated),
                             json_quote("activated " + describe_status(*activated)))};
  }
  return refuse(errc::invalid_argument,
                fmt::format("{} {}: expected DELETE {}/NAME or POST {}/NAME/activate?version=V",
                            req.verb, req.path, modules_admin_path, modules_admin_path),
                id);
}

} // namespace

gateway::admin_operation modules_admin_operation(code_server& modules) {
  return [&modules](gateway::admin_request req, std::function<void(gateway::admin_response)> done) {
    modules.post([&modules, req = std::move(req), done = std::move(done)] {
      gateway::admin_response answer;
      try {
        answer = run(modules, req);
      } catch (const std::exception& e) {
        answer = refuse(errc::internal, e.what(), req.request_id);
      }
      done(std::move(answer));
    });
  };
}

} // namespace microlith
