#include "modules/module_library.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

#include <dlfcn.h>

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

} // namespace microlith::detail
