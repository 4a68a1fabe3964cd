# Compiler settings for microlith's own targets: warnings as errors, ccache when present,
# optional sanitizers. Applied per target through microlith_target_defaults().

find_program(MICROLITH_CCACHE ccache)
if(MICROLITH_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${MICROLITH_CCACHE})
endif()

if(MICROLITH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Warnings are errors in the project's own code.
function(microlith_target_defaults target)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    return()
  endif()
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
endfunction()
