# `cmake --install` lays out headers, libraries, the microlith command and a CMake package, so
# that an out-of-tree project can `find_package(microlith)` and build its own modules and system.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MICROLITH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/microlith)

install(TARGETS microlith microlith_actors microlith_supervision microlith_net microlith_services
  microlith_cli
  EXPORT microlith_targets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS microlith_command RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(area actors supervision net services cli)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${area}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

install(EXPORT microlith_targets NAMESPACE microlith:: FILE microlithTargets.cmake
  DESTINATION ${MICROLITH_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/microlithConfig.cmake.in
  ${PROJECT_BINARY_DIR}/microlithConfig.cmake INSTALL_DESTINATION ${MICROLITH_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/microlithConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/microlithConfig.cmake
  ${PROJECT_BINARY_DIR}/microlithConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/microlith_dependencies.cmake
  ${PROJECT_SOURCE_DIR}/cmake/microlith_module.cmake
  ${PROJECT_SOURCE_DIR}/cmake/microlith_module_abi.cmake
  ${PROJECT_SOURCE_DIR}/cmake/microlith_module_loading.cmake
  # The describe programs' main, compiled by out-of-tree loadable modules.
  ${PROJECT_SOURCE_DIR}/services/src/modules/describe_main.cpp
  DESTINATION ${MICROLITH_CMAKE_DIR})
