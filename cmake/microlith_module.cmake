# microlith_add_module(<target> SOURCES <src>... [PROTOS <file.proto>...] [LINKS <target>...])
#
# Builds a module linked into programs: the code of one or more groups plus their Protobuf
# contracts. It is an OBJECT library, so every object — the static registration of the module
# and the generated Protobuf code, which nothing references by symbol — lands in each program
# that links it, and modules are found by name at run time.
#
# microlith_add_module(<target> SHARED VERSION <x.y.z> SOURCES <src>... [PROTOS <file.proto>...]
#                      [LINKS <target>...] [ABI_OVERRIDE <key>=<value>...]
#                      [DESCRIPTION <file.toml>])
#
# Builds a loadable module: what `microlith package` puts into an archive (.mlm) for a running
# `microlith` to load. Its outputs go to ${CMAKE_CURRENT_BINARY_DIR}/<target>/:
#   lib<target>.so        the SOURCES compiled with MICROLITH_MODULE_SHARED (MICROLITH_MODULE
#                         then defines the entry point microlith_module_v1 instead of
#                         registering), position-independent, default visibility, no RPATH.
#                         It links no microlith library and no contract code: microlith, the
#                         contracts of LINKS (bank_contracts) and its own contracts resolve at load
#                         time from the program (microlith_enable_module_loading()) and from the
#                         contracts library. Only shared system libraries (CAF, Protobuf, fmt)
#                         are linked; microlith's and LINKS' static and OBJECT libraries give
#                         their include directories and definitions only.
#   libmicrolith_contracts_<hash>.so
#                         the code Protobuf generates for PROTOS (its SONAME is its file name),
#                         linked against Protobuf only; <hash> is the first 16 hex digits of a
#                         SHA-256 over the protos' names (as protoc sees them) and contents, so
#                         byte-identical contracts get the same file and a changed one another
#                         (a process holds one generated copy of each .proto: CAF-NOTES §9).
#                         None without PROTOS.
#   <target>.desc         the FileDescriptorSet of PROTOS and what they import, and of the
#                         .proto sources of the libraries in LINKS (bank_contracts'
#                         proto/bank.proto, named from their target's source directory as
#                         protobuf_generate names them): the contracts the module uses from the
#                         program, which its archive lists in requires_contracts and a loader
#                         checks the program has. Such a library must be defined before the
#                         module (a FATAL_ERROR says so). Empty with neither.
#   <target>.abi.toml     the ABI note (microlith_module_abi.cmake); ABI_OVERRIDE caf=0.0.0
#                         writes another value, for tests of a loader's refusal
#   <target>.describe.toml  name, groups and routes of the module, written at build time by
#                         <target>_describe (the SOURCES linked with microlith and a main that
#                         prints the one module registered), or copied from DESCRIPTION (for
#                         a library that defines no module)
# and ${CMAKE_BINARY_DIR}/microlith-modules/<target>.module.toml lists them (absolute paths) with
# the version and the protos the module provides, for `microlith package <build dir> <target>`.
# The target <target>_package (not built by default) runs that into
# ${CMAKE_CURRENT_BINARY_DIR}/<target>-<VERSION>.mlm, with the `microlith` program of this build
# (or of the installed microlith).
#
# Either way, a module may not link another module (a FATAL_ERROR names both). The module
# target carries the properties MICROLITH_MODULE (TRUE) and, when SHARED,
# MICROLITH_MODULE_VERSION, MICROLITH_MODULE_INFO (the .module.toml), MICROLITH_MODULE_PACKAGE
# (the .mlm) and MICROLITH_MODULE_CONTRACTS (the contracts library's target, when PROTOS).
include_guard(GLOBAL)
include(${CMAKE_CURRENT_LIST_DIR}/microlith_module_abi.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/microlith_module_loading.cmake)
set_property(GLOBAL PROPERTY MICROLITH_MODULE_CMAKE_DIR ${CMAKE_CURRENT_LIST_DIR})

function(microlith_add_module target)
  cmake_parse_arguments(arg "SHARED" "VERSION;DESCRIPTION" "SOURCES;PROTOS;LINKS;ABI_OVERRIDE"
    ${ARGN})
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "microlith_add_module(${target}): unknown arguments "
      "${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(arg_SHARED)
    _microlith_add_shared_module(${target})
  else()
    foreach(keyword VERSION DESCRIPTION ABI_OVERRIDE)
      if(arg_${keyword})
        message(FATAL_ERROR "microlith_add_module(${target}): ${keyword} is for SHARED modules")
      endif()
    endforeach()
    add_library(${target} OBJECT ${arg_SOURCES} ${arg_PROTOS})
    target_link_libraries(${target} PUBLIC microlith::microlith ${arg_LINKS})
    if(arg_PROTOS)
      target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
      protobuf_generate(TARGET ${target} LANGUAGE cpp)
    endif()
    if(COMMAND microlith_target_defaults)
      microlith_target_defaults(${target})
    endif()
  endif()
  set_target_properties(${target} PROPERTIES MICROLITH_MODULE TRUE)
  # Its sources and folder, for the check that no module includes another's code (once the whole
  # project is read: modules may be declared in any order).
  set(sources "")
  foreach(source IN LISTS arg_SOURCES)
    get_filename_component(abs ${source} ABSOLUTE)
    list(APPEND sources ${abs})
  endforeach()
  set_property(GLOBAL PROPERTY MICROLITH_MODULE_SOURCES_${target} ${sources})
  get_filename_component(folder ${CMAKE_CURRENT_SOURCE_DIR} REALPATH)
  set_property(GLOBAL PROPERTY MICROLITH_MODULE_DIR_${target} ${folder})
  get_property(modules GLOBAL PROPERTY MICROLITH_MODULES)
  if(NOT modules)
    cmake_language(EVAL CODE "cmake_language(DEFER DIRECTORY [[${CMAKE_SOURCE_DIR}]] CALL
      _microlith_refuse_module_includes)")
  endif()
  set_property(GLOBAL APPEND PROPERTY MICROLITH_MODULES ${target})
  # LINKS may name targets defined later: checked once the whole project is read.
  # (A deferred call evaluates its arguments when it runs: the names are written in now.)
  if(arg_LINKS)
    list(JOIN arg_LINKS "]] [[" links)
    cmake_language(EVAL CODE "cmake_language(DEFER DIRECTORY [[${CMAKE_SOURCE_DIR}]] CALL
      _microlith_refuse_module_links [[${target}]] [[${links}]])")
  endif()
endfunction()

# Stops the configuration when one of `links` is a module, or when a loadable module's LINKS
# names a library of contracts (.proto sources) defined after the module: its descriptor set,
# written when the module was declared, could not name them.
function(_microlith_refuse_module_links target)
  get_property(seen GLOBAL PROPERTY MICROLITH_MODULE_LINKS_SEEN_${target})
  get_target_property(version ${target} MICROLITH_MODULE_VERSION)
  foreach(link IN LISTS ARGN)
    if(TARGET ${link})
      get_target_property(is_module ${link} MICROLITH_MODULE)
      if(is_module)
        message(FATAL_ERROR "module ${target} links module ${link}: a module may not link "
          "another module (each is loaded on its own; share code through an ordinary library "
          "or a contract)")
      endif()
      if(version AND NOT link IN_LIST seen)
        _microlith_protos_of(${link} protos dir)
        if(protos)
          message(FATAL_ERROR "loadable module ${target} links ${link}, whose contracts "
            "(${protos}) it uses, but ${link} is defined after the module: define it first "
            "(add_subdirectory order), so that the module's descriptor set names them")
        endif()
      endif()
    endif()
  endforeach()
endfunction()

# Stops the configuration when a module's sources, or the headers of its folder, include a file
# of another module's folder (`#include "../other/x.hpp"`, or through an include directory):
# a module reaches another only by service name. A file belongs to the module whose folder is
# the deepest one holding it; modules declared in one folder (two versions built from the same
# sources) share it. Includes that resolve nowhere (system and generated headers) are left alone.
function(_microlith_refuse_module_includes)
  get_property(modules GLOBAL PROPERTY MICROLITH_MODULES)
  set(dirs "")
  foreach(m IN LISTS modules)
    get_property(dir GLOBAL PROPERTY MICROLITH_MODULE_DIR_${m})
    list(APPEND dirs ${dir})
  endforeach()
  list(REMOVE_DUPLICATES dirs)
  foreach(m IN LISTS modules)
    get_property(own GLOBAL PROPERTY MICROLITH_MODULE_DIR_${m})
    get_property(files GLOBAL PROPERTY MICROLITH_MODULE_SOURCES_${m})
    file(GLOB_RECURSE headers ${own}/*.h ${own}/*.hpp ${own}/*.hh)
    list(APPEND files ${headers})
    list(REMOVE_DUPLICATES files)
    get_target_property(include_dirs ${m} INCLUDE_DIRECTORIES)
    if(NOT include_dirs)
      set(include_dirs "")
    endif()
    list(FILTER include_dirs EXCLUDE REGEX "\\$<")
    foreach(file IN LISTS files)
      if(NOT file MATCHES "\\.(c|cc|cpp|cxx|h|hh|hpp)$" OR NOT EXISTS ${file})
        continue()
      endif()
      get_filename_component(file_dir ${file} DIRECTORY)
      file(STRINGS ${file} lines REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<]")
      foreach(line IN LISTS lines)
        if(NOT line MATCHES "#[ \t]*include[ \t]*([\"<])([^\">]+)[\">]")
          continue()
        endif()
        set(name ${CMAKE_MATCH_2})
        set(candidates "")
        if(CMAKE_MATCH_1 STREQUAL "\"")
          list(APPEND candidates ${file_dir})
        endif()
        list(APPEND candidates ${include_dirs})
        set(found "")
        if(IS_ABSOLUTE ${name})
          get_filename_component(found ${name} REALPATH)
        else()
          foreach(base IN LISTS candidates)
            if(EXISTS ${base}/${name})
              get_filename_component(found ${base}/${name} REALPATH)
              break()
            endif()
          endforeach()
        endif()
        if(NOT found)
          continue()
        endif()
        # The module folder holding it: the deepest one.
        set(owner "")
        foreach(dir IN LISTS dirs)
          string(LENGTH "${dir}/" length)
          string(LENGTH "${owner}" owner_length)
          string(SUBSTRING "${found}" 0 ${length} head)
          if(head STREQUAL "${dir}/" AND length GREATER owner_length)
            set(owner ${dir})
          endif()
        endforeach()
        if(owner AND NOT owner STREQUAL own)
          set(others "")
          foreach(other IN LISTS modules)
            get_property(other_dir GLOBAL PROPERTY MICROLITH_MODULE_DIR_${other})
            if(other_dir STREQUAL owner)
              list(APPEND others ${other})
            endif()
          endforeach()
          list(JOIN others ", " others)
          message(FATAL_ERROR "module ${m} includes ${found}, a file of module ${others} "
            "(${file}: ${line}): a module may not include another module's code (each is loaded "
            "on its own; share code through an ordinary library or a contract)")
        endif()
      endforeach()
    endforeach()
  endforeach()
endfunction()

# The .proto sources of target `lib` (absolute paths) in `out_protos`, and the directory
# protobuf_generate named them from (the target's source directory) in `out_dir`. None for an
# imported target, whose sources are not known.
function(_microlith_protos_of lib out_protos out_dir)
  set(protos "")
  get_target_property(aliased ${lib} ALIASED_TARGET)
  if(aliased)
    set(lib ${aliased})
  endif()
  get_target_property(imported ${lib} IMPORTED)
  get_target_property(dir ${lib} SOURCE_DIR)
  if(NOT imported)
    get_target_property(sources ${lib} SOURCES)
    foreach(source IN LISTS sources)
      if(source MATCHES "\\.proto$")
        get_filename_component(abs ${source} ABSOLUTE BASE_DIR ${dir})
        list(APPEND protos ${abs})
      endif()
    endforeach()
  endif()
  set(${out_protos} "${protos}" PARENT_SCOPE)
  set(${out_dir} "${dir}" PARENT_SCOPE)
endfunction()

# The SHARED form of microlith_add_module (arguments in the caller's arg_* variables).
macro(_microlith_add_shared_module target)
  if(NOT arg_VERSION MATCHES "^[0-9]+(\\.[0-9]+)*$")
    message(FATAL_ERROR "microlith_add_module(${target} SHARED): VERSION must be digits and "
      "dots (\"1.2.0\"), got \"${arg_VERSION}\"")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "microlith_add_module(${target} SHARED): SOURCES is empty")
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${target})
  file(MAKE_DIRECTORY ${out})

  # The contracts it uses from the program: the .proto sources of the targets in LINKS
  # (bank_contracts' proto/bank.proto), named as protobuf_generate named them there (from the
  # target's source directory). They go into the descriptor set beside PROTOS without being
  # provided, so the archive's manifest lists them in requires_contracts and a loader checks that
  # the program has them, with the same contents, before it loads the library.
  set(used_protos "")
  set(used_import_dirs "")
  set(used_links "")
  foreach(link IN LISTS arg_LINKS)
    if(NOT TARGET ${link})
      continue() # defined later: _microlith_refuse_module_links checks it holds no .proto
    endif()
    list(APPEND used_links ${link})
    _microlith_protos_of(${link} link_protos link_dir)
    if(link_protos)
      list(APPEND used_protos ${link_protos})
      list(APPEND used_import_dirs -I ${link_dir})
    endif()
  endforeach()
  set_property(GLOBAL PROPERTY MICROLITH_MODULE_LINKS_SEEN_${target} ${used_links})

  # The contracts: generated once into <out>/contracts, compiled once (position-independent)
  # into an OBJECT library that the contracts library and the describe program both use.
  set(proto_names "")
  set(proto_files "")
  set(contracts_file "")
  if(arg_PROTOS)
    set(digests "")
    foreach(proto IN LISTS arg_PROTOS)
      get_filename_component(abs ${proto} ABSOLUTE)
      # protobuf_generate's import directory is the current source directory: protoc's name of
      # the file is its path from there.
      file(RELATIVE_PATH name ${CMAKE_CURRENT_SOURCE_DIR} ${abs})
      file(SHA256 ${abs} digest)
      list(APPEND proto_names ${name})
      list(APPEND proto_files ${abs})
      list(APPEND digests "${name} ${digest}")
    endforeach()
    list(SORT digests)
    string(SHA256 contracts_hash "${digests}")
    string(SUBSTRING ${contracts_hash} 0 16 contracts_hash)
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${proto_files})

    add_library(${target}_contract_objects OBJECT ${arg_PROTOS})
    set_target_properties(${target}_contract_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
    target_include_directories(${target}_contract_objects PUBLIC ${out}/contracts)
    target_link_libraries(${target}_contract_objects PUBLIC protobuf::libprotobuf)
    protobuf_generate(TARGET ${target}_contract_objects LANGUAGE cpp PROTOC_OUT_DIR ${out}/contracts)

    add_library(${target}_contracts SHARED)
    target_link_libraries(${target}_contracts PRIVATE ${target}_contract_objects)
    set_target_properties(${target}_contracts PROPERTIES
      OUTPUT_NAME microlith_contracts_${contracts_hash}
      LIBRARY_OUTPUT_DIRECTORY ${out}
      SKIP_BUILD_RPATH TRUE)
    set(contracts_file "$<TARGET_FILE:${target}_contracts>")
  endif()
  if(proto_files OR used_protos)
    add_custom_command(OUTPUT ${out}/${target}.desc
      COMMAND ${Protobuf_PROTOC_EXECUTABLE} --descriptor_set_out=${out}/${target}.desc
        --include_imports -I ${CMAKE_CURRENT_SOURCE_DIR} ${used_import_dirs} ${proto_files}
        ${used_protos}
      DEPENDS ${proto_files} ${used_protos}
      COMMENT "Writing the descriptor set of module ${target}"
      VERBATIM)
  else()
    # An empty file is an empty FileDescriptorSet.
    add_custom_command(OUTPUT ${out}/${target}.desc
      COMMAND ${CMAKE_COMMAND} -E touch ${out}/${target}.desc
      COMMENT "Writing the (empty) descriptor set of module ${target}"
      VERBATIM)
  endif()

  # The module library.
  add_library(${target} SHARED ${arg_SOURCES})
  target_compile_definitions(${target} PRIVATE MICROLITH_MODULE_SHARED)
  target_compile_features(${target} PRIVATE cxx_std_17)
  set_target_properties(${target} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${out}
    POSITION_INDEPENDENT_CODE ON
    CXX_VISIBILITY_PRESET default
    VISIBILITY_INLINES_HIDDEN OFF
    SKIP_BUILD_RPATH TRUE)
  _microlith_use_without_objects(${target} microlith::microlith ${arg_LINKS})
  if(arg_PROTOS)
    target_include_directories(${target} PRIVATE ${out}/contracts)
    add_dependencies(${target} ${target}_contract_objects ${target}_contracts)
  endif()
  if(COMMAND microlith_target_defaults)
    microlith_target_defaults(${target})
  endif()

  # The ABI note.
  microlith_module_abi_note(note OVERRIDE ${arg_ABI_OVERRIDE})
  file(GENERATE OUTPUT ${out}/${target}.abi.toml CONTENT "${note}")

  # The description: from the describe program, or given.
  if(arg_DESCRIPTION)
    get_filename_component(description_source ${arg_DESCRIPTION} ABSOLUTE)
    add_custom_command(OUTPUT ${out}/${target}.describe.toml
      COMMAND ${CMAKE_COMMAND} -E copy ${description_source} ${out}/${target}.describe.toml
      DEPENDS ${description_source}
      VERBATIM)
  else()
    _microlith_module_describer()
    add_executable(${target}_describe ${arg_SOURCES})
    target_link_libraries(${target}_describe PRIVATE microlith_module_describer
      microlith::microlith ${arg_LINKS})
    if(arg_PROTOS)
      target_link_libraries(${target}_describe PRIVATE ${target}_contract_objects)
    endif()
    if(COMMAND microlith_target_defaults)
      microlith_target_defaults(${target}_describe)
    endif()
    add_custom_command(OUTPUT ${out}/${target}.describe.toml
      COMMAND ${target}_describe ${out}/${target}.describe.toml
      DEPENDS ${target}_describe
      COMMENT "Describing module ${target}"
      VERBATIM)
  endif()
  add_custom_target(${target}_module_files ALL
    DEPENDS ${out}/${target}.desc ${out}/${target}.describe.toml)
  add_dependencies(${target} ${target}_module_files)

  # The module's info file, for `microlith package`.
  set(provides "")
  foreach(name IN LISTS proto_names)
    if(provides)
      string(APPEND provides ", ")
    endif()
    string(APPEND provides "\"${name}\"")
  endforeach()
  set(info ${CMAKE_BINARY_DIR}/microlith-modules/${target}.module.toml)
  file(GENERATE OUTPUT ${info} CONTENT "target = \"${target}\"
version = \"${arg_VERSION}\"
library = \"$<TARGET_FILE:${target}>\"
contracts_library = \"${contracts_file}\"
contracts = \"${out}/${target}.desc\"
abi_note = \"${out}/${target}.abi.toml\"
description = \"${out}/${target}.describe.toml\"
provides = [${provides}]
")

  # The archive (not built by default).
  set(package ${CMAKE_CURRENT_BINARY_DIR}/${target}-${arg_VERSION}.mlm)
  # The command that packages: microlith's own build names its target (MICROLITH_COMMAND_TARGET,
  # which modules declared before cli/ — the examples' — see before it exists), an installed
  # microlith its program (MICROLITH_COMMAND, microlithConfig.cmake).
  get_property(command GLOBAL PROPERTY MICROLITH_COMMAND)
  get_property(command_target GLOBAL PROPERTY MICROLITH_COMMAND_TARGET)
  if(command_target)
    set(command $<TARGET_FILE:${command_target}>)
  endif()
  if(command)
    add_custom_target(${target}_package
      COMMAND ${command} package ${CMAKE_BINARY_DIR} ${target} -o ${package}
      COMMENT "Packaging module ${target} into ${package}"
      VERBATIM)
    add_dependencies(${target}_package ${target})
    if(command_target)
      add_dependencies(${target}_package ${command_target})
    endif()
  endif()

  set_target_properties(${target} PROPERTIES
    MICROLITH_MODULE_VERSION ${arg_VERSION}
    MICROLITH_MODULE_INFO ${info}
    MICROLITH_MODULE_PACKAGE ${package})
  if(arg_PROTOS)
    set_target_properties(${target} PROPERTIES MICROLITH_MODULE_CONTRACTS ${target}_contracts)
  endif()
endmacro()

# The OBJECT library microlith_module_describer (the describe programs' main): microlith's own
# in its tree (services/CMakeLists.txt), made here once from the installed source out of tree.
function(_microlith_module_describer)
  if(TARGET microlith_module_describer)
    return()
  endif()
  get_property(dir GLOBAL PROPERTY MICROLITH_MODULE_CMAKE_DIR)
  add_library(microlith_module_describer OBJECT ${dir}/describe_main.cpp)
  target_link_libraries(microlith_module_describer PUBLIC microlith::services)
endfunction()

# Gives `lib` what it needs to compile against `items` (targets) without their objects: the
# include directories, definitions and options of static, OBJECT and interface libraries (and of
# what they use in turn), and links only shared libraries. A loadable module resolves microlith
# and the contracts of the program at load time; linking their objects would give it copies.
function(_microlith_use_without_objects lib)
  set(seen "")
  set(queue ${ARGN})
  while(queue)
    list(POP_FRONT queue item)
    if(item MATCHES "^\\$<BUILD_INTERFACE:(.*)>$")
      set(item "${CMAKE_MATCH_1}")
    elseif(item MATCHES "^\\$<" OR item MATCHES "^::@")
      # $<LINK_ONLY:...> (a static library's private dependencies, resolved by the program),
      # $<INSTALL_INTERFACE:...>, directory markers: nothing to compile with.
      continue()
    endif()
    if(item STREQUAL "" OR item IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${item})
    if(NOT TARGET ${item})
      if(item MATCHES "\\.so(\\.[0-9]+)*$" OR item MATCHES "^-")
        target_link_libraries(${lib} PRIVATE ${item}) # a shared library's path, -pthread
      endif()
      continue()
    endif()
    get_target_property(aliased ${item} ALIASED_TARGET)
    if(aliased)
      set(item ${aliased})
    endif()
    get_target_property(type ${item} TYPE)
    get_target_property(imported ${item} IMPORTED)
    if(type STREQUAL "SHARED_LIBRARY")
      target_link_libraries(${lib} PRIVATE ${item})
      continue()
    endif()
    if(type STREQUAL "UNKNOWN_LIBRARY")
      get_target_property(location ${item} LOCATION)
      if(location MATCHES "\\.so(\\.[0-9]+)*$")
        target_link_libraries(${lib} PRIVATE ${item})
        continue()
      endif()
    endif()
    if(imported)
      target_include_directories(${lib} SYSTEM PRIVATE
        $<TARGET_PROPERTY:${item},INTERFACE_INCLUDE_DIRECTORIES>)
    else()
      target_include_directories(${lib} PRIVATE
        $<TARGET_PROPERTY:${item},INTERFACE_INCLUDE_DIRECTORIES>)
      target_include_directories(${lib} SYSTEM PRIVATE
        $<TARGET_PROPERTY:${item},INTERFACE_SYSTEM_INCLUDE_DIRECTORIES>)
      if(NOT type STREQUAL "INTERFACE_LIBRARY")
        add_dependencies(${lib} ${item}) # its generated headers (bank_contracts' bank.pb.h)
      endif()
    endif()
    target_compile_definitions(${lib} PRIVATE
      $<TARGET_PROPERTY:${item},INTERFACE_COMPILE_DEFINITIONS>)
    target_compile_options(${lib} PRIVATE $<TARGET_PROPERTY:${item},INTERFACE_COMPILE_OPTIONS>)
    get_target_property(uses ${item} INTERFACE_LINK_LIBRARIES)
    if(uses)
      list(APPEND queue ${uses})
    endif()
  endwhile()
endfunction()
