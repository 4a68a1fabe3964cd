# The ABI a loadable module must share with the program that loads it, computed at configure
# time from this build's toolchain and dependencies. One function serves both sides, so they
# agree: microlith_services compiles it into microlith::running_abi() (services/src/modules/
# build_abi.hpp.in), and microlith_add_module(... SHARED) writes it into each module's ABI note
# (<target>.abi.toml).
#
#   microlith_module_abi(<prefix>)
#     sets <prefix>_microlith, <prefix>_caf, <prefix>_protobuf, <prefix>_compiler and
#     <prefix>_cxx_abi in the caller's scope:
#       microlith  microlith's version: the project's in microlith's tree, the installed
#                  package's out of tree ("0.1.0")
#       caf        CAF_VERSION of the caf/config.hpp found (1706 -> "0.17.6")
#       protobuf   Protobuf_VERSION ("3.21.12")
#       compiler   "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}" ("GNU 12.2.0")
#       cxx_abi    "libstdc++ cxx11", "libstdc++ cxx98" (_GLIBCXX_USE_CXX11_ABI=0) or "libc++"
#
#   microlith_module_abi_note(<var> [OVERRIDE <key>=<value>...])
#     sets <var> to the ABI note's text (TOML, one `key = "value"` line per field), with the
#     overridden fields replaced (a test's way to build a module the loader must refuse).
include_guard(GLOBAL)
include(CheckCXXSourceCompiles)

function(microlith_module_abi prefix)
  get_property(microlith_version GLOBAL PROPERTY MICROLITH_VERSION)
  if(NOT microlith_version)
    set(microlith_version "${microlith_VERSION}")
  endif()
  if(NOT microlith_version)
    message(FATAL_ERROR "microlith_module_abi: microlith's version is unknown (expected the "
      "MICROLITH_VERSION global property, set by microlith's build or its package)")
  endif()

  find_file(MICROLITH_CAF_CONFIG_HEADER caf/config.hpp HINTS ${CAF_INCLUDE_DIR} REQUIRED)
  file(STRINGS ${MICROLITH_CAF_CONFIG_HEADER} caf_line REGEX "^#define CAF_VERSION [0-9]+")
  if(NOT caf_line MATCHES "CAF_VERSION ([0-9]+)")
    message(FATAL_ERROR "microlith_module_abi: no CAF_VERSION in ${MICROLITH_CAF_CONFIG_HEADER}")
  endif()
  set(caf_number ${CMAKE_MATCH_1})
  math(EXPR caf_major "${caf_number} / 10000")
  math(EXPR caf_minor "(${caf_number} / 100) % 100")
  math(EXPR caf_patch "${caf_number} % 100")

  if(NOT Protobuf_VERSION)
    message(FATAL_ERROR "microlith_module_abi: Protobuf_VERSION is not set (find_package(Protobuf))")
  endif()

  check_cxx_source_compiles([[
#include <string>
#if !defined(__GLIBCXX__) || !_GLIBCXX_USE_CXX11_ABI
#error not the cxx11 ABI of libstdc++
#endif
int main() { return 0; }]] MICROLITH_ABI_LIBSTDCXX_CXX11)
  check_cxx_source_compiles([[
#include <string>
#if !defined(__GLIBCXX__)
#error not libstdc++
#endif
int main() { return 0; }]] MICROLITH_ABI_LIBSTDCXX)
  check_cxx_source_compiles([[
#include <string>
#if !defined(_LIBCPP_VERSION)
#error not libc++
#endif
int main() { return 0; }]] MICROLITH_ABI_LIBCXX)
  if(MICROLITH_ABI_LIBSTDCXX_CXX11)
    set(cxx_abi "libstdc++ cxx11")
  elseif(MICROLITH_ABI_LIBSTDCXX)
    set(cxx_abi "libstdc++ cxx98")
  elseif(MICROLITH_ABI_LIBCXX)
    set(cxx_abi "libc++")
  else()
    set(cxx_abi "unknown")
  endif()

  set(${prefix}_microlith "${microlith_version}" PARENT_SCOPE)
  set(${prefix}_caf "${caf_major}.${caf_minor}.${caf_patch}" PARENT_SCOPE)
  set(${prefix}_protobuf "${Protobuf_VERSION}" PARENT_SCOPE)
  set(${prefix}_compiler "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}" PARENT_SCOPE)
  set(${prefix}_cxx_abi "${cxx_abi}" PARENT_SCOPE)
endfunction()

function(microlith_module_abi_note var)
  cmake_parse_arguments(arg "" "" "OVERRIDE" ${ARGN})
  microlith_module_abi(abi)
  set(keys microlith caf protobuf compiler cxx_abi)
  foreach(entry IN LISTS arg_OVERRIDE)
    if(NOT entry MATCHES "^([a-z_]+)=(.*)$" OR NOT CMAKE_MATCH_1 IN_LIST keys)
      message(FATAL_ERROR "ABI_OVERRIDE ${entry}: expected <key>=<value> with a key among "
        "${keys}")
    endif()
    set(abi_${CMAKE_MATCH_1} "${CMAKE_MATCH_2}")
  endforeach()
  set(text "")
  foreach(key IN LISTS keys)
    string(REPLACE "\\" "\\\\" value "${abi_${key}}")
    string(REPLACE "\"" "\\\"" value "${value}")
    string(APPEND text "${key} = \"${value}\"\n")
  endforeach()
  set(${var} "${text}" PARENT_SCOPE)
endfunction()
