// The refusals of the run-time child operations.
#include "microlith/supervision/child_error.hpp"

#include <caf/make_message.hpp>

namespace microlith {

std::string_view to_string(child_errc x) noexcept {
  switch (x) {
    case child_errc::none: return "none";
    case child_errc::running: return "running";
    case child_errc::restarting: return "restarting";
    case child_errc::not_found: return "not_found";
    case child_errc::already_present: return "already_present";
    case child_errc::already_started: return "already_started";
    case child_errc::not_applicable: return "not_applicable";
  }
  return "?";
}

caf::error make_error(child_errc x) {
  return caf::error{static_cast<std::uint8_t>(x), child_error_category};
}

caf::error make_error(child_errc x, const caf::actor& running_child) {
  return caf::error{static_cast<std::uint8_t>(x), child_error_category,
                    caf::make_message(running_child)};
}

child_errc child_error_of(const caf::error& err) noexcept {
  if (!err || err.category() != child_error_category)
    return child_errc::none;
  return static_cast<child_errc>(err.code());
}

caf::actor running_child_of(const caf::error& err) {
  if (child_error_of(err) != child_errc::already_started)
    return {};
  const auto& ctx = err.context();
  if (ctx.size() != 1 || !ctx.match_element<caf::actor>(0))
    return {};
  return ctx.get_as<caf::actor>(0);
}

} // namespace microlith
