#include "detail/settings_reading.hpp"

#include "detail/toml_text.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace microlith::detail {

settings_reading::settings_reading(std::string path, std::vector<system_file_error>& errors)
  : path_(std::move(path)), errors_(errors) {}

group_tables settings_reading::group(const toml::table& table, std::string name, std::string key,
                                     const std::vector<std::string>& declared) {
  return group_tables{*this, add_node(table), std::move(name), std::move(key), declared};
}

void settings_reading::refuse_unknown_keys() {
  for (const auto& t : tables_) {
    if (t.all)
      continue;
    for (auto&& [k, v] : *t.table) {
      (void)v;
      if (std::find(t.asked.begin(), t.asked.end(), k.str()) != t.asked.end())
        continue;
      add_error(k.source(), join_key(t.key, k.str()),
                t.asked.empty()
                  ? fmt::format("unknown key {}; [{}] takes no keys", quote(k.str()), t.key)
                  : fmt::format("unknown key {}; expected one of {}", quote(k.str()),
                                fmt::join(t.asked, ", ")));
    }
  }
}

setting settings_reading::make_setting(const toml::node& value, std::string name, std::string key) {
  return setting{*this, add_node(value), std::move(name), std::move(key)};
}

settings_table settings_reading::make_table(const toml::table& table, std::string key) {
  // A table handed out again shares its state: the keys asked through either view count.
  for (std::size_t i = 0; i < tables_.size(); ++i)
    if (tables_[i].table == &table)
      return settings_table{*this, i, std::move(key)};
  tables_.push_back(table_state{&table, key, {}, false});
  return settings_table{*this, tables_.size() - 1, std::move(key)};
}

void settings_reading::ask(std::size_t table, std::string_view name) {
  auto& asked = tables_[table].asked;
  if (std::find(asked.begin(), asked.end(), name) == asked.end())
    asked.emplace_back(name);
}

void settings_reading::ask_all(std::size_t table) {
  tables_[table].all = true;
}

void settings_reading::add_error(const toml::source_region& at, std::string key,
                                 std::string message) {
  errors_.push_back(system_file_error{path_, static_cast<int>(at.begin.line),
                                      static_cast<int>(at.begin.column), std::move(key),
                                      std::move(message)});
}

std::size_t settings_reading::add_node(const toml::node& node) {
  nodes_.push_back(&node);
  return nodes_.size() - 1;
}

} // namespace microlith::detail
