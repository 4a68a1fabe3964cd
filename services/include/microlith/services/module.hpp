// Modules: the unit of code. A module has a name ("bank.accounts") and defines groups; a group
// (the unit of deployment) is a supervisor whose children the module builds — services,
// workers, nested supervisors. The system file picks groups by name and sets their supervision
// flags; the module supplies what runs inside.
//
// A linked-in module registers itself in the process-wide catalogue during static
// initialization:
//
//   MICROLITH_MODULE(bank_accounts) {
//     return microlith::module_definition{"bank.accounts"}
//       .group("accounts", [](microlith::group_context& g) {
//         return microlith::children{g.service(bank::make_accounts())};
//       });
//   }
//
// Build a module with `microlith_add_module()` (CMake): it is an OBJECT library, so the
// registration object is linked into every program that links the module, even statically.
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/services/system_file.hpp"
#include "microlith/supervision/child_spec.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace microlith {

/// The children of a group, in start order.
using children = std::vector<child_spec>;

/// A permanent group of the system that runs on no reachable node (see host::unready_groups).
struct unready_group {
  std::string name;   ///< the group's name in the system file
  std::string reason; ///< for an operator: where it is placed and what is wrong there
};

/// What a group may ask of the host that runs it.
class group_host {
public:
  virtual ~group_host() = default;

  /// The permanent groups of the system that run on no reachable node, in start order; empty
  /// while the system is ready. Cheap: reads state the node keeps, asks no other node.
  virtual std::vector<unready_group> unready_groups() const = 0;

  /// Reads the system file again and applies it to the running groups (host::reload_file).
  virtual caf::error reload_file() = 0;

  /// What a running group does when the system file is reloaded: `handler` gets the group's
  /// new entry and applies what it can, or answers an error and keeps its old settings.
  /// Registering again replaces the handler.
  using reload_handler = std::function<caf::error(const group_config&)>;
  virtual void on_reload(const std::string& group, reload_handler handler) = 0;

  /// A group's HTTP gateway is listening on `port` (the bound port, also when the file said
  /// 0), or, with 0, no longer listening (host::http_port).
  virtual void on_listening(const std::string& group, std::uint16_t port) = 0;
};

/// What a group's builder sees: the node it starts on, its entry in the system file, and the
/// host running it.
class group_context {
public:
  group_context(node& host_node, const group_config& config, group_host* host = nullptr);

  /// The node the group starts on.
  microlith::node& host_node() const noexcept { return node_; }

  /// The group's entry in the system file.
  const group_config& config() const noexcept { return config_; }

  /// The host running the group; null when the group is built outside a host (in a test).
  group_host* host() const noexcept { return host_; }

  /// A setting from the group's `[groups.NAME.config]` table, if present.
  std::optional<config_value> setting(std::string_view key) const;

  /// A child running one instance of `def`: permanent, stopped within 5 s, started once it has
  /// built its state and registered. The child's id is the service's name.
  child_spec service(service_definition def) const;

  /// A child running a worker (same defaults as service()).
  child_spec worker(service_definition def) const;

private:
  microlith::node& node_;
  const group_config& config_;
  group_host* host_;
};

/// Builds a group's children when the group starts (and again whenever it is started anew).
using group_builder = std::function<children(group_context&)>;

/// One group of a module.
struct group_definition {
  std::string name;
  group_builder build;
};

/// A module: a name and the groups it defines.
class module_definition {
public:
  /// A module called `name` ("bank.accounts").
  explicit module_definition(std::string name);

  /// Defines a group called `name` whose children `build` makes.
  module_definition& group(std::string name, group_builder build);

  /// Lets a group of any name use this module, built by `build` (for built-in modules such as
  /// the gateway, whose group the system file names).
  module_definition& any_group(group_builder build);

  const std::string& name() const noexcept { return name_; }
  const std::vector<group_definition>& groups() const noexcept { return groups_; }

  /// True when a group of any name may use this module (any_group).
  bool serves_any_group() const noexcept { return any_group_.has_value(); }

  /// The group called `name` (or the any-group definition), or nullptr.
  const group_definition* find_group(std::string_view name) const;

private:
  std::string name_;
  std::vector<group_definition> groups_;
  std::optional<group_definition> any_group_;
};

/// The modules linked into this program, by name.
class module_catalogue {
public:
  /// The process-wide catalogue that MICROLITH_MODULE registers into.
  static module_catalogue& global();

  /// Adds a module; a second module with the same name is recorded as a conflict.
  void add(module_definition module);

  /// The module called `name`, or nullptr.
  const module_definition* find(std::string_view name) const;

  /// The names of all modules, sorted.
  std::vector<std::string> names() const;

  /// Problems found while registering (duplicate names), for `check` and `run` to report.
  std::vector<std::string> conflicts() const;

private:
  mutable std::mutex mutex_;
  std::deque<module_definition> modules_; // a deque: find() pointers stay valid
  std::vector<std::string> conflicts_;
};

namespace detail {

/// Adds the modules built into microlith (the gateway) to `catalogue`.
void add_builtin_modules(module_catalogue& catalogue);

/// Registers a module in the global catalogue during static initialization.
struct module_registrar {
  explicit module_registrar(module_definition (*define)());
};

} // namespace detail

} // namespace microlith

/// Defines and registers a linked-in module; the body returns its module_definition.
#define MICROLITH_MODULE(ident)                                                                \
  static ::microlith::module_definition ident##_define_module();                               \
  static const ::microlith::detail::module_registrar ident##_module_registrar{                 \
    &ident##_define_module};                                                                   \
  static ::microlith::module_definition ident##_define_module()
