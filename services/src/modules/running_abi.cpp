// PROVISIONAL: this process's ABI from the compiler's and the libraries' version macros, so that
// `microlith check FILE.mlm` links and can compare. The build's own running_abi.cpp, made from
// configure-time values (the same ones the module build writes into abi.toml), replaces this
// file; until then a note written by the module build may word the compiler differently.
#include "microlith/services/module_manifest.hpp"

#include <caf/config.hpp>
#include <google/protobuf/stubs/common.h>

#include <fmt/format.h>

#ifndef MICROLITH_VERSION
#error "MICROLITH_VERSION must be defined (services/CMakeLists.txt)"
#endif

namespace microlith {

module_abi running_abi() {
  module_abi abi;
  abi.microlith = MICROLITH_VERSION;
  abi.caf =
    fmt::format("{}.{}.{}", CAF_VERSION / 10000, CAF_VERSION / 100 % 100, CAF_VERSION % 100);
  abi.protobuf = fmt::format("{}.{}.{}", GOOGLE_PROTOBUF_VERSION / 1000000,
                             GOOGLE_PROTOBUF_VERSION / 1000 % 1000, GOOGLE_PROTOBUF_VERSION % 1000);
#if defined(__clang__)
  abi.compiler =
    fmt::format("Clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  abi.compiler = fmt::format("GNU {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  abi.compiler = "unknown";
#endif
#if defined(_LIBCPP_VERSION)
  abi.cxx_abi = "libc++";
#elif defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
  abi.cxx_abi = "libstdc++ cxx11";
#else
  abi.cxx_abi = "libstdc++";
#endif
  return abi;
}

} // namespace microlith
