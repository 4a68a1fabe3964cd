// The main of a module's describe program (`<target>_describe`, made by
// microlith_add_module(... SHARED)): linked with the module's sources (registered statically),
// it writes the description of that module — its name, its groups with the supervision flags
// they run with once loaded, the routes it declares — as TOML, to the file named by its
// argument or to standard output. The build runs it into `<target>.describe.toml`, which
// `microlith package` turns into the archive's manifest.
//
// The module described is the one registered module that is not built into microlith (the
// gateway is); none or several is an error (exit code 1, the reason on standard error).
//
// Only public headers: out of tree this file is compiled from the installed package.
#include <microlith/services/module.hpp>
#include <microlith/services/module_manifest.hpp>
#include <microlith/supervision/policy.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

// `text` as a TOML basic string: quoted, with quotes, backslashes and control characters
// escaped.
std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// The names of the modules registered in this program that are not built into microlith.
std::vector<std::string> own_modules() {
  microlith::module_catalogue builtins;
  microlith::detail::add_builtin_modules(builtins);
  std::vector<std::string> out;
  for (const auto& name : microlith::module_catalogue::global().names())
    if (!builtins.find(name))
      out.push_back(name);
  return out;
}

// The description of `module`, as TOML.
std::string description(const microlith::module_definition& module) {
  std::ostringstream out;
  out << "name = " << quoted(module.name()) << "\n";
  // Every group runs with the default flags today: module_definition has no per-group flags.
  const microlith::manifest_group flags;
  for (const auto& group : module.groups()) {
    out << "[[groups]]\n"
        << "name = " << quoted(group.name) << "\n"
        << "restart = " << quoted(microlith::to_string(flags.restart)) << "\n"
        << "strategy = " << quoted(microlith::to_string(flags.strategy)) << "\n"
        << "intensity = " << flags.intensity << "\n"
        << "period_ms = " << flags.period.count() << "\n";
  }
  for (const auto& route : module.routes())
    out << "[[routes]]\n"
        << "key = " << quoted(route.key) << "\n"
        << "target = " << quoted(route.target) << "\n";
  return out.str();
}

} // namespace

int main(int argc, char** argv) {
  if (argc > 2) {
    std::cerr << "usage: " << argv[0] << " [output.toml]\n";
    return 2;
  }
  auto conflicts = microlith::module_catalogue::global().conflicts();
  if (!conflicts.empty()) {
    for (const auto& c : conflicts)
      std::cerr << argv[0] << ": " << c << "\n";
    return 1;
  }
  auto names = own_modules();
  if (names.size() != 1) {
    std::cerr << argv[0] << ": expected exactly one module registered with MICROLITH_MODULE "
              << "besides microlith's built-in ones, found " << names.size() << "\n";
    return 1;
  }
  auto text = description(*microlith::module_catalogue::global().find(names.front()));
  if (argc == 1) {
    std::cout << text;
    return std::cout.good() ? 0 : 1;
  }
  std::ofstream file{argv[1], std::ios::binary | std::ios::trunc};
  file << text;
  file.close();
  if (!file) {
    std::cerr << argv[0] << ": cannot write " << argv[1] << "\n";
    return 1;
  }
  return 0;
}
