// Parser and validator for system files; see microlith/services/system_file.hpp.
#include "microlith/services/system_file.hpp"

#include "microlith/services/module.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/net/cluster/tls.hpp"

#include "detail/data_folder.hpp"
#include "detail/listen_address.hpp"
#include "detail/settings_reading.hpp"
#include "detail/toml_text.hpp"
#include "jobs/jobs_settings.hpp"
#include "modules/modules_settings.hpp"
#include "observer/observer_settings.hpp"
#include "toggles/toggles_settings.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <limits>
#include <memory>
#include <system_error>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

namespace microlith {

namespace {

using detail::describe_value;
using detail::is_name_char;
using detail::join_key;
using detail::parse_listen;
using detail::quote;
using detail::type_description;
using std::chrono::milliseconds;

constexpr std::string_view duration_expectation =
  R"(expected a duration string such as "5s" or "250ms")";

bool is_valid_name(std::string_view name) noexcept {
  return !name.empty() && std::all_of(name.begin(), name.end(), is_name_char);
}

std::string join_names(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty())
      out += ", ";
    out += name;
  }
  return out;
}

template <class T>
struct choice {
  std::string_view name;
  T value;
};

constexpr choice<restart_type> restart_choices[] = {
  {"permanent", restart_type::permanent},
  {"transient", restart_type::transient},
  {"temporary", restart_type::temporary},
};

constexpr choice<microlith::strategy> strategy_choices[] = {
  {"one_for_one", microlith::strategy::one_for_one},
  {"one_for_all", microlith::strategy::one_for_all},
  {"rest_for_one", microlith::strategy::rest_for_one},
};

constexpr choice<std::string_view> log_level_choices[] = {
  {"trace", "trace"}, {"debug", "debug"}, {"info", "info"}, {"warn", "warn"}, {"error", "error"},
};

// The keys of [groups.NAME] that every group has; its other tables belong to its module.
constexpr std::string_view common_group_keys[] = {"module",    "needs",  "restart",  "strategy",
                                                  "intensity", "period", "shutdown", "backoff",
                                                  "config",    "jobs"};

// A table being read, with the dotted key that leads to it.
struct scope {
  const toml::table& table;
  std::string prefix;

  std::string key(std::string_view child) const { return join_key(prefix, child); }
};

// Positions of what was read, kept for the checks that span several tables.
struct group_extra {
  const toml::table* table = nullptr;
  std::vector<const toml::node*> need_nodes; // parallel to group_config::needs
};

struct node_extra {
  const toml::table* table = nullptr;
  const toml::node* listen = nullptr;
  bool listen_valid = false;
  bool groups_complete = false;               // groups was read without errors and is non-empty
  std::vector<const toml::node*> group_nodes; // parallel to node_config::groups
};

class system_file_parser {
public:
  system_file_parser(std::string_view path, const module_catalogue& modules,
                     const std::string& data_folder)
    : path_(path), modules_(modules), data_folder_given_(data_folder) {}

  system_config parse(std::string_view text) {
    config_.path = path_;
    config_.data_folder =
      data_folder_given_.empty() ? detail::default_data_folder(path_) : data_folder_given_;
    toml::table root;
    try {
      root = toml::parse(text, path_);
    } catch (const toml::parse_error& e) {
      const auto& at = e.source().begin;
      add_error(static_cast<int>(at.line), static_cast<int>(at.column), "",
                std::string(e.description()));
      throw_if_errors();
    }
    read_root(root);
    add_module_routes();
    check_needs();
    check_nodes();
    throw_if_errors();
    return std::move(config_);
  }

private:
  void add_error(int line, int column, std::string key, std::string message) {
    errors_.push_back(system_file_error{path_, line, column, std::move(key), std::move(message)});
  }

  void add_error(const toml::source_region& at, std::string key, std::string message) {
    add_error(static_cast<int>(at.begin.line), static_cast<int>(at.begin.column), std::move(key),
              std::move(message));
  }

  void add_error(const toml::node& at, std::string key, std::string message) {
    add_error(at.source(), std::move(key), std::move(message));
  }

  void throw_if_errors() {
    if (errors_.empty())
      return;
    std::stable_sort(errors_.begin(), errors_.end(),
                     [](const system_file_error& a, const system_file_error& b) {
                       return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                     });
    throw system_file_errors(std::move(errors_));
  }

  void check_keys(const scope& s, std::initializer_list<std::string_view> allowed) {
    for (auto&& [k, v] : s.table) {
      (void)v;
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end())
        continue;
      add_error(
        k.source(), s.key(k.str()),
        fmt::format("unknown key {}; expected one of {}", quote(k.str()), join_names(allowed)));
    }
  }

  void missing(const scope& s, std::string_view name) {
    add_error(s.table, s.key(name), "missing required key");
  }

  void type_error(const toml::node& node, const std::string& key, std::string_view expected) {
    add_error(node, key, fmt::format("expected {}, got {}", expected, type_description(node)));
  }

  // The value of key `name` of `s`, or nullptr (reported as missing when `required`).
  const toml::node* find(const scope& s, std::string_view name, bool required) {
    const toml::node* node = s.table.get(name);
    if (node == nullptr && required)
      missing(s, name);
    return node;
  }

  // The child table `name` of `s`, or nullptr (with an error if present but not a table).
  const toml::table* child_table(const scope& s, std::string_view name) {
    const toml::node* node = s.table.get(name);
    if (node == nullptr)
      return nullptr;
    if (const auto* t = node->as_table())
      return t;
    type_error(*node, s.key(name), "a table");
    return nullptr;
  }

  const toml::node* read_string(const scope& s, std::string_view name, bool required,
                                std::string& out) {
    const toml::node* node = find(s, name, required);
    if (node == nullptr)
      return nullptr;
    const auto* str = node->as_string();
    if (str == nullptr) {
      type_error(*node, s.key(name), "a string");
      return nullptr;
    }
    out = str->get();
    return node;
  }

  void read_name(const scope& s, std::string_view name, std::string& out) {
    const toml::node* node = read_string(s, name, true, out);
    if (node != nullptr && !is_valid_name(out)) {
      add_error(*node, s.key(name),
                fmt::format("expected a name made of letters, digits, '_', '.' and '-', got {}",
                            quote(out)));
    }
  }

  template <class T>
  void read_integer(const scope& s, std::string_view name, std::int64_t min, std::int64_t max,
                    std::string_view expectation, T& out) {
    const toml::node* node = s.table.get(name);
    if (node == nullptr)
      return;
    const auto* integer = node->as_integer();
    if (integer == nullptr) {
      type_error(*node, s.key(name), "an integer");
      return;
    }
    const std::int64_t value = integer->get();
    if (value < min || value > max) {
      add_error(*node, s.key(name), fmt::format("expected {}, got {}", expectation, value));
      return;
    }
    out = static_cast<T>(value);
  }

  template <class T, std::size_t N>
  void read_choice(const scope& s, std::string_view name, const choice<T> (&choices)[N], T& out) {
    std::string text;
    const toml::node* node = read_string(s, name, false, text);
    if (node == nullptr)
      return;
    for (const auto& c : choices) {
      if (c.name == text) {
        out = c.value;
        return;
      }
    }
    std::string names;
    for (const auto& c : choices) {
      if (!names.empty())
        names += ", ";
      names += c.name;
    }
    add_error(*node, s.key(name), fmt::format("expected one of {}, got {}", names, quote(text)));
  }

  // Reads a duration; `allow_zero` decides whether "0s" is accepted. Returns the node when a
  // valid value was stored in `out`.
  const toml::node* read_duration(const scope& s, std::string_view name, bool required,
                                  bool allow_zero, milliseconds& out) {
    const toml::node* node = find(s, name, required);
    if (node == nullptr)
      return nullptr;
    const auto* str = node->as_string();
    if (str == nullptr) {
      add_error(*node, s.key(name),
                fmt::format("{}, got {}", duration_expectation, type_description(*node)));
      return nullptr;
    }
    const auto value = parse_duration(str->get());
    if (!value) {
      add_error(*node, s.key(name),
                fmt::format("{}, got {}", duration_expectation, quote(str->get())));
      return nullptr;
    }
    if (!allow_zero && value->count() == 0) {
      add_error(*node, s.key(name),
                fmt::format("expected a duration greater than 0, got {}", quote(str->get())));
      return nullptr;
    }
    out = *value;
    return node;
  }

  // Reads an array of strings; element nodes go to `nodes` (parallel to `out`).
  const toml::node* read_string_array(const scope& s, std::string_view name, bool required,
                                      std::vector<std::string>& out,
                                      std::vector<const toml::node*>& nodes) {
    const toml::node* node = find(s, name, required);
    if (node == nullptr)
      return nullptr;
    const auto* array = node->as_array();
    if (array == nullptr) {
      type_error(*node, s.key(name), "an array of strings");
      return nullptr;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = (*array)[i];
      if (const auto* str = element.as_string()) {
        out.push_back(str->get());
        nodes.push_back(&element);
      } else {
        type_error(element, fmt::format("{}[{}]", s.key(name), i), "a string");
      }
    }
    return node;
  }

  // The entries of a table of tables ([groups.X], [nodes.X]) in file order.
  std::vector<std::pair<std::string, const toml::table*>> sub_tables(const scope& s) {
    struct entry {
      std::string name;
      const toml::table* table;
      toml::source_position at;
    };
    std::vector<entry> entries;
    for (auto&& [k, v] : s.table) {
      if (const auto* t = v.as_table()) {
        entries.push_back(entry{std::string(k.str()), t, t->source().begin});
      } else {
        type_error(v, s.key(k.str()), "a table");
      }
    }
    std::stable_sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
      return std::pair(a.at.line, a.at.column) < std::pair(b.at.line, b.at.column);
    });
    std::vector<std::pair<std::string, const toml::table*>> out;
    for (auto& e : entries)
      out.emplace_back(std::move(e.name), e.table);
    return out;
  }

  void check_entry_name(const toml::table& parent, const std::string& name, const std::string& key,
                        std::string_view what) {
    if (is_valid_name(name))
      return;
    const toml::source_region* at = nullptr;
    for (auto&& [k, v] : parent) {
      (void)v;
      if (k.str() == name)
        at = &k.source();
    }
    add_error(at != nullptr ? *at : parent.source(), key,
              fmt::format("invalid {} name {}; expected letters, digits, '_', '.' and '-'", what,
                          quote(name)));
  }

  void read_root(const toml::table& root) {
    const scope s{root, ""};
    check_keys(s, {"system", "groups", "nodes", "cluster", "admin", "modules", "toggles", "jobs",
                   "observer"});

    if (root.get("system") == nullptr) {
      add_error(0, 0, "system", "missing required table [system]");
    } else if (const auto* system = child_table(s, "system")) {
      read_system(scope{*system, "system"});
    }

    const toml::node* groups_node = root.get("groups");
    const toml::table* groups = child_table(s, "groups");
    if (groups != nullptr)
      read_groups(scope{*groups, "groups"});
    if (config_.groups.empty()) {
      const std::string message = "no groups defined; expected at least one [groups.NAME] table";
      if (groups != nullptr) {
        add_error(*groups, "groups", message);
      } else if (groups_node == nullptr) {
        add_error(0, 0, "groups", message);
      }
    }

    if (const auto* nodes = child_table(s, "nodes"))
      read_nodes(scope{*nodes, "nodes"});
    if (const auto* cluster = child_table(s, "cluster"))
      read_cluster(scope{*cluster, "cluster"});
    if (const auto* admin = child_table(s, "admin"))
      read_admin(scope{*admin, "admin"});
    if (const auto* modules = child_table(s, "modules"))
      config_.modules =
        detail::read_modules_settings(*modules, path_, config_.data_folder, errors_);
    if (const auto* toggles = child_table(s, "toggles"))
      config_.toggles =
        detail::read_toggles_settings(*toggles, path_, config_.data_folder, errors_);
    if (const auto* jobs = child_table(s, "jobs"))
      config_.jobs = detail::read_jobs_settings(*jobs, path_, config_.data_folder, errors_);
    if (const auto* observer = child_table(s, "observer"))
      config_.observer = detail::read_observer_settings(*observer, path_, config_.nodes, errors_);
    check_job_queues();
  }

  // [admin]: the token is never quoted back in a message.
  void read_admin(const scope& s) {
    check_keys(s, {"token"});
    std::string token;
    const toml::node* node = read_string(s, "token", false, token);
    if (node == nullptr)
      return;
    if (auto problem = admin_token_problem(token)) {
      add_error(*node, s.key("token"), *problem);
      return;
    }
    config_.admin.token = std::move(token);
    config_.admin.line = static_cast<int>(node->source().begin.line);
  }

  void read_system(const scope& s) {
    check_keys(s, {"name", "threads", "idle_spin_polls", "idle_nap_polls", "idle_wait",
                   "shutdown_timeout", "log_level", "data"});
    read_name(s, "name", config_.name);
    read_data_folder(s);
    read_integer(s, "threads", 0, 256, "an integer from 0 to 256 (0 = hardware concurrency)",
                 config_.threads);
    read_integer(s, "idle_spin_polls", 1, 10'000'000, "an integer from 1 to 10000000",
                 config_.idle_spin_polls);
    read_integer(s, "idle_nap_polls", 0, 10'000'000, "an integer from 0 to 10000000",
                 config_.idle_nap_polls);
    read_duration(s, "idle_wait", false, false, config_.idle_wait);
    read_duration(s, "shutdown_timeout", false, false, config_.shutdown_timeout);
    std::string_view level = config_.log_level;
    read_choice(s, "log_level", log_level_choices, level);
    config_.log_level = std::string(level);
  }

  // data: the data folder, relative to the file's folder; a folder given to the parser wins.
  void read_data_folder(const scope& s) {
    std::string data;
    const toml::node* node = read_string(s, "data", false, data);
    if (node == nullptr)
      return;
    config_.data_line = static_cast<int>(node->source().begin.line);
    if (data.empty() || data.find('\0') != std::string::npos) {
      add_error(*node, s.key("data"),
                fmt::format("expected a folder (a non-empty path without NUL characters), got {}",
                            quote(data)));
      return;
    }
    if (data_folder_given_.empty())
      config_.data_folder = detail::in_data_folder(detail::default_data_folder(path_), data);
  }

  void read_groups(const scope& s) {
    for (auto& [name, table] : sub_tables(s)) {
      group_config group;
      group_extra extra;
      group.name = name;
      group.line = static_cast<int>(table->source().begin.line);
      extra.table = table;
      check_entry_name(s.table, name, s.key(name), "group");
      read_group(scope{*table, s.key(name)}, group, extra);
      config_.groups.push_back(std::move(group));
      group_extras_.push_back(std::move(extra));
    }
  }

  void read_group(const scope& s, group_config& group, group_extra& extra) {
    group.data_folder = config_.data_folder;
    if (const auto* module = read_string(s, "module", true, group.module)) {
      group.module_line = static_cast<int>(module->source().begin.line);
      if (group.module.empty())
        add_error(*module, s.key("module"), "expected a non-empty module name");
    }
    const module_definition* module = group.module.empty() ? nullptr : modules_.find(group.module);
    check_group_keys(s, group, module);
    read_string_array(s, "needs", false, group.needs, extra.need_nodes);
    read_choice(s, "restart", restart_choices, group.restart);
    read_choice(s, "strategy", strategy_choices, group.strategy);
    read_integer(s, "intensity", 0, std::numeric_limits<int>::max(), "an integer >= 0",
                 group.intensity);
    read_duration(s, "period", false, false, group.period);
    read_shutdown(s, group.shutdown);
    if (const auto* backoff = child_table(s, "backoff")) {
      group.backoff = read_backoff(scope{*backoff, s.key("backoff")});
    }
    const bool module_reads_config = module != nullptr && module->declares("config");
    if (!module_reads_config) {
      if (const auto* config = child_table(s, "config")) {
        read_group_settings(scope{*config, s.key("config")}, group);
      }
    }
    if (module != nullptr && module->reads_settings())
      read_module_tables(s, group, *module);
    // A group's queues belong to the jobs capability, whatever the group's module.
    if (const auto* jobs = child_table(s, "jobs"))
      group.job_queues = detail::read_job_queues(*jobs, s.key("jobs"), path_, errors_);
  }

  // Queues need the job store, and a queue name is the system's once.
  void check_job_queues() {
    std::map<std::string, const group_config*> seen;
    for (const auto& group : config_.groups) {
      for (const auto& queue : group.job_queues) {
        const std::string key = fmt::format("groups.{}.jobs.{}", group.name, queue.name);
        if (config_.jobs.database.empty() && config_.jobs.line == 0)
          add_error(
            queue.line, 0, key,
            fmt::format("queue {} needs the job store: set [jobs] database", quote(queue.name)));
        const auto [at, inserted] = seen.emplace(queue.name, &group);
        if (!inserted)
          add_error(queue.line, 0, key,
                    fmt::format("queue {} is declared by group {} already; a queue name is "
                                "the system's once",
                                quote(queue.name), quote(at->second->name)));
      }
    }
    // A cron schedule enqueues on a queue some group declares.
    for (const auto& cron : config_.jobs.cron)
      if (!cron.queue.empty() && seen.count(cron.queue) == 0) {
        std::vector<std::string> names;
        for (const auto& [name, group] : seen)
          names.push_back(quote(name));
        add_error(cron.line, 0, fmt::format("jobs.cron.{}.queue", cron.name),
                  fmt::format("queue {} is not declared by any group; expected one of {}",
                              quote(cron.queue),
                              names.empty() ? std::string{"(none: declare it in "
                                                          "[groups.NAME.jobs.QUEUE])"}
                                            : fmt::format("{}", fmt::join(names, ", "))));
      }
  }

  // A group's keys are the common ones and the tables its module declares.
  void check_group_keys(const scope& s, const group_config& group,
                        const module_definition* module) {
    for (auto&& [k, v] : s.table) {
      const std::string_view name = k.str();
      if (std::find(std::begin(common_group_keys), std::end(common_group_keys), name)
          != std::end(common_group_keys)) {
        continue;
      }
      if (module != nullptr && module->declares(name))
        continue;
      if (const auto owners = modules_.declaring(name); !owners.empty()) {
        add_error(v, s.key(name), foreign_table(name, owners));
      } else {
        add_error(k.source(), s.key(name), unknown_group_key(name, group, module));
      }
    }
  }

  // Why a table that other modules declare is not in a group of this one.
  std::string foreign_table(std::string_view name, const std::vector<std::string>& owners) const {
    if (owners.size() == 1) {
      const auto* owner = modules_.find(owners.front());
      const std::string summary =
        owner != nullptr && !owner->summary().empty() ? fmt::format(" ({})", owner->summary()) : "";
      return fmt::format("only groups of module {}{} have a [{}] table", quote(owners.front()),
                         summary, name);
    }
    std::vector<std::string> quoted;
    for (const auto& owner : owners)
      quoted.push_back(quote(owner));
    return fmt::format("only groups of modules {} have a [{}] table", fmt::join(quoted, ", "),
                       name);
  }

  // Why `name` is not a key of `group`, and what is.
  std::string unknown_group_key(std::string_view name, const group_config& group,
                                const module_definition* module) const {
    std::vector<std::string_view> allowed(std::begin(common_group_keys),
                                          std::end(common_group_keys));
    if (module != nullptr) {
      for (const auto& table : module->tables()) {
        if (std::find(allowed.begin(), allowed.end(), table) == allowed.end())
          allowed.push_back(table);
      }
    }
    std::string out =
      fmt::format("unknown key {}; expected one of {}", quote(name), fmt::join(allowed, ", "));
    if (module == nullptr && !group.module.empty()) {
      out +=
        fmt::format(" (module {} is not linked into this program, so no table of its own is known)",
                    quote(group.module));
    }
    return out;
  }

  // The group's tables read by its module's settings reader; the result is kept when the
  // reader found no mistake.
  void read_module_tables(const scope& s, group_config& group, const module_definition& module) {
    const std::size_t before = errors_.size();
    detail::settings_reading reading{path_, errors_};
    std::any settings;
    try {
      settings =
        module.read_settings(reading.group(s.table, group.name, s.prefix, module.tables()));
    } catch (const std::exception& e) {
      add_error(
        s.table, s.prefix,
        fmt::format("the settings reader of module {} failed: {}", quote(module.name()), e.what()));
    }
    reading.refuse_unknown_keys();
    if (errors_.size() == before)
      group.settings = std::move(settings);
  }

  void read_shutdown(const scope& s, shutdown_setting& out) {
    const toml::node* node = s.table.get("shutdown");
    if (node == nullptr)
      return;
    constexpr std::string_view expectation =
      R"(expected a duration string such as "5s" or "250ms", or "infinity" or "brutal_kill")";
    const auto* str = node->as_string();
    if (str == nullptr) {
      add_error(*node, s.key("shutdown"),
                fmt::format("{}, got {}", expectation, type_description(*node)));
      return;
    }
    if (str->get() == "infinity") {
      out = shutdown_setting{shutdown_setting::kind::infinity, milliseconds{0}};
    } else if (str->get() == "brutal_kill") {
      out = shutdown_setting{shutdown_setting::kind::brutal_kill, milliseconds{0}};
    } else if (const auto value = parse_duration(str->get())) {
      out = shutdown_setting{shutdown_setting::kind::timeout, *value};
    } else {
      add_error(*node, s.key("shutdown"),
                fmt::format("{}, got {}", expectation, quote(str->get())));
    }
  }

  std::optional<backoff_config> read_backoff(const scope& s) {
    check_keys(s, {"min", "max", "jitter", "reset_after"});
    backoff_config backoff;
    const toml::node* min = read_duration(s, "min", true, false, backoff.min);
    const toml::node* max = read_duration(s, "max", true, false, backoff.max);
    if (min != nullptr && max != nullptr && backoff.max < backoff.min) {
      add_error(*max, s.key("max"),
                fmt::format("expected a duration >= min ({}), got {}",
                            quote(min->as_string()->get()), quote(max->as_string()->get())));
    }
    if (const toml::node* jitter = s.table.get("jitter")) {
      std::optional<double> value;
      if (const auto* f = jitter->as_floating_point())
        value = f->get();
      if (const auto* i = jitter->as_integer())
        value = static_cast<double>(i->get());
      if (!value) {
        type_error(*jitter, s.key("jitter"), "a number from 0.0 to 1.0");
      } else if (!(*value >= 0.0 && *value <= 1.0)) {
        add_error(
          *jitter, s.key("jitter"),
          fmt::format("expected a number from 0.0 to 1.0, got {}", describe_value(*jitter)));
      } else {
        backoff.jitter = *value;
      }
    }
    read_duration(s, "reset_after", false, false, backoff.reset_after);
    return backoff;
  }

  void read_group_settings(const scope& s, group_config& group) {
    for (auto&& [k, v] : s.table) {
      const std::string name(k.str());
      if (const auto* b = v.as_boolean()) {
        group.config.emplace(name, config_value{b->get()});
      } else if (const auto* i = v.as_integer()) {
        group.config.emplace(name, config_value{i->get()});
      } else if (const auto* f = v.as_floating_point()) {
        group.config.emplace(name, config_value{f->get()});
      } else if (const auto* str = v.as_string()) {
        group.config.emplace(name, config_value{str->get()});
      } else {
        type_error(v, s.key(name), "a string, integer, float or boolean");
      }
    }
  }

  void read_nodes(const scope& s) {
    for (auto& [name, table] : sub_tables(s)) {
      node_config node;
      node_extra extra;
      node.name = name;
      node.line = static_cast<int>(table->source().begin.line);
      extra.table = table;
      check_entry_name(s.table, name, s.key(name), "node");
      const scope ns{*table, s.key(name)};
      check_keys(ns, {"listen", "groups", "tls"});
      if (const auto* tls = child_table(ns, "tls"))
        node.tls = read_tls(scope{*tls, ns.key("tls")});
      std::string listen;
      if ((extra.listen = read_string(ns, "listen", true, listen)) != nullptr) {
        if (auto address = parse_listen(listen)) {
          node.host = std::move(address->host);
          node.port = address->port;
          extra.listen_valid = true;
        } else {
          add_error(*extra.listen, ns.key("listen"),
                    fmt::format(R"(expected "host:port" with a port from 0 to 65535, got {})",
                                quote(listen)));
        }
      }
      if (const auto* groups =
            read_string_array(ns, "groups", true, node.groups, extra.group_nodes)) {
        extra.groups_complete =
          !node.groups.empty() && node.groups.size() == groups->as_array()->size();
        if (groups->as_array()->empty()) {
          add_error(*groups, ns.key("groups"), "expected a non-empty array of group names");
        }
      }
      config_.nodes.push_back(std::move(node));
      node_extras_.push_back(std::move(extra));
    }
  }

  void read_cluster(const scope& s) {
    check_keys(s, {"cookie", "heartbeat_interval", "heartbeat_timeout", "tls"});
    if (const auto* tls = child_table(s, "tls"))
      config_.cluster.tls = read_tls(scope{*tls, s.key("tls")});
    read_string(s, "cookie", false, config_.cluster.cookie);
    milliseconds interval{0};
    milliseconds timeout{0};
    const toml::node* interval_node =
      read_duration(s, "heartbeat_interval", false, false, interval);
    const toml::node* timeout_node = read_duration(s, "heartbeat_timeout", false, false, timeout);
    if (interval_node != nullptr)
      config_.cluster.heartbeat_interval = interval;
    if (timeout_node != nullptr)
      config_.cluster.heartbeat_timeout = timeout;
    if (interval_node != nullptr && timeout_node != nullptr && timeout <= interval) {
      add_error(*timeout_node, s.key("heartbeat_timeout"),
                fmt::format("expected a duration greater than heartbeat_interval ({}), got {}",
                            quote(interval_node->as_string()->get()),
                            quote(timeout_node->as_string()->get())));
    }
  }

  // A path of the tls table, resolved against the system file's folder.
  std::string tls_path(const std::string& path) const {
    return detail::in_data_folder(detail::default_data_folder(path_), path);
  }

  // [cluster.tls] or [nodes.NAME.tls]: every file is read now, so `microlith check` reports a
  // missing file, a PEM that is not one, a key of another certificate or a malformed fingerprint.
  tls_config read_tls(const scope& s) {
    tls_config tls;
    tls.table = s.prefix;
    tls.line = static_cast<int>(s.table.source().begin.line);
    check_keys(s, {"certificate", "key", "trusted"});
    std::string certificate;
    std::string key;
    const toml::node* cert_node = read_string(s, "certificate", true, certificate);
    const toml::node* key_node = read_string(s, "key", true, key);
    bool cert_ok = false;
    if (cert_node != nullptr) {
      tls.certificate = tls_path(certificate);
      if (auto fp = cluster::tls::certificate_fingerprint(tls.certificate); !fp)
        add_error(*cert_node, s.key("certificate"),
                  fmt::format("expected a PEM certificate file, got {} ({})", quote(certificate),
                              message_of(fp.error())));
      else
        cert_ok = true;
    }
    if (key_node != nullptr) {
      tls.key = tls_path(key);
      if (cert_ok) {
        if (auto err = cluster::tls::check_key_matches(tls.certificate, tls.key))
          add_error(*key_node, s.key("key"),
                    fmt::format("expected the PEM private key of {}, got {} ({})",
                                quote(certificate), quote(key), message_of(err)));
      }
    }
    std::vector<std::string> trusted;
    std::vector<const toml::node*> nodes;
    if (const auto* array = read_string_array(s, "trusted", true, trusted, nodes)) {
      if (array->as_array()->empty())
        add_error(*array, s.key("trusted"),
                  "expected a non-empty array of certificate files or \"sha256:FINGERPRINT\" "
                  "entries, got []");
    }
    for (std::size_t i = 0; i < trusted.size(); ++i) {
      const std::string& entry = trusted[i];
      const std::string element_key = fmt::format("{}[{}]", s.key("trusted"), i);
      if (entry.rfind("sha256:", 0) == 0) {
        if (auto fp = cluster::tls::parse_fingerprint(entry))
          tls.trusted_fingerprints.push_back(*fp);
        else
          add_error(*nodes[i], element_key,
                    fmt::format("expected \"sha256:\" and 64 hex digits (colons allowed between "
                                "them), got {}",
                                quote(entry)));
        continue;
      }
      auto path = tls_path(entry);
      if (auto fp = cluster::tls::certificate_fingerprint(path); !fp)
        add_error(*nodes[i], element_key,
                  fmt::format("expected a PEM certificate file or \"sha256:FINGERPRINT\", got {} "
                              "({})",
                              quote(entry), message_of(fp.error())));
      else
        tls.trusted_certificates.push_back(std::move(path));
    }
    return tls;
  }

  std::optional<std::size_t> group_index(std::string_view name) const {
    for (std::size_t i = 0; i < config_.groups.size(); ++i) {
      if (config_.groups[i].name == name)
        return i;
    }
    return std::nullopt;
  }

  // Gives each group whose module serves module routes (the gateway) the routes that the
  // modules of the other groups declare, and those groups as route_needs.
  void add_module_routes() {
    for (auto& server : config_.groups) {
      const auto* serving = modules_.find(server.module);
      if (serving == nullptr || !serving->serves_module_routes())
        continue;
      std::vector<std::string> seen;
      for (const auto& group : config_.groups) {
        if (&group == &server)
          continue;
        const auto* declaring = modules_.find(group.module);
        if (declaring == nullptr || declaring->routes().empty())
          continue;
        if (std::find(server.needs.begin(), server.needs.end(), group.name) == server.needs.end())
          server.route_needs.push_back(group.name);
        if (std::find(seen.begin(), seen.end(), group.module) != seen.end())
          continue;
        seen.push_back(group.module);
        for (const auto& r : declaring->routes())
          if (r.spec)
            server.module_routes.push_back(module_route{declaring->name(), *r.spec});
      }
    }
  }

  // Why a dependency cycle through `route_edges` exists: the groups that start after others
  // because they serve the routes of those others' modules.
  std::string route_reasons(const std::vector<std::pair<std::size_t, std::size_t>>& route_edges) {
    std::vector<std::string> reasons;
    for (const auto& [server, group] : route_edges)
      reasons.push_back(fmt::format("{} starts after {} because it serves the routes module {} "
                                    "declares",
                                    config_.groups[server].name, config_.groups[group].name,
                                    config_.groups[group].module));
    return reasons.empty() ? std::string{} : fmt::format(" ({})", fmt::join(reasons, "; "));
  }

  // Unknown, duplicate and self references in needs, then dependency cycles (route_needs
  // included).
  void check_needs() {
    const std::size_t count = config_.groups.size();
    // edges[i] = (needed group index, node of the needs entry; null for a route need)
    std::vector<std::vector<std::pair<std::size_t, const toml::node*>>> edges(count);
    for (std::size_t i = 0; i < count; ++i) {
      const group_config& group = config_.groups[i];
      const std::string key = join_key(join_key("groups", group.name), "needs");
      for (std::size_t j = 0; j < group.needs.size(); ++j) {
        const std::string& need = group.needs[j];
        const toml::node& at = *group_extras_[i].need_nodes[j];
        const auto target = group_index(need);
        if (!target) {
          add_error(at, key, fmt::format("unknown group {}", quote(need)));
        } else if (*target == i) {
          add_error(at, key, fmt::format("group {} needs itself", quote(need)));
        } else if (std::find(group.needs.begin(),
                             group.needs.begin() + static_cast<std::ptrdiff_t>(j), need)
                   != group.needs.begin() + static_cast<std::ptrdiff_t>(j)) {
          add_error(at, key, fmt::format("group {} is listed more than once", quote(need)));
        } else {
          edges[i].emplace_back(*target, &at);
        }
      }
      for (const auto& need : group.route_needs)
        if (const auto target = group_index(need))
          edges[i].emplace_back(*target, nullptr);
    }

    enum class mark { unvisited, active, done };
    std::vector<mark> marks(count, mark::unvisited);
    std::vector<std::size_t> path;
    // Iterative depth-first search; each back edge closes one cycle.
    for (std::size_t start = 0; start < count; ++start) {
      if (marks[start] != mark::unvisited)
        continue;
      std::vector<std::pair<std::size_t, std::size_t>> stack{{start, 0}}; // (group, next edge)
      marks[start] = mark::active;
      path.push_back(start);
      while (!stack.empty()) {
        auto& [current, next] = stack.back();
        if (next == edges[current].size()) {
          marks[current] = mark::done;
          path.pop_back();
          stack.pop_back();
          continue;
        }
        const auto [target, at] = edges[current][next++];
        if (marks[target] == mark::unvisited) {
          marks[target] = mark::active;
          path.push_back(target);
          stack.emplace_back(target, 0);
        } else if (marks[target] == mark::active) {
          const auto first = std::find(path.begin(), path.end(), target);
          std::string cycle;
          std::vector<std::pair<std::size_t, std::size_t>> route_edges;
          for (auto it = first; it != path.end(); ++it) {
            cycle += config_.groups[*it].name;
            cycle += " -> ";
            const auto next_group = it + 1 == path.end() ? target : *(it + 1);
            const auto& needs = config_.groups[*it].needs;
            if (std::find(needs.begin(), needs.end(), config_.groups[next_group].name)
                == needs.end())
              route_edges.emplace_back(*it, next_group);
          }
          cycle += config_.groups[target].name;
          const auto& group = config_.groups[current];
          const std::string message =
            fmt::format("dependency cycle: {}{}", cycle, route_reasons(route_edges));
          if (at != nullptr)
            add_error(*at, join_key(join_key("groups", group.name), "needs"), message);
          else
            add_error(*group_extras_[current].table, join_key("groups", group.name), message);
        }
      }
    }
  }

  // Group placement and listen addresses.
  void check_nodes() {
    if (config_.nodes.empty())
      return;
    std::vector<bool> placed(config_.groups.size(), false);
    bool placement_known = true; // false when some node's groups could not be read
    for (std::size_t n = 0; n < config_.nodes.size(); ++n) {
      const node_config& node = config_.nodes[n];
      const node_extra& extra = node_extras_[n];
      const std::string node_key = join_key("nodes", node.name);
      placement_known = placement_known && extra.groups_complete;
      for (std::size_t j = 0; j < node.groups.size(); ++j) {
        const std::string& name = node.groups[j];
        const toml::node& at = *extra.group_nodes[j];
        const auto index = group_index(name);
        if (!index) {
          add_error(at, join_key(node_key, "groups"), fmt::format("unknown group {}", quote(name)));
          continue;
        }
        if (std::find(node.groups.begin(), node.groups.begin() + static_cast<std::ptrdiff_t>(j),
                      name)
            != node.groups.begin() + static_cast<std::ptrdiff_t>(j)) {
          add_error(at, join_key(node_key, "groups"),
                    fmt::format("group {} is listed more than once", quote(name)));
        }
        placed[*index] = true;
      }
      if (!extra.listen_valid || node.port == 0)
        continue;
      for (std::size_t earlier = 0; earlier < n; ++earlier) {
        const node_config& other = config_.nodes[earlier];
        if (node_extras_[earlier].listen_valid && other.port == node.port
            && other.host == node.host) {
          add_error(*extra.listen, join_key(node_key, "listen"),
                    fmt::format("address {} is already used by node {}",
                                quote(extra.listen->as_string()->get()), quote(other.name)));
          break;
        }
      }
    }
    for (std::size_t i = 0; i < config_.groups.size() && placement_known; ++i) {
      if (placed[i])
        continue;
      add_error(
        *group_extras_[i].table, join_key("groups", config_.groups[i].name),
        fmt::format(
          "group {} is not placed on any node; add it to the groups of a [nodes.NAME] table",
          quote(config_.groups[i].name)));
    }
  }

  std::string path_;
  const module_catalogue& modules_;
  std::string data_folder_given_;
  system_config config_;
  std::vector<group_extra> group_extras_; // parallel to config_.groups
  std::vector<node_extra> node_extras_;   // parallel to config_.nodes
  std::vector<system_file_error> errors_;
};

std::string join_errors(const std::vector<system_file_error>& errors) {
  std::string out;
  for (const auto& error : errors) {
    if (!out.empty())
      out += '\n';
    out += error.to_string();
  }
  return out;
}

} // namespace

std::vector<std::string> group_config::all_needs() const {
  std::vector<std::string> out = needs;
  for (const auto& need : route_needs)
    if (std::find(out.begin(), out.end(), need) == out.end())
      out.push_back(need);
  return out;
}

const group_config* system_config::find_group(std::string_view wanted) const {
  for (const auto& group : groups) {
    if (group.name == wanted)
      return &group;
  }
  return nullptr;
}

std::vector<const group_config*> system_config::start_order() const {
  std::vector<const group_config*> order;
  std::vector<bool> started(groups.size(), false);
  order.reserve(groups.size());
  const auto ready = [&](const group_config& group) {
    const auto needs = group.all_needs();
    return std::all_of(needs.begin(), needs.end(), [&](const std::string& need) {
      for (std::size_t i = 0; i < groups.size(); ++i) {
        if (groups[i].name == need)
          return started[i] || &groups[i] == &group;
      }
      return true; // unknown names cannot delay anything
    });
  };
  while (order.size() < groups.size()) {
    bool progressed = false;
    for (std::size_t i = 0; i < groups.size(); ++i) {
      if (started[i] || !ready(groups[i]))
        continue;
      started[i] = true;
      order.push_back(&groups[i]);
      progressed = true;
      break; // restart from the top so earlier groups keep priority
    }
    if (!progressed) {
      // Only reachable with a cycle, which validation rejects: keep the rest in file order.
      for (std::size_t i = 0; i < groups.size(); ++i) {
        if (!started[i])
          order.push_back(&groups[i]);
      }
      break;
    }
  }
  return order;
}

std::string system_file_error::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += fmt::format(":{}", line);
    if (column > 0)
      out += fmt::format(":{}", column);
  }
  out += ": ";
  if (!key.empty()) {
    out += key;
    out += ": ";
  }
  out += message;
  return out;
}

system_file_errors::system_file_errors(std::vector<system_file_error> errors)
  : std::runtime_error(join_errors(errors)), errors_(std::move(errors)) {}

const std::vector<system_file_error>& system_file_errors::errors() const noexcept {
  return errors_;
}

system_config parse_system_file(std::string_view text, std::string_view path,
                                const module_catalogue& modules, const std::string& data_folder) {
  return system_file_parser(path, modules, data_folder).parse(text);
}

system_config parse_system_file(std::string_view text, std::string_view path) {
  return parse_system_file(text, path, module_catalogue::global());
}

system_config load_system_file(const std::string& path) {
  return load_system_file(path, module_catalogue::global());
}

system_config load_system_file(const std::string& path, const module_catalogue& modules,
                               const std::string& data_folder) {
  const auto fail = [&](int error_number) {
    throw system_file_errors({system_file_error{
      path, 0, 0, "",
      fmt::format("cannot read system file: {}", std::generic_category().message(error_number))}});
  };
  errno = 0;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (!file)
    fail(errno);
  std::string text;
  char buffer[8192];
  for (;;) {
    const std::size_t n = std::fread(buffer, 1, sizeof buffer, file.get());
    text.append(buffer, n);
    if (n < sizeof buffer)
      break;
  }
  if (std::ferror(file.get()))
    fail(errno != 0 ? errno : EIO);
  return parse_system_file(text, path, modules, data_folder);
}

std::optional<std::string> admin_token_problem(std::string_view token) {
  constexpr std::size_t min_length = 16;
  const auto usable = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || std::string_view{"-._~+/"}.find(c) != std::string_view::npos;
  };
  if (token.size() >= min_length && std::all_of(token.begin(), token.end(), usable))
    return std::nullopt;
  // The token itself is never quoted back: only its length.
  return fmt::format("expected a token of at least {} characters of A-Z a-z 0-9 - . _ ~ + / "
                     "(what an Authorization: Bearer header carries), got {} character{}{}",
                     min_length, token.size(), token.size() == 1 ? "" : "s",
                     std::all_of(token.begin(), token.end(), usable) ? ""
                                                                     : " with others among them");
}

std::optional<milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
    ++digits;
  if (digits == 0 || digits > 18)
    return std::nullopt; // 18 digits always fit in int64
  std::int64_t value = 0;
  for (std::size_t i = 0; i < digits; ++i)
    value = value * 10 + (text[i] - '0');
  const std::string_view unit = text.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  if (value > std::numeric_limits<milliseconds::rep>::max() / scale)
    return std::nullopt;
  return milliseconds{value * scale};
}

} // namespace microlith
