// Route templates (net/src/gateway/route_table.cpp): up to four routes, one per line, each a key
// and a target separated by a tab ("POST /accounts/{id}/deposit\tbinder.Bind"). A route that
// parses prints as what it parsed from and parses again to itself; a set of routes either builds
// a table (checked against the contracts, the reserved paths and each other) or is refused with
// a message; in a table, a path made from each route's pattern (each parameter given a value)
// is served by a route with that verb, by that route itself when it is the only one.
#include "fuzz_target.hpp"
#include "gateway_contracts.hpp"

#include <microlith/actors/error.hpp>

#include <fmt/format.h>

#include <string>
#include <vector>

namespace {

constexpr const char* target = "route_template";

bool same(const microlith::gateway::route_spec& a, const microlith::gateway::route_spec& b) {
  return a.verb == b.verb && a.pattern == b.pattern && a.service == b.service
         && a.method == b.method && a.status == b.status;
}

// The route's pattern with every parameter segment given the value "v".
std::string path_of(const microlith::gateway::route& r) {
  std::string path;
  for (const auto& segment : r.segments)
    path += "/" + (!segment.empty() && segment.front() == '{' ? std::string{"v"} : segment);
  return path.empty() ? "/" : path;
}

} // namespace

MICROLITH_FUZZ_TARGET(route_template) {
  namespace gw = microlith::gateway;
  auto text = microlith::fuzz::as_text(data, size);
  std::vector<gw::route_spec> specs;
  for (std::size_t line = 0; line < 4 && !text.empty(); ++line) {
    auto end = text.find('\n');
    auto row = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    auto tab = row.find('\t');
    auto key = row.substr(0, tab);
    auto route_target =
      tab == std::string_view::npos ? std::string_view{"binder.Bind"} : row.substr(tab + 1);
    auto spec = gw::parse_route(key, route_target);
    if (!spec) {
      MICROLITH_FUZZ_CHECK(target, !microlith::message_of(spec.error()).empty(),
                           "a refused route without a message");
      continue;
    }
    auto written = spec->status == 200
                     ? fmt::format("{}.{}", spec->service, spec->method)
                     : fmt::format("{}.{} {}", spec->service, spec->method, spec->status);
    auto again = gw::parse_route(spec->verb + " " + spec->pattern, written);
    MICROLITH_FUZZ_CHECK(target, again && same(*spec, *again),
                         "a parsed route does not parse again from its parts to itself");
    spec->origin = fmt::format("line {}", line + 1);
    specs.push_back(std::move(*spec));
  }
  if (specs.empty())
    return 0;
  auto table = gw::route_table::build(specs, microlith::fuzz::fuzz_contracts(),
                                      microlith::fuzz::fuzz_reserved_paths());
  if (!table) {
    MICROLITH_FUZZ_CHECK(target, !microlith::message_of(table.error()).empty(),
                         "a refused table without a message");
    return 0;
  }
  const auto& routes = (*table)->routes();
  MICROLITH_FUZZ_CHECK(target, routes.size() == specs.size(), "a table lost or gained a route");
  for (const auto& r : routes) {
    auto m = (*table)->match(r.spec.verb, path_of(r));
    MICROLITH_FUZZ_CHECK(target, m.result == gw::route_match::outcome::found,
                         "a path made from a route's pattern is not served");
    if (routes.size() == 1)
      MICROLITH_FUZZ_CHECK(target, m.target == &r, "the only route does not serve its own path");
  }
  return 0;
}
