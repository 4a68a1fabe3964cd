#include "microlith/net/gateway/route_table.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/actors/registry.hpp"

#include <google/protobuf/descriptor.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <set>

namespace microlith::gateway {

namespace {

namespace pb = google::protobuf;

constexpr std::array<std::string_view, 6> verbs{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"};

bool is_param(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

std::string_view param_name(std::string_view segment) {
  return segment.substr(1, segment.size() - 2);
}

bool is_identifier(std::string_view name) {
  if (name.empty() || !(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_'))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// Splits "/a/b" into {"a", "b"}; "/" into {}; "/a/" into {"a", ""}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.size() <= 1)
    return out;
  std::size_t start = 1;
  while (true) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

// Checks a pattern's syntax; an empty string when it is fine.
std::string check_pattern(std::string_view pattern) {
  if (pattern.empty() || pattern.front() != '/')
    return fmt::format("the path \"{}\" must start with '/'", pattern);
  if (pattern.find_first_of("?#") != std::string_view::npos)
    return fmt::format("the path \"{}\" must not contain '?' or '#' (query parameters bind "
                       "by name, without being declared)",
                       pattern);
  std::set<std::string_view> names;
  for (auto segment : split_path(pattern)) {
    if (segment.empty())
      return fmt::format("the path \"{}\" has an empty segment (\"//\" or a trailing '/')",
                         pattern);
    if (is_param(segment)) {
      auto name = param_name(segment);
      if (!is_identifier(name))
        return fmt::format("the path parameter \"{}\" in \"{}\" must be a field name (letters, "
                           "digits, '_')",
                           segment, pattern);
      if (!names.insert(name).second)
        return fmt::format("the path \"{}\" names the parameter {{{}}} twice", pattern, name);
    } else if (segment.find_first_of("{}") != std::string_view::npos) {
      return fmt::format("the segment \"{}\" in \"{}\" must be literal text or one whole "
                         "{{parameter}}",
                         segment, pattern);
    }
  }
  return {};
}

// Orders patterns most specific first: at the first differing segment kind, literal first.
// Patterns of different lengths never match the same path, so length only groups them.
bool more_specific(const route& a, const route& b) {
  if (a.segments.size() != b.segments.size())
    return a.segments.size() < b.segments.size();
  for (std::size_t i = 0; i < a.segments.size(); ++i) {
    bool pa = is_param(a.segments[i]);
    bool pb = is_param(b.segments[i]);
    if (pa != pb)
      return !pa;
  }
  return false;
}

// Two patterns match exactly the same paths when they have the same shape and literals.
bool same_paths(const route& a, const route& b) {
  if (a.segments.size() != b.segments.size())
    return false;
  for (std::size_t i = 0; i < a.segments.size(); ++i) {
    bool pa = is_param(a.segments[i]);
    bool pb = is_param(b.segments[i]);
    if (pa != pb || (!pa && a.segments[i] != b.segments[i]))
      return false;
  }
  return true;
}

bool segments_match(const std::vector<std::string>& pattern,
                    const std::vector<std::string_view>& path) {
  if (pattern.size() != path.size())
    return false;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (is_param(pattern[i])) {
      if (path[i].empty())
        return false;
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

bool bindable(const pb::FieldDescriptor& field) {
  return !field.is_repeated() && field.cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE;
}

} // namespace

std::string route_spec::to_string() const {
  if (status != 200)
    return fmt::format("{} {} -> {}.{} {}", verb, pattern, service, method, status);
  return fmt::format("{} {} -> {}.{}", verb, pattern, service, method);
}

std::string route_spec::to_string_with_origin() const {
  return origin.empty() ? to_string() : fmt::format("{} ({})", to_string(), origin);
}

caf::expected<route_spec> parse_route(std::string_view key, std::string_view target) {
  auto space = key.find(' ');
  if (space == std::string_view::npos)
    return make_error(errc::bad_request,
                      fmt::format("route \"{}\": expected \"VERB /path\", such as \"POST "
                                  "/accounts/{{account_id}}/deposit\"",
                                  key));
  route_spec spec;
  spec.verb = std::string(key.substr(0, space));
  auto rest = key.substr(space + 1);
  while (!rest.empty() && rest.front() == ' ')
    rest.remove_prefix(1);
  spec.pattern = std::string(rest);
  if (std::find(verbs.begin(), verbs.end(), spec.verb) == verbs.end())
    return make_error(errc::bad_request,
                      fmt::format("route \"{}\": expected a verb GET, HEAD, POST, PUT, PATCH or "
                                  "DELETE, got \"{}\"",
                                  key, spec.verb));
  if (auto why = check_pattern(spec.pattern); !why.empty())
    return make_error(errc::bad_request, fmt::format("route \"{}\": {}", key, why));
  // "service.Method 202": the status of a successful answer after the method.
  if (auto space_at = target.find(' '); space_at != std::string_view::npos) {
    auto status = target.substr(space_at + 1);
    while (!status.empty() && status.front() == ' ')
      status.remove_prefix(1);
    if (status != "200" && status != "201" && status != "202")
      return make_error(errc::bad_request,
                        fmt::format("route \"{}\": expected \"service.Method\" or "
                                    "\"service.Method STATUS\" with STATUS 200, 201 or 202 (the "
                                    "status of a successful answer), got \"{}\"",
                                    key, target));
    spec.status = status == "200" ? 200u : status == "201" ? 201u : 202u;
    target = target.substr(0, space_at);
  }
  auto dot = target.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == target.size())
    return make_error(errc::bad_request,
                      fmt::format("route \"{}\": expected a target \"service.Method\", such as "
                                  "\"accounts.Deposit\", got \"{}\"",
                                  key, target));
  spec.service = std::string(target.substr(0, dot));
  spec.method = std::string(target.substr(dot + 1));
  if (!is_identifier(spec.method))
    return make_error(errc::bad_request,
                      fmt::format("route \"{}\": the method \"{}\" in \"{}\" is not a method name",
                                  key, spec.method, target));
  return spec;
}

contract_lookup registered_contracts(const service_registry& services) {
  return [registry = &services](const std::string& service) -> const pb::ServiceDescriptor* {
    auto contract = registry->contract_of(service);
    return contract.empty() ? nullptr
                            : pb::DescriptorPool::generated_pool()->FindServiceByName(contract);
  };
}

caf::expected<std::shared_ptr<const route_table>>
route_table::build(std::vector<route_spec> specs, const contract_lookup& contracts,
                   const std::vector<std::string>& reserved) {
  std::vector<std::string> problems;
  auto table = std::make_shared<route_table>();
  for (auto& spec : specs) {
    if (auto why = check_pattern(spec.pattern); !why.empty()) {
      problems.push_back(fmt::format("{}: {}", spec.to_string_with_origin(), why));
      continue;
    }
    if (std::find(verbs.begin(), verbs.end(), spec.verb) == verbs.end()) {
      problems.push_back(
        fmt::format("{}: unknown verb {}", spec.to_string_with_origin(), spec.verb));
      continue;
    }
    route r;
    for (auto segment : split_path(spec.pattern))
      r.segments.emplace_back(segment);
    bool clash = false;
    for (const auto& path : reserved) {
      if (path.size() > 1 && path.back() == '/') { // every path under it
        std::vector<std::string_view> parts =
          split_path(std::string_view(path).substr(0, path.size() - 1));
        if (r.segments.size() > parts.size()
            && segments_match(
              {r.segments.begin(), r.segments.begin() + static_cast<std::ptrdiff_t>(parts.size())},
              parts)) {
          problems.push_back(fmt::format("{}: lies under {}, which the gateway serves itself",
                                         spec.to_string_with_origin(), path));
          clash = true;
        }
        continue;
      }
      std::vector<std::string_view> parts = split_path(path);
      if (segments_match(r.segments, parts)) {
        problems.push_back(fmt::format("{}: matches {}, which the gateway serves itself",
                                       spec.to_string_with_origin(), path));
        clash = true;
      }
    }
    if (clash)
      continue;
    const auto* contract = contracts ? contracts(spec.service) : nullptr;
    if (contract == nullptr) {
      problems.push_back(fmt::format("{}: no service named \"{}\" is known (is its group running, "
                                     "and does the gateway's group need it?)",
                                     spec.to_string_with_origin(), spec.service));
      continue;
    }
    r.method = contract->FindMethodByName(spec.method);
    if (r.method == nullptr) {
      std::vector<std::string> known;
      for (int i = 0; i < contract->method_count(); ++i)
        known.push_back(contract->method(i)->name());
      problems.push_back(fmt::format("{}: {} (the contract of {}) has no method {}; it has: {}",
                                     spec.to_string_with_origin(), contract->full_name(),
                                     spec.service, spec.method, fmt::join(known, ", ")));
      continue;
    }
    r.request_type = r.method->input_type();
    bool params_ok = true;
    for (const auto& segment : r.segments) {
      if (!is_param(segment))
        continue;
      auto name = std::string(param_name(segment));
      const auto* field = r.request_type->FindFieldByName(name);
      if (field == nullptr) {
        problems.push_back(fmt::format("{}: the path parameter {{{}}} is not a field of {}",
                                       spec.to_string_with_origin(), name,
                                       r.request_type->full_name()));
        params_ok = false;
      } else if (!bindable(*field)) {
        problems.push_back(fmt::format("{}: the path parameter {{{}}} names a {} field of {}; "
                                       "only singular scalar fields can be bound",
                                       spec.to_string_with_origin(), name,
                                       field->is_repeated() ? "repeated" : "message",
                                       r.request_type->full_name()));
        params_ok = false;
      }
    }
    if (!params_ok)
      continue;
    for (const auto& other : table->routes_)
      if (other.spec.verb == spec.verb && same_paths(other, r)) {
        problems.push_back(fmt::format("{}: matches the same requests as {}",
                                       spec.to_string_with_origin(),
                                       other.spec.to_string_with_origin()));
        clash = true;
      }
    if (clash)
      continue;
    r.spec = std::move(spec);
    table->routes_.push_back(std::move(r));
  }
  if (!problems.empty())
    return make_error(errc::bad_request, fmt::format("{}", fmt::join(problems, "\n")));
  std::stable_sort(table->routes_.begin(), table->routes_.end(), more_specific);
  return std::shared_ptr<const route_table>{std::move(table)};
}

route_match route_table::match(std::string_view verb, std::string_view path) const {
  route_match out;
  auto parts = split_path(path);
  std::vector<std::string_view> allowed;
  for (const auto& r : routes_) {
    if (!segments_match(r.segments, parts))
      continue;
    if (r.spec.verb != verb) {
      if (std::find(allowed.begin(), allowed.end(), r.spec.verb) == allowed.end())
        allowed.push_back(r.spec.verb);
      continue;
    }
    // Routes are ordered most specific first: the first match with this verb is the best.
    out.result = route_match::outcome::found;
    out.target = &r;
    for (std::size_t i = 0; i < r.segments.size(); ++i) {
      if (!is_param(r.segments[i]))
        continue;
      auto decoded = percent_decode(parts[i], false);
      if (!decoded) {
        out.decode_error = fmt::format("path parameter {}: {}", param_name(r.segments[i]),
                                       message_of(decoded.error()));
        out.decode_field = std::string(param_name(r.segments[i]));
        decoded = std::string(parts[i]);
      }
      out.path_params.push_back(param{std::string(param_name(r.segments[i])), *decoded});
    }
    return out;
  }
  if (!allowed.empty()) {
    out.result = route_match::outcome::wrong_verb;
    out.allow = fmt::format("{}", fmt::join(allowed, ", "));
  }
  return out;
}

std::uint64_t route_table::fresh_id() noexcept {
  static std::atomic<std::uint64_t> last{0};
  return ++last;
}

route_switch::route_switch() : current_(std::make_shared<const route_table>()) {}

std::shared_ptr<const route_table> route_switch::current() const {
  return std::atomic_load(&current_);
}

std::uint64_t route_switch::install(std::shared_ptr<const route_table> table) {
  if (!table) // current() is never null: no table is an empty one
    table = std::make_shared<const route_table>();
  std::atomic_store(&current_, std::move(table));
  return generation_.fetch_add(1) + 1;
}

caf::expected<std::uint64_t>
route_switch::build_and_install(std::vector<route_spec> specs, const contract_lookup& contracts,
                                const std::vector<std::string>& reserved) {
  auto table = route_table::build(std::move(specs), contracts, reserved);
  if (!table)
    return std::move(table.error());
  return install(std::move(*table));
}

} // namespace microlith::gateway
