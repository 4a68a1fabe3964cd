# microlith_add_module(<target> SOURCES <src>... [PROTOS <file.proto>...] [LINKS <target>...])
#
# Builds a module: the code of one or more groups plus their Protobuf contracts. It is an OBJECT
# library, so every object — the static registration of the module and the generated Protobuf
# code, which nothing references by symbol — lands in each program that links it, and modules
# are found by name at run time.
function(microlith_add_module target)
  cmake_parse_arguments(arg "" "" "SOURCES;PROTOS;LINKS" ${ARGN})
  add_library(${target} OBJECT ${arg_SOURCES} ${arg_PROTOS})
  target_link_libraries(${target} PUBLIC microlith::microlith ${arg_LINKS})
  if(arg_PROTOS)
    target_include_directories(${target} PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
    protobuf_generate(TARGET ${target} LANGUAGE cpp)
  endif()
  if(COMMAND microlith_target_defaults)
    microlith_target_defaults(${target})
  endif()
endfunction()
