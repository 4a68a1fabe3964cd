#include "microlith/services/module.hpp"

#include "microlith/actors/error.hpp"

#include "detail/data_folder.hpp"

#include <caf/all.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace microlith {

// -- group_context ----------------------------------------------------------------------------

group_context::group_context(microlith::node& host_node, const group_config& config,
                             group_host* host)
  : node_(host_node), config_(config), host_(host) {}

std::optional<config_value> group_context::setting(std::string_view key) const {
  auto i = config_.config.find(std::string{key});
  if (i == config_.config.end())
    return std::nullopt;
  return i->second;
}

std::string group_context::data_path(std::string_view path) const {
  return detail::in_data_folder(config_.data_folder, path);
}

void group_context::no_settings(const std::type_info& wanted) const {
  throw std::logic_error(fmt::format("group {} has no settings of type {} (its entry was not "
                                     "read by module {}'s settings reader)",
                                     config_.name, wanted.name(), config_.module));
}

child_spec group_context::service(service_definition def) const {
  auto id = def.name;
  auto* n = &node_;
  return child_spec{std::move(id),
                    [n, def = std::move(def)](caf::event_based_actor* sup) {
                      return n->start(def, caf::actor_cast<caf::actor>(sup));
                    }}
    .await_ready();
}

child_spec group_context::worker(service_definition def) const {
  return service(std::move(def));
}

// -- module_definition ------------------------------------------------------------------------

module_definition::module_definition(std::string name) : name_(std::move(name)) {}

module_definition& module_definition::group(std::string name, group_builder build) {
  groups_.push_back(group_definition{std::move(name), std::move(build)});
  return *this;
}

module_definition& module_definition::any_group(group_builder build) {
  any_group_ = group_definition{"*", std::move(build)};
  return *this;
}

module_definition& module_definition::summary(std::string text) {
  summary_ = std::move(text);
  return *this;
}

module_definition& module_definition::settings_with(std::vector<std::string> tables,
                                                    settings_reader read) {
  tables_ = std::move(tables);
  read_ = std::move(read);
  return *this;
}

module_definition& module_definition::admin_operations(admin_finder find) {
  admin_ = std::move(find);
  return *this;
}

std::optional<admin_switch> module_definition::admin_use(const group_config& group) const {
  return admin_ ? admin_(group) : std::nullopt;
}

module_definition& module_definition::describe(group_describer describe) {
  describe_ = std::move(describe);
  return *this;
}

module_definition& module_definition::route(std::string key, std::string target) {
  declared_route r{std::move(key), std::move(target), std::nullopt, {}};
  if (auto spec = gateway::parse_route(r.key, r.target)) {
    spec->origin = "module " + name_;
    r.spec = std::move(*spec);
  } else {
    r.problem = message_of(spec.error());
  }
  routes_.push_back(std::move(r));
  return *this;
}

module_definition& module_definition::toggle(std::string name, bool default_value,
                                             std::string description) {
  toggles_.push_back(declared_toggle{std::move(name), default_value, std::move(description)});
  return *this;
}

module_definition& module_definition::serve_module_routes() {
  serves_module_routes_ = true;
  return *this;
}

bool module_definition::declares(std::string_view table) const {
  return std::find(tables_.begin(), tables_.end(), table) != tables_.end();
}

std::any module_definition::read_settings(const group_tables& tables) const {
  return read_ ? read_(tables) : std::any{};
}

std::vector<std::string> module_definition::describe_group(const group_config& group,
                                                           const group_status* status) const {
  return describe_ ? describe_(group, status) : std::vector<std::string>{};
}

const group_definition* module_definition::find_group(std::string_view name) const {
  for (const auto& g : groups_)
    if (g.name == name)
      return &g;
  return any_group_ ? &*any_group_ : nullptr;
}

// -- module_catalogue -------------------------------------------------------------------------

module_catalogue& module_catalogue::global() {
  static module_catalogue instance;
  static const bool builtins = (detail::add_builtin_modules(instance), true);
  (void)builtins;
  return instance;
}

void module_catalogue::add(module_definition module) {
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto& m : modules_)
    if (m.name() == module.name()) {
      conflicts_.push_back(
        "module " + module.name()
        + " is linked in twice (two MICROLITH_MODULE definitions with that name)");
      return;
    }
  modules_.push_back(std::move(module));
}

const module_definition* module_catalogue::find(std::string_view name) const {
  std::lock_guard<std::mutex> guard{mutex_};
  for (const auto& m : modules_)
    if (m.name() == name)
      return &m;
  return nullptr;
}

std::vector<std::string> module_catalogue::names() const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::string> out;
  for (const auto& m : modules_)
    out.push_back(m.name());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> module_catalogue::declaring(std::string_view table) const {
  std::lock_guard<std::mutex> guard{mutex_};
  std::vector<std::string> out;
  for (const auto& m : modules_)
    if (m.declares(table))
      out.push_back(m.name());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> module_catalogue::conflicts() const {
  std::lock_guard<std::mutex> guard{mutex_};
  return conflicts_;
}

detail::module_registrar::module_registrar(module_definition (*define)()) {
  module_catalogue::global().add(define());
}

} // namespace microlith
