// An installed version as the modules contract carries it (microlith.modules.v1.Module), and
// back: what the `modules` service answers, and what the nodes of a cluster tell each other.
#pragma once

#include "microlith/services/code_server.hpp"
#include "proto/microlith_modules.pb.h"

namespace microlith::detail {

/// `s` as a Module message.
inline microlith::modules::v1::Module module_message(const module_status& s) {
  microlith::modules::v1::Module m;
  m.set_name(s.installed.name);
  m.set_version(s.installed.version);
  m.set_sha256(s.installed.sha256);
  m.set_active(s.installed.active);
  m.set_route_prefix(s.installed.route_prefix);
  m.set_node(s.installed.node);
  m.set_installed_at(s.installed.installed_at);
  m.set_loaded(s.loaded);
  m.set_problem(s.problem);
  return m;
}

/// The status a Module message carries.
inline module_status module_status_of(const microlith::modules::v1::Module& m) {
  module_status s;
  s.installed.name = m.name();
  s.installed.version = m.version();
  s.installed.sha256 = m.sha256();
  s.installed.active = m.active();
  s.installed.route_prefix = m.route_prefix();
  s.installed.node = m.node();
  s.installed.installed_at = m.installed_at();
  s.loaded = m.loaded();
  s.problem = m.problem();
  return s;
}

} // namespace microlith::detail
