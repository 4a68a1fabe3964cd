// Checks shared by the system file's tests: parse a text as "bank.toml" and expect its errors.
#pragma once

#include "microlith/services/system_file.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace system_file_checks {

/// The errors parsing `text` (as "bank.toml") reports; fails the test if it parses.
inline std::vector<microlith::system_file_error> errors_of(std::string_view text) {
  try {
    (void)microlith::parse_system_file(text, "bank.toml");
  } catch (const microlith::system_file_errors& e) {
    return e.errors();
  }
  FAIL("parse_system_file accepted the file");
  return {};
}

/// Exactly one error is expected; returns it.
inline microlith::system_file_error single_error(std::string_view text) {
  auto errors = errors_of(text);
  INFO("errors: " << microlith::system_file_errors(errors).what());
  REQUIRE(errors.size() == 1);
  return errors.front();
}

/// `error` is at `line` of bank.toml, names `key`, and its message contains `fragment`.
inline void check_error(const microlith::system_file_error& error, int line, std::string_view key,
                        std::string_view fragment) {
  INFO(error.to_string());
  CHECK(error.file == "bank.toml");
  CHECK(error.line == line);
  CHECK(error.key == key);
  CHECK_THAT(error.message, Catch::Matchers::Contains(std::string(fragment)));
}

/// Parsing `text` reports exactly one error, as check_error() describes.
inline void check_single(std::string_view text, int line, std::string_view key,
                         std::string_view fragment) {
  check_error(single_error(text), line, key, fragment);
}

} // namespace system_file_checks
