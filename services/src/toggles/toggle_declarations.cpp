#include "toggles/toggle_declarations.hpp"

#include "toggles/toggle_naming.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace microlith::detail {

toggle_declarations declared_toggles(const system_config& config,
                                     const module_catalogue& catalogue) {
  toggle_declarations out;
  std::map<std::string, std::size_t> at; // name -> index in out.toggles
  auto add = [&](std::string name, bool default_value, std::string description,
                 std::string origin) {
    toggle_state t;
    t.name = std::move(name);
    t.default_value = default_value;
    t.gates.boolean = default_value;
    t.description = std::move(description);
    at[t.name] = out.toggles.size();
    out.origin[t.name] = std::move(origin);
    out.toggles.push_back(std::move(t));
  };
  for (const auto& d : config.toggles.declared)
    add(d.name, d.default_value, d.description, "system file");
  std::vector<std::string> seen;
  for (const auto& g : config.groups) {
    const auto* m = catalogue.find(g.module);
    if (m == nullptr || std::find(seen.begin(), seen.end(), m->name()) != seen.end())
      continue;
    seen.push_back(m->name());
    for (const auto& t : m->toggles()) {
      const std::string key = "groups." + g.name + ".module";
      if (auto problem = toggle_name_problem(t.name)) {
        out.errors.push_back(
          system_file_error{config.path, g.module_line, 0, key,
                            fmt::format("module {} declares toggle \"{}\" in its code: {}",
                                        m->name(), t.name, *problem)});
        continue;
      }
      auto i = at.find(t.name);
      if (i == at.end()) {
        add(t.name, t.default_value, t.description, "module " + m->name());
        continue;
      }
      const auto& origin = out.origin[t.name];
      if (origin == "system file")
        continue; // the file's declaration wins
      if (out.toggles[i->second].default_value != t.default_value)
        out.errors.push_back(system_file_error{
          config.path, g.module_line, 0, key,
          fmt::format("module {} declares toggle \"{}\" with default {}, and {} with default {}: "
                      "declare it in the system file's [toggles] table to choose",
                      m->name(), t.name, t.default_value, origin,
                      out.toggles[i->second].default_value)});
    }
  }
  return out;
}

} // namespace microlith::detail
