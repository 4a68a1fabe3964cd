// The system file (services/src/system_file.cpp and the settings readers of the modules linked
// in): any text is either a system_config or a system_file_errors listing at least one error,
// each with a message; nothing else is thrown. A file that parses is then checked
// (check_system), which answers a list and throws nothing.
#include "fuzz_target.hpp"

#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include <exception>
#include <string>

namespace {
constexpr const char* target = "system_file";
} // namespace

MICROLITH_FUZZ_TARGET(system_file) {
  auto text = microlith::fuzz::as_text(data, size);
  const auto& modules = microlith::module_catalogue::global();
  try {
    auto config = microlith::parse_system_file(text, "fuzz.toml", modules);
    auto problems = microlith::check_system(config, modules);
    for (const auto& problem : problems)
      MICROLITH_FUZZ_CHECK(target, !problem.message.empty(), "check_system: an empty message");
  } catch (const microlith::system_file_errors& errors) {
    MICROLITH_FUZZ_CHECK(target, !errors.errors().empty(), "system_file_errors without an error");
    for (const auto& error : errors.errors())
      MICROLITH_FUZZ_CHECK(target, !error.message.empty(), "an error without a message");
  } catch (const std::exception& other) {
    microlith::fuzz::fail(target, std::string{"parse_system_file threw something other than "
                                              "system_file_errors: "}
                                    + other.what());
  }
  return 0;
}
