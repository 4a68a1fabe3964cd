#include "modules/module_library.hpp"

#include "microlith/actors/error.hpp"

#include "modules/contract_check.hpp"

#include <fmt/format.h>

#include <dlfcn.h>

#include <fstream>
#include <sstream>

namespace microlith::detail {

namespace {

// The C symbol a loadable module exports (MICROLITH_MODULE in a SHARED build).
constexpr const char* entry_symbol = "microlith_module_v1";

std::string loader_error() {
  const char* what = dlerror();
  return what != nullptr ? what : "unknown dynamic loader error";
}

} // namespace

caf::error open_contracts_library(const std::filesystem::path& file, std::string_view who) {
  dlerror();
  if (dlopen(file.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr)
    return make_error(errc::failed_precondition,
                      fmt::format("{}: cannot load its contracts library {}: {}", who,
                                  file.filename().string(), loader_error()));
  return {};
}

caf::expected<std::unique_ptr<module_definition>>
open_module_library(const std::filesystem::path& file, std::string_view who) {
  dlerror();
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr)
    return make_error(
      errc::failed_precondition,
      fmt::format("{}: cannot load {}: {}", who, file.filename().string(), loader_error()));
  using entry_function = module_definition* (*)();
  auto* entry = reinterpret_cast<entry_function>(dlsym(handle, entry_symbol));
  if (entry == nullptr) {
    dlclose(handle);
    return make_error(errc::failed_precondition,
                      fmt::format("{}: {} has no entry symbol {}: define the module with "
                                  "MICROLITH_MODULE and build it with microlith_add_module(NAME "
                                  "SHARED VERSION ...)",
                                  who, file.filename().string(), entry_symbol));
  }
  try {
    std::unique_ptr<module_definition> def{entry()};
    if (!def)
      return make_error(errc::failed_precondition,
                        fmt::format("{}: {} answered no module definition", who, entry_symbol));
    return def;
  } catch (const std::exception& e) {
    return make_error(errc::failed_precondition,
                      fmt::format("{}: its module definition threw: {}", who, e.what()));
  }
}

caf::expected<module_manifest> load_stored_contracts(const std::filesystem::path& folder,
                                                     std::string_view who,
                                                     std::string_view unloaded) {
  auto read = [](const std::filesystem::path& file) -> caf::expected<std::string> {
    std::ifstream in{file, std::ios::binary};
    if (!in)
      return make_error(errc::data_loss, fmt::format("cannot read {}", file.string()));
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  };
  auto manifest_bytes = read(folder / "manifest.toml");
  if (!manifest_bytes)
    return manifest_bytes.error();
  auto manifest = parse_manifest(*manifest_bytes, (folder / "manifest.toml").string());
  if (!manifest)
    return manifest.error();
  auto note_bytes = read(folder / "abi.toml");
  if (!note_bytes)
    return note_bytes.error();
  auto note = parse_abi_note(*note_bytes, (folder / "abi.toml").string());
  if (!note)
    return note.error();
  if (auto diff = abi_differences(*note, running_abi()); !diff.empty())
    return make_error(errc::failed_precondition,
                      fmt::format("{} was built for another ABI than this process; {}: {}", who,
                                  unloaded, fmt::join(diff, "; ")));
  auto descriptors = read(folder / manifest->contracts);
  if (!descriptors)
    return descriptors.error();
  auto plan = check_contracts(*manifest, *descriptors, who);
  if (!plan)
    return plan.error();
  if (plan->load_library)
    if (auto err = open_contracts_library(folder / manifest->contracts_library, who))
      return err;
  return manifest;
}

} // namespace microlith::detail
