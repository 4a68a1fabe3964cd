#include "toggles/toggles_settings.hpp"

#include "detail/data_folder.hpp"
#include "detail/toml_text.hpp"
#include "toggles/toggle_naming.hpp"

#include <algorithm>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

namespace microlith::detail {

namespace {

constexpr std::string_view table_key = "toggles";
constexpr std::string_view settings_keys[] = {"database", "test_overrides", "require_override"};

class toggles_reader {
public:
  toggles_reader(const toml::table& table, const std::string& path, const std::string& data_folder,
                 std::vector<system_file_error>& errors)
    : table_(table), path_(path), data_folder_(data_folder), errors_(errors) {}

  toggles_config read() {
    toggles_config out;
    out.line = static_cast<int>(table_.source().begin.line);
    read_database(out);
    out.test_overrides = read_boolean("test_overrides", false);
    out.require_override = read_boolean("require_override", false);
    // Strict mode requires overrides that are honoured: without them every check would fail.
    if (out.require_override && !out.test_overrides)
      if (const auto* node = table_.get("require_override"))
        add_error(node->source(), join_key(table_key, "require_override"),
                  "require_override = true needs test_overrides = true in [toggles]: a check "
                  "without an override fails its call, and without test_overrides no call "
                  "can carry one");
    for (auto&& [k, v] : table_) {
      const std::string key{k.str()};
      if (std::find(std::begin(settings_keys), std::end(settings_keys), key)
          != std::end(settings_keys))
        continue;
      read_declaration(key, k.source(), v, out);
    }
    return out;
  }

private:
  void add_error(const toml::source_region& at, std::string key, std::string message) {
    errors_.push_back(system_file_error{path_, static_cast<int>(at.begin.line),
                                        static_cast<int>(at.begin.column), std::move(key),
                                        std::move(message)});
  }

  void type_error(const toml::node& node, std::string key, std::string_view expected) {
    add_error(node.source(), std::move(key),
              fmt::format("expected {}, got {}", expected, type_description(node)));
  }

  // database: a file, relative to the data folder unless absolute.
  void read_database(toggles_config& out) {
    const toml::node* node = table_.get("database");
    if (node == nullptr)
      return;
    const auto* text = node->as_string();
    if (text == nullptr) {
      type_error(*node, "toggles.database", "a file path as a string");
      return;
    }
    const std::string& file = text->get();
    if (file.empty() || file.find('\0') != std::string::npos) {
      add_error(node->source(), "toggles.database",
                fmt::format("expected a file (a non-empty path without NUL characters), got {}",
                            quote(file)));
      return;
    }
    out.database = in_data_folder(data_folder_, file);
  }

  bool read_boolean(std::string_view key, bool fallback) {
    const toml::node* node = table_.get(key);
    if (node == nullptr)
      return fallback;
    if (const auto* b = node->as_boolean())
      return b->get();
    type_error(*node, join_key(table_key, key), "true or false");
    return fallback;
  }

  // Any other key is a toggle's table: [toggles."bank.transfer_fee"] (quoted), or the same
  // name written as nested tables ([toggles.bank.transfer_fee]): a table with neither
  // `default` nor `description` whose values are all tables is a part of a name.
  void read_declaration(const std::string& name, const toml::source_region& at,
                        const toml::node& value, toggles_config& out) {
    const std::string key = join_key(table_key, name);
    const auto* table = value.as_table();
    if (table == nullptr) {
      add_error(at, key,
                fmt::format("unknown key {}; expected one of database, test_overrides, "
                            "require_override, or a toggle's table [toggles.\"NAME\"] with "
                            "default and description",
                            quote(name)));
      return;
    }
    const bool is_toggle = table->get("default") != nullptr || table->get("description") != nullptr;
    const bool all_tables =
      !table->empty()
      && std::all_of(table->begin(), table->end(), [](auto&& kv) { return kv.second.is_table(); });
    if (!is_toggle && all_tables) {
      for (auto&& [k, v] : *table)
        read_declaration(name + "." + std::string{k.str()}, k.source(), v, out);
      return;
    }
    toggle_declaration d;
    d.name = name;
    d.line = static_cast<int>(at.begin.line);
    bool ok = true;
    if (auto problem = toggle_name_problem(name)) {
      add_error(at, key, fmt::format("invalid toggle name {}: {}", quote(name), *problem));
      ok = false;
    }
    for (auto&& [k, v] : *table) {
      (void)v;
      if (k.str() != "default" && k.str() != "description") {
        add_error(
          k.source(), join_key(key, k.str()),
          fmt::format("unknown key {}; expected one of default, description", quote(k.str())));
        ok = false;
      }
    }
    if (const toml::node* def = table->get("default")) {
      if (const auto* b = def->as_boolean()) {
        d.default_value = b->get();
      } else {
        type_error(*def, key + ".default", "true or false");
        ok = false;
      }
    } else {
      add_error(at, key + ".default", "missing required key default (true or false)");
      ok = false;
    }
    if (const toml::node* text = table->get("description")) {
      if (const auto* str = text->as_string()) {
        d.description = str->get();
      } else {
        type_error(*text, key + ".description", "a string");
        ok = false;
      }
    } else {
      add_error(at, key + ".description", "missing required key description (a string)");
      ok = false;
    }
    auto same = std::find_if(out.declared.begin(), out.declared.end(),
                             [&](const toggle_declaration& x) { return x.name == name; });
    if (same != out.declared.end()) {
      add_error(
        at, key,
        fmt::format("toggle {} is declared twice (first on line {})", quote(name), same->line));
      ok = false;
    }
    if (ok)
      out.declared.push_back(std::move(d));
  }

  const toml::table& table_;
  const std::string& path_;
  const std::string& data_folder_;
  std::vector<system_file_error>& errors_;
};

} // namespace

toggles_config read_toggles_settings(const toml::table& table, const std::string& path,
                                     const std::string& data_folder,
                                     std::vector<system_file_error>& errors) {
  return toggles_reader{table, path, data_folder, errors}.read();
}

} // namespace microlith::detail
