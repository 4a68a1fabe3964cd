// Child specifications (the setters they share with dynamic specs are in child_policy.hpp).
#include "microlith/supervision/child_spec.hpp"

namespace microlith {

child_spec::child_spec(std::string id, start_function start)
  : id_(std::move(id)), start_(std::move(start)) {}

child_spec& child_spec::kind(child_kind x) {
  kind_ = x;
  if (x == child_kind::supervisor)
    shutdown_infinity();
  return *this;
}

} // namespace microlith
