// A dynamic supervisor's definition and its validation.
#include "microlith/supervision/dynamic_supervisor_spec.hpp"

#include "detail/restart_rules.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

namespace microlith {

dynamic_supervisor_spec::dynamic_supervisor_spec(std::string name, dynamic_start_function start)
  : name_(std::move(name)), start_(std::move(start)) {}

dynamic_supervisor_spec& dynamic_supervisor_spec::child_id(std::string id) {
  child_id_ = std::move(id);
  return *this;
}

caf::error dynamic_supervisor_spec::validate() const {
  if (!start_)
    return make_error(errc::bad_request,
                      fmt::format("dynamic supervisor {}: no start function", name_));
  return detail::validate_flags("dynamic supervisor " + name_, flags_);
}

} // namespace microlith
