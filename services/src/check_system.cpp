// check_system (host.hpp): what the parser cannot know about a system file.
#include "microlith/services/host.hpp"

#include <fmt/format.h>

namespace microlith {

std::vector<system_file_error> check_system(const system_config& config,
                                            const module_catalogue& catalogue) {
  std::vector<system_file_error> errors;
  auto add = [&](int line, std::string key, std::string message) {
    errors.push_back(system_file_error{config.path, line, 0, std::move(key), std::move(message)});
  };
  for (const auto& conflict : catalogue.conflicts())
    add(0, "", conflict);
  for (const auto& g : config.groups) {
    const auto* m = catalogue.find(g.module);
    if (m == nullptr) {
      auto names = catalogue.names();
      add(g.module_line, "groups." + g.name + ".module",
          fmt::format("no module \"{}\" is linked into this program (linked modules: {})", g.module,
                      names.empty() ? std::string{"none"}
                                    : fmt::format("{}", fmt::join(names, ", "))));
      continue;
    }
    if (m->find_group(g.name) == nullptr) {
      std::vector<std::string> defined;
      for (const auto& d : m->groups())
        defined.push_back(d.name);
      add(g.line, "groups." + g.name,
          fmt::format("module {} defines no group \"{}\" (it defines: {})", g.module, g.name,
                      fmt::join(defined, ", ")));
    }
  }
  return errors;
}

} // namespace microlith
