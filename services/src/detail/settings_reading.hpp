// The state of reading one group's module tables (settings_table.hpp): the TOML nodes handed to
// the module's reader, the keys it asked for in each table, and where the errors go. The parser
// (system_file.cpp) makes one per group whose module has a settings reader, hands the reader
// the group(), then calls refuse_unknown_keys().
#pragma once

#include "microlith/services/settings_table.hpp"
#include "microlith/services/system_file.hpp"

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

namespace microlith::detail {

class settings_reading {
public:
  /// Errors go to `errors`, each naming `path`.
  settings_reading(std::string path, std::vector<system_file_error>& errors);

  settings_reading(const settings_reading&) = delete;
  settings_reading& operator=(const settings_reading&) = delete;

  /// The view of group `name`, whose entry is `table` at dotted key `key`, whose module
  /// declared the tables `declared` (which must outlive the reading).
  group_tables group(const toml::table& table, std::string name, std::string key,
                     const std::vector<std::string>& declared);

  /// Refuses every key of the tables handed out that the reader did not ask for.
  void refuse_unknown_keys();

  /// The file's path, as errors name it.
  const std::string& path() const noexcept { return path_; }

  // -- for the views ----------------------------------------------------------------------

  /// The node of a view.
  const toml::node& node(std::size_t index) const { return *nodes_[index]; }

  /// The table of a settings_table view.
  const toml::table& table(std::size_t index) const { return *tables_[index].table; }

  /// A view of `value` (of table `table`'s entry, or an array element).
  setting make_setting(const toml::node& value, std::string name, std::string key);

  /// A view of `table`; its keys are tracked for refuse_unknown_keys(), one record per table
  /// however many views of it are made.
  settings_table make_table(const toml::table& table, std::string key);

  /// Records that the reader asked table view `table` for `name`; all = every key.
  void ask(std::size_t table, std::string_view name);
  void ask_all(std::size_t table);

  /// Reports `message` under `key` at the start of `at`.
  void add_error(const toml::source_region& at, std::string key, std::string message);

private:
  struct table_state {
    const toml::table* table;
    std::string key;
    std::vector<std::string> asked; // in the order asked
    bool all = false;
  };

  std::size_t add_node(const toml::node& node);

  std::string path_;
  std::vector<system_file_error>& errors_;
  std::vector<const toml::node*> nodes_;
  std::deque<table_state> tables_; // indexed by the table views' numbers
};

} // namespace microlith::detail
