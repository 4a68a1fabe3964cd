// check_system (host.hpp): what the parser cannot know about a system file.
#include "microlith/services/host.hpp"

#include "toggles/toggle_declarations.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

namespace microlith {

namespace {

// "module acme.statements declares a malformed route "GET statements" = "statements.Get": the
// path "statements" must start with '/'".
std::string malformed_route(const module_definition& m, const declared_route& r) {
  // parse_route's message names the route ("route \"KEY\": why"); this one names it already.
  std::string_view why = r.problem;
  const auto named = fmt::format("route \"{}\": ", r.key);
  if (why.substr(0, named.size()) == named)
    why.remove_prefix(named.size());
  return fmt::format("module {} declares a malformed route \"{}\" = \"{}\" in its code: {}",
                     m.name(), r.key, r.target, why);
}

} // namespace

std::vector<system_file_error> check_system(const system_config& config,
                                            const module_catalogue& catalogue) {
  std::vector<system_file_error> errors;
  auto add = [&](int line, std::string key, std::string message) {
    errors.push_back(system_file_error{config.path, line, 0, std::move(key), std::move(message)});
  };
  for (const auto& conflict : catalogue.conflicts())
    add(0, "", conflict);
  const char* variable = std::getenv(admin_token_variable);
  if (variable != nullptr && *variable != '\0')
    if (auto problem = admin_token_problem(variable))
      add(0, admin_token_variable, "the environment variable: " + *problem);
  const bool has_token = !admin_token_for(config).empty();
  std::vector<std::string> routes_checked; // modules whose declared routes were checked
  for (const auto& g : config.groups) {
    const auto* m = catalogue.find(g.module);
    if (m != nullptr
        && std::find(routes_checked.begin(), routes_checked.end(), m->name())
             == routes_checked.end()) {
      routes_checked.push_back(m->name());
      for (const auto& r : m->routes())
        if (!r.spec)
          add(g.module_line, "groups." + g.name + ".module", malformed_route(*m, r));
    }
    if (m == nullptr) {
      auto names = catalogue.names();
      add(g.module_line, "groups." + g.name + ".module",
          fmt::format("no module \"{}\" is linked into this program (linked modules: {})", g.module,
                      names.empty() ? std::string{"none"}
                                    : fmt::format("{}", fmt::join(names, ", "))));
      continue;
    }
    if (auto admin = m->admin_use(g); admin && !has_token)
      errors.push_back(system_file_error{
        config.path, admin->line, admin->column, admin->key,
        fmt::format("group {} serves admin operations, which require the admin token: set "
                    "[admin] token in this file or the environment variable {}",
                    g.name, admin_token_variable)});
    if (m->find_group(g.name) == nullptr) {
      std::vector<std::string> defined;
      for (const auto& d : m->groups())
        defined.push_back(d.name);
      add(g.line, "groups." + g.name,
          fmt::format("module {} defines no group \"{}\" (it defines: {})", g.module, g.name,
                      fmt::join(defined, ", ")));
    }
  }
  if (config.observer.metrics_need_token && !has_token)
    errors.push_back(system_file_error{
      config.path, config.observer.access_line, 0, "observer.metrics_access",
      fmt::format("metrics_access = \"admin\" requires the admin token: set [admin] token in "
                  "this file or the environment variable {}",
                  admin_token_variable)});
  for (auto& e : detail::declared_toggles(config, catalogue).errors)
    errors.push_back(std::move(e));
  return errors;
}

} // namespace microlith
