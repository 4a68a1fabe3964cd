#include "microlith/actors/handover.hpp"

#include "detail/node_access.hpp"
#include "detail/node_core.hpp"

#include "microlith/actors/atoms.hpp"
#include "microlith/actors/error.hpp"

#include <caf/all.hpp>

#include <utility>

namespace microlith {

expected_handover::expected_handover(node& n, std::vector<std::string> services)
  : node_(n), services_(std::move(services)) {
  auto& board = detail::node_access::core(node_).handovers;
  for (const auto& s : services_)
    board.expect(s);
}

expected_handover::~expected_handover() {
  auto& board = detail::node_access::core(node_).handovers;
  for (const auto& s : services_)
    board.forget(s);
}

caf::expected<handed_state> retire_instance(node& n, const caf::actor& old,
                                            const caf::actor& successor,
                                            std::chrono::milliseconds limit) {
  caf::scoped_actor self{n.system()};
  caf::expected<handed_state> out{handed_state{}};
  self->request(old, limit, retire_atom::value, successor)
    .receive(
      [&](std::string& type, std::string& bytes) {
        out = handed_state{std::move(type), std::move(bytes)};
      },
      [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::expected<bool> import_state(node& n, const caf::actor& next, const handed_state& state,
                                 std::chrono::milliseconds limit) {
  caf::scoped_actor self{n.system()};
  caf::expected<bool> out{false};
  self->request(next, limit, import_atom::value, state.type, state.bytes)
    .receive([&](bool waited) { out = waited; }, [&](caf::error& err) { out = std::move(err); });
  return out;
}

caf::error drain_instance(node& n, const caf::actor& instance, std::chrono::milliseconds limit) {
  caf::scoped_actor self{n.system()};
  caf::error out;
  self->request(instance, limit, drain_atom::value)
    .receive([](bool) {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

void commit_handover(const caf::actor& next) {
  caf::anon_send(next, commit_atom::value);
}

void abandon_handover(const caf::actor& next, const caf::actor& old) {
  caf::anon_send(next, abandon_atom::value, old);
}

void resume_instance(const caf::actor& old) {
  caf::anon_send(old, resume_atom::value);
}

} // namespace microlith
