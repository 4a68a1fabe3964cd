# Third-party dependencies, all from Debian 12 packages (scripts/install-deps.sh installs them).
# CAF 0.17 ships no CMake config, so it is found by hand and wrapped in imported targets.

find_package(Threads REQUIRED)
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIB caf_core REQUIRED)
find_library(CAF_IO_LIB caf_io REQUIRED)
find_library(CAF_OPENSSL_LIB caf_openssl REQUIRED) # libcaf-dev: TLS for node links
if(NOT TARGET CAF::core)
  add_library(CAF::core INTERFACE IMPORTED)
  target_include_directories(CAF::core SYSTEM INTERFACE ${CAF_INCLUDE_DIR})
  target_link_libraries(CAF::core INTERFACE ${CAF_CORE_LIB} Threads::Threads)
  add_library(CAF::io INTERFACE IMPORTED)
  target_link_libraries(CAF::io INTERFACE ${CAF_IO_LIB} CAF::core)
  add_library(CAF::openssl INTERFACE IMPORTED)
  target_link_libraries(CAF::openssl INTERFACE ${CAF_OPENSSL_LIB} CAF::io)
endif()

find_package(Boost 1.74 REQUIRED) # Beast and Asio are header-only: Boost::headers
find_package(Protobuf REQUIRED)
find_package(fmt REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(PostgreSQL REQUIRED) # libpq: the jobs' PostgreSQL store
find_package(OpenSSL REQUIRED) # libcrypto: SHA-256 of module archives; libssl: the HTTP client
