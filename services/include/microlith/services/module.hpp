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
// A module owns its tables in the system file (`[groups.NAME.TABLE]`, beside the common keys
// module, needs and the supervision flags): it declares them and reads them with its settings
// reader, which reports its mistakes with file, line, column and key (settings_table.hpp); its
// groups get what the reader made of them with group_context::settings<T>():
//
//   MICROLITH_MODULE(shop_cart) {
//     return microlith::module_definition{"shop.cart"}
//       .settings({"limits"}, [](const microlith::group_tables& t) {
//         cart_limits limits;
//         if (auto table = t.table("limits"))
//           limits.max_items = table->integer("max_items", 1, 1000, "an integer from 1 to 1000")
//                                .value_or(limits.max_items);
//         return limits;
//       })
//       .group("cart", [](microlith::group_context& g) {
//         const auto& limits = g.settings<cart_limits>();
//         ...
//       });
//   }
//
// A module that declares no `config` table gets its groups' `[groups.NAME.config]` free-form
// (scalars, group_context::setting()); one that declares it reads it like its other tables.
//
// A module may declare HTTP routes to its services in code, with the syntax of a gateway
// group's [routes] entry; every gateway group of a system whose groups use the module serves
// them beside its file's routes, and starts after the module's groups (docs/gateway.md):
//
//   MICROLITH_MODULE(acme_statements) {
//     return microlith::module_definition{"acme.statements"}
//       .group("statements", [](microlith::group_context& g) { ... })
//       .route("GET /statements/{account_id}", "statements.Get");
//   }
//
// A malformed route is a problem of the module: `microlith check` and `run` report it (naming
// the module, the route and what was expected) for every system that uses the module.
//
// Build a module with `microlith_add_module()` (CMake): it is an OBJECT library, so the
// registration object is linked into every program that links the module, even statically.
//
// A loadable module (`microlith_add_module(NAME SHARED VERSION x.y.z ...)`) is a shared library
// compiled with MICROLITH_MODULE_SHARED defined. There MICROLITH_MODULE(ident) registers nothing
// at static initialization; it defines the library's entry point instead,
//
//   extern "C" microlith::module_definition* microlith_module_v1();   // module_entry_symbol
//
// which answers a new module_definition (the body's) that the caller owns and deletes. A loader
// finds it with dlsym(handle, module_entry_symbol) once the library is open, and adds the
// definition to its catalogue. The library resolves microlith and the contracts it uses from
// the program that loads it (which links microlith whole and exports its symbols:
// microlith_enable_module_loading()) and from its contracts library, opened RTLD_GLOBAL first.
#pragma once

#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/services/settings_table.hpp"
#include "microlith/services/system_file.hpp"
#include "microlith/supervision/child_spec.hpp"

#include <any>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace microlith {

class code_server;
class toggle_board;
namespace detail {
class observer_runtime;
}

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

  /// The admin token in force (admin_token_for when the host was made: MICROLITH_ADMIN_TOKEN,
  /// else [admin] token); empty when none. A reload does not change it.
  virtual std::string admin_token() const = 0;

  /// What a running group does when the system file is reloaded: `handler` gets the group's
  /// new entry and applies what it can, or answers an error and keeps its old settings.
  /// Registering again replaces the handler.
  using reload_handler = std::function<caf::error(const group_config&)>;
  virtual void on_reload(const std::string& group, reload_handler handler) = 0;

  /// A group's HTTP gateway is listening on `port` (the bound port, also when the file said
  /// 0), or, with 0, no longer listening (host::http_port).
  virtual void on_listening(const std::string& group, std::uint16_t port) = 0;

  /// The node's code server (the modules installed at run time, `[modules] dir`), or null when
  /// the system file gives the node no module store. The gateway serves its routes and its
  /// admin operations.
  virtual code_server* modules() const = 0;

  /// The node's toggles (docs/toggles.md), or null before the host opened them. The gateway
  /// serves their admin operations.
  virtual toggle_board* toggles() const { return nullptr; }

  /// True when the node runs the built-in `jobs` service (a [jobs] database is set and the host
  /// opened it). The gateway serves its admin operations.
  virtual bool runs_jobs() const { return false; }

  /// The node's observer (docs/observer.md), or null outside a host. The gateway counts its
  /// requests for it and serves its admin paths and GET /metrics.
  virtual std::shared_ptr<detail::observer_runtime> observer() const { return nullptr; }
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

  /// A setting from the group's free-form `[groups.NAME.config]` table, if present (for a
  /// module that does not declare `config` among its tables).
  std::optional<config_value> setting(std::string_view key) const;

  /// Where a file the group keeps across restarts lives: `path` when absolute, else `path`
  /// inside the system's data folder (system_config::data_folder: `[system] data`, `microlith
  /// run --data DIR`, or the system file's folder). E.g. a database named in the group's config.
  std::string data_path(std::string_view path) const;

  /// What the module's settings reader made of the group's tables (module_definition::settings).
  /// Throws std::logic_error naming the group when the group has no settings of type T (its
  /// entry was not read by the module, e.g. built by hand in a test).
  template <class T>
  const T& settings() const {
    if (const auto* s = std::any_cast<T>(&config_.settings))
      return *s;
    no_settings(typeid(T));
  }

  /// A child running one instance of `def`: permanent, stopped within 5 s, started once it has
  /// built its state and registered. The child's id is the service's name.
  child_spec service(service_definition def) const;

  /// A child running a worker (same defaults as service()).
  child_spec worker(service_definition def) const;

private:
  [[noreturn]] void no_settings(const std::type_info& wanted) const;

  microlith::node& node_;
  const group_config& config_;
  group_host* host_;
};

/// Builds a group's children when the group starts (and again whenever it is started anew).
using group_builder = std::function<children(group_context&)>;

/// What a node knows of one of its running groups, for the group's description
/// (module_definition::describe).
struct group_status {
  std::uint16_t http_port = 0; ///< the port the group's HTTP gateway listens on; 0 = none
};

/// Lines telling an operator what a group's settings say. `status` is null when the file is
/// only checked (`microlith check`) and set when the group runs on this node (`microlith run`).
using group_describer =
  std::function<std::vector<std::string>(const group_config& group, const group_status* status)>;

/// Where a group's entry turns admin operations on (the gateway's `[http] admin = true`): the
/// dotted key and its position in the system file.
struct admin_switch {
  std::string key; ///< "groups.web.http.admin"
  int line = 0;
  int column = 0;
};

/// Answers where a group's entry turns admin operations on, or nothing when it does not.
using admin_finder = std::function<std::optional<admin_switch>(const group_config&)>;

/// Reads a group's tables into the module's settings for that group (module_definition::settings).
using settings_reader = std::function<std::any(const group_tables&)>;

/// A route a module declares in code (module_definition::route), as written, and what
/// gateway::parse_route made of it.
struct declared_route {
  std::string key;                         ///< "GET /statements/{account_id}"
  std::string target;                      ///< "statements.Get"
  std::optional<gateway::route_spec> spec; ///< the route; nullopt when it is malformed
  std::string problem; ///< why it is malformed (what was expected); empty when well-formed
};

/// A toggle a module declares in code (module_definition::toggle).
struct declared_toggle {
  std::string name; ///< "bank.transfer_fee"
  bool default_value = false;
  std::string description; ///< for operators
};

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

  /// A few words saying what the module is ("the gateway"), used in messages about its tables.
  module_definition& summary(std::string text);

  /// Declares the tables the module's groups have in the system file (`[groups.NAME.TABLE]` for
  /// each name in `tables`; "config" among them replaces the free-form config table) and the
  /// reader that reads them: `read(const group_tables&)` runs for each group of the module while
  /// the file is parsed, reports mistakes through the views it gets, and answers the group's
  /// settings (a copyable value, group_context::settings<T>()) or nothing (void). A table the
  /// module does not declare is refused in its groups' entries. Declaring again replaces both.
  template <class Read>
  module_definition& settings(std::vector<std::string> tables, Read read) {
    using result = std::decay_t<std::invoke_result_t<Read&, const group_tables&>>;
    if constexpr (std::is_void_v<result>)
      return settings_with(std::move(tables), [read = std::move(read)](const group_tables& t) {
        read(t);
        return std::any{};
      });
    else
      return settings_with(
        std::move(tables),
        [read = std::move(read)](const group_tables& t) -> std::any { return read(t); });
  }

  /// Declares how the module describes a group's settings to an operator (`microlith check`
  /// prints the lines under the file's summary, `microlith run` once the group started).
  module_definition& describe(group_describer describe);

  /// Declares an HTTP route to one of the module's services, written as a gateway group's
  /// [routes] entry: `key` "VERB /path/{param}", `target` "service.Method". The gateways of a
  /// system whose groups use the module serve it (checked against the contracts when they
  /// start). A malformed route is kept with the reason, which check_system() reports.
  module_definition& route(std::string key, std::string target);

  /// Declares a feature toggle its services check (call_context::enabled), with its value until
  /// an operator sets one and a description (docs/toggles.md). Every system whose groups use
  /// the module has it; a malformed name is reported by check_system().
  module_definition& toggle(std::string name, bool default_value, std::string description);

  /// Makes the module's groups serve the routes that the modules of the system's groups declare
  /// (the gateway): such a group starts after the groups of those modules
  /// (group_config::module_routes, route_needs).
  module_definition& serve_module_routes();

  /// Declares how to tell whether a group of the module serves admin operations (which need
  /// the admin token: check_system refuses such a group while none is set, admin_token_for).
  module_definition& admin_operations(admin_finder find);

  const std::string& name() const noexcept { return name_; }
  const std::string& summary() const noexcept { return summary_; }
  const std::vector<group_definition>& groups() const noexcept { return groups_; }

  /// True when a group of any name may use this module (any_group).
  bool serves_any_group() const noexcept { return any_group_.has_value(); }

  /// The routes it declares (route()), in the order declared, malformed ones included.
  const std::vector<declared_route>& routes() const noexcept { return routes_; }

  /// The toggles it declares (toggle()), in the order declared.
  const std::vector<declared_toggle>& toggles() const noexcept { return toggles_; }

  /// True when its groups serve the routes modules declare (serve_module_routes()).
  bool serves_module_routes() const noexcept { return serves_module_routes_; }

  /// The tables its groups have (settings()), in the order declared.
  const std::vector<std::string>& tables() const noexcept { return tables_; }

  /// Whether its groups have a table `name`.
  bool declares(std::string_view table) const;

  /// Whether it reads its groups' tables (settings() was called).
  bool reads_settings() const noexcept { return static_cast<bool>(read_); }

  /// Runs its settings reader for one group (the parser does); an empty value without one.
  std::any read_settings(const group_tables& tables) const;

  /// Its description of `group` (describe()); empty without a describer.
  std::vector<std::string> describe_group(const group_config& group,
                                          const group_status* status) const;

  /// Where `group`'s entry turns admin operations on (admin_operations()); nothing when it
  /// does not or the module serves none.
  std::optional<admin_switch> admin_use(const group_config& group) const;

  /// The group called `name` (or the any-group definition), or nullptr.
  const group_definition* find_group(std::string_view name) const;

private:
  module_definition& settings_with(std::vector<std::string> tables, settings_reader read);

  std::string name_;
  std::string summary_;
  std::vector<group_definition> groups_;
  std::optional<group_definition> any_group_;
  std::vector<std::string> tables_;
  settings_reader read_;
  group_describer describe_;
  std::vector<declared_route> routes_;
  std::vector<declared_toggle> toggles_;
  bool serves_module_routes_ = false;
  admin_finder admin_;
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

  /// The names of the modules whose groups have a table `name`, sorted.
  std::vector<std::string> declaring(std::string_view table) const;

  /// Problems found while registering (duplicate names), for `check` and `run` to report.
  std::vector<std::string> conflicts() const;

private:
  mutable std::mutex mutex_;
  std::deque<module_definition> modules_; // a deque: find() pointers stay valid
  std::vector<std::string> conflicts_;
};

/// The name of a loadable module's entry point, `extern "C" module_definition* ()`, defined by
/// MICROLITH_MODULE in a library compiled with MICROLITH_MODULE_SHARED; the caller owns the
/// definition it answers.
inline constexpr const char* module_entry_symbol = "microlith_module_v1";

/// The type of a loadable module's entry point (module_entry_symbol).
using module_entry_function = module_definition* (*)();

namespace detail {

/// Adds the modules built into microlith (the gateway) to `catalogue`.
void add_builtin_modules(module_catalogue& catalogue);

/// Registers a module in the global catalogue during static initialization.
struct module_registrar {
  explicit module_registrar(module_definition (*define)());
};

} // namespace detail

} // namespace microlith

#ifdef MICROLITH_MODULE_SHARED

/// Defines a loadable module's entry point (module_entry_symbol); the body returns its
/// module_definition, which the entry point answers as a new object the loader owns.
#define MICROLITH_MODULE(ident)                                                                    \
  static ::microlith::module_definition ident##_define_module();                                   \
  extern "C" __attribute__((visibility("default"))) ::microlith::module_definition*                \
  microlith_module_v1() {                                                                          \
    return new ::microlith::module_definition(ident##_define_module());                            \
  }                                                                                                \
  static ::microlith::module_definition ident##_define_module()

#else

/// Defines and registers a linked-in module; the body returns its module_definition.
#define MICROLITH_MODULE(ident)                                                                    \
  static ::microlith::module_definition ident##_define_module();                                   \
  static const ::microlith::detail::module_registrar ident##_module_registrar{                     \
    &ident##_define_module};                                                                       \
  static ::microlith::module_definition ident##_define_module()

#endif
