// A static supervisor's definition and its validation.
#include "microlith/supervision/supervisor_spec.hpp"

#include "detail/restart_rules.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

#include <set>

namespace microlith {

supervisor_spec::supervisor_spec(std::string name) : name_(std::move(name)) {}

supervisor_spec& supervisor_spec::strategy(microlith::strategy x) {
  flags_.how = x;
  return *this;
}

supervisor_spec& supervisor_spec::child(child_spec spec) {
  children_.emplace_back(std::move(spec));
  return *this;
}

caf::error supervisor_spec::validate() const {
  if (auto err = detail::validate_flags("supervisor " + name_, flags_))
    return err;
  std::set<std::string> ids;
  for (const auto& c : children_) {
    if (!c.start())
      return make_error(
        errc::bad_request,
        fmt::format("supervisor {}: child {} has no start function", name_, c.id()));
    if (!ids.insert(c.id()).second)
      return make_error(errc::bad_request,
                        fmt::format("supervisor {}: two children are called {}", name_, c.id()));
  }
  return {};
}

} // namespace microlith
