# microlith_enable_module_loading(<target>)
#
# Makes the program <target> able to load loadable modules (microlith_add_module(... SHARED)):
# it links every object of microlith's static libraries (whole archive, not only those the
# program itself uses) and exports all its symbols (ENABLE_EXPORTS, -rdynamic), so that a module
# library, which links neither microlith nor the contracts it uses, resolves them from the
# program at dlopen — the contracts the program links (bank.proto) included. Also links the
# dynamic loader's library (${CMAKE_DL_LIBS}).
include_guard(GLOBAL)

function(microlith_enable_module_loading target)
  set(libs microlith::actors microlith::supervision microlith::net microlith::services)
  # Every member of each archive, once, ahead of the program's objects (link options precede
  # them); the archives' usual places later in the command line then add nothing. Not
  # $<LINK_LIBRARY:WHOLE_ARCHIVE,...>: CMake repeats static libraries on the command line, and
  # with LINK_LIBRARY_OVERRIDE every repetition is whole too, which defines everything twice.
  set(archives "")
  foreach(lib IN LISTS libs)
    list(APPEND archives "$<TARGET_FILE:${lib}>")
  endforeach()
  target_link_options(${target} PRIVATE "LINKER:--whole-archive" ${archives}
    "LINKER:--no-whole-archive")
  target_link_libraries(${target} PRIVATE ${libs} ${CMAKE_DL_LIBS})
  set_target_properties(${target} PROPERTIES ENABLE_EXPORTS ON)
endfunction()
