#include "modules_commands.hpp"

#include "admin_client.hpp"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace microlith::cli {

namespace {

namespace pb = google::protobuf;

constexpr std::string_view endpoint_hint =
  "its system serves no modules endpoint: the gateway group needs admin = true in its [http] "
  "table and a system that installs modules";

// The body parsed as a JSON object; nothing when it is not one.
std::optional<pb::Struct> json_object(const std::string& body) {
  pb::Struct out;
  if (!pb::util::JsonStringToMessage(body, &out).ok())
    return std::nullopt;
  return out;
}

const pb::Value* field(const pb::Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

std::string text(const pb::Struct& object, const std::string& name) {
  const auto* v = field(object, name);
  if (v == nullptr)
    return "";
  if (v->kind_case() == pb::Value::kStringValue)
    return v->string_value();
  if (v->kind_case() == pb::Value::kNumberValue)
    return fmt::format("{}", v->number_value());
  return "";
}

bool flag(const pb::Struct& object, const std::string& name) {
  const auto* v = field(object, name);
  return v != nullptr && v->kind_case() == pb::Value::kBoolValue && v->bool_value();
}

// The object field `name` of `object`; nothing when absent or not an object.
std::optional<pb::Struct> object_field(const pb::Struct& object, const std::string& name) {
  const auto* v = field(object, name);
  if (v == nullptr || v->kind_case() != pb::Value::kStructValue)
    return std::nullopt;
  return v->struct_value();
}

// "acme.statements 1.0.0 (sha256 ...), active, served under /clients/acme on node n1"
std::string describe(const pb::Struct& module) {
  auto out = fmt::format("{} {}", text(module, "name"), text(module, "version"));
  if (auto sha = text(module, "sha256"); !sha.empty())
    out += fmt::format(" (sha256 {})", sha);
  out += flag(module, "active") ? ", active" : ", not active";
  if (auto prefix = text(module, "route_prefix"); !prefix.empty())
    out += fmt::format(", served under {}", prefix);
  if (auto node = text(module, "node"); !node.empty())
    out += fmt::format(" on node {}", node);
  return out;
}

// Sends `call`; answers the JSON object of a 200, or prints why not and answers nothing, with
// `code` the exit code (1 refused or unreachable, 2 malformed URL).
std::optional<pb::Struct> run(std::string_view command, const std::string& url, admin_call call,
                              int& code) {
  auto where = parse_gateway_url(url);
  if (!where) {
    fmt::print(stderr,
               "{}: expected the gateway's URL such as http://127.0.0.1:8080 or https://HOST:PORT, "
               "got \"{}\"\n",
               command, url);
    code = 2;
    return std::nullopt;
  }
  code = 1;
  admin_answer answer;
  try {
    answer = send_admin_request(*where, call);
  } catch (const std::exception& e) {
    fmt::print(stderr, "{}: cannot reach {}: {}\n", command, url, e.what());
    return std::nullopt;
  }
  if (answer.status != 200) {
    explain_failure(command, url, answer, endpoint_hint);
    return std::nullopt;
  }
  auto object = json_object(answer.body);
  if (!object) {
    fmt::print(stderr, "{}: {} answered 200 with a body that is not a JSON object: {}\n", command,
               url, answer.body);
    return std::nullopt;
  }
  code = 0;
  return object;
}

// Prints the server's "message" of `answer` when it has one.
void print_message(const pb::Struct& answer) {
  if (auto message = text(answer, "message"); !message.empty())
    fmt::print("{}\n", message);
}

} // namespace

int install_module(const std::string& url, const std::string& archive,
                   const install_options& options) {
  constexpr std::string_view command = "microlith modules install";
  if (!parse_gateway_url(url)) {
    fmt::print(stderr,
               "{}: expected the gateway's URL such as http://127.0.0.1:8080 or https://HOST:PORT, "
               "got \"{}\"\n",
               command, url);
    return 2;
  }
  std::ifstream in{archive, std::ios::binary};
  std::ostringstream bytes;
  if (in)
    bytes << in.rdbuf();
  if (!in || in.bad()) {
    fmt::print(stderr, "{}: cannot read the module archive {}: {}\n", command, archive,
               std::strerror(errno));
    return 2;
  }
  admin_call call;
  call.target = "/_microlith/modules";
  std::vector<std::string> query;
  if (!options.route_prefix.empty())
    query.push_back("route_prefix=" + url_encode(options.route_prefix));
  if (options.activate)
    query.emplace_back("activate=true");
  if (!options.node.empty())
    query.push_back("node=" + url_encode(options.node));
  for (std::size_t i = 0; i < query.size(); ++i)
    call.target += (i == 0 ? "?" : "&") + query[i];
  call.body = bytes.str();
  if (call.body.empty()) {
    fmt::print(stderr, "{}: the module archive {} is empty\n", command, archive);
    return 2;
  }
  call.content_type = "application/octet-stream";
  call.limit = std::chrono::seconds{120}; // up to 64 MiB, then verified and loaded
  int code = 0;
  auto answer = run(command, url, std::move(call), code);
  if (!answer)
    return code;
  auto installed = object_field(*answer, "installed");
  fmt::print("installed {}\n", installed ? describe(*installed) : "(the answer names no module)");
  print_message(*answer);
  return 0;
}

int list_installed_modules(const std::string& url) {
  admin_call call;
  call.verb = "GET";
  call.target = "/_microlith/modules";
  int code = 0;
  auto answer = run("microlith modules list", url, std::move(call), code);
  if (!answer)
    return code;
  const auto* list = field(*answer, "modules");
  if (list == nullptr || list->kind_case() != pb::Value::kListValue
      || list->list_value().values_size() == 0) {
    fmt::print("no modules installed\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "VERSION", "ACTIVE", "LOADED", "ROUTE PREFIX",
                                              "NODE", "INSTALLED AT", "SHA256", "PROBLEM"}};
  for (const auto& v : list->list_value().values()) {
    if (v.kind_case() != pb::Value::kStructValue)
      continue;
    const auto& m = v.struct_value();
    auto sha = text(m, "sha256");
    rows.push_back({text(m, "name"), text(m, "version"), flag(m, "active") ? "yes" : "no",
                    flag(m, "loaded") ? "yes" : "no", text(m, "route_prefix"), text(m, "node"),
                    text(m, "installed_at"), sha.substr(0, 12), text(m, "problem")});
  }
  std::vector<std::size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i)
      line += i + 1 == row.size() ? row[i] : fmt::format("{:<{}}  ", row[i], widths[i]);
    while (!line.empty() && line.back() == ' ')
      line.pop_back();
    fmt::print("{}\n", line);
  }
  return 0;
}

int activate_module(const std::string& url, const std::string& name, const std::string& version,
                    const std::string& node) {
  admin_call call;
  call.target = fmt::format("/_microlith/modules/{}/activate?version={}", url_encode(name),
                            url_encode(version));
  if (!node.empty())
    call.target += "&node=" + url_encode(node);
  int code = 0;
  auto answer = run("microlith modules activate", url, std::move(call), code);
  if (!answer)
    return code;
  auto activated = object_field(*answer, "activated");
  fmt::print("activated {}\n",
             activated ? describe(*activated) : fmt::format("{} {}", name, version));
  print_message(*answer);
  return 0;
}

int remove_module(const std::string& url, const std::string& name) {
  admin_call call;
  call.verb = "DELETE";
  call.target = "/_microlith/modules/" + url_encode(name);
  int code = 0;
  auto answer = run("microlith modules remove", url, std::move(call), code);
  if (!answer)
    return code;
  auto removed = text(*answer, "removed");
  fmt::print("removed {}\n", removed.empty() ? name : removed);
  print_message(*answer);
  return 0;
}

} // namespace microlith::cli
