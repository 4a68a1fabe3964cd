#include "modules/modules_settings.hpp"

#include "detail/data_folder.hpp"
#include "detail/toml_text.hpp"
#include "modules/module_naming.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <utility>

#include <fmt/format.h>

namespace microlith::detail {

namespace {

constexpr std::string_view table_key = "modules";
constexpr std::int64_t min_archive_bytes = 1024;
constexpr std::int64_t max_archive_bytes = 1024 * 1024 * 1024;

class modules_reader {
public:
  modules_reader(const toml::table& table, const std::string& path, const std::string& data_folder,
                 std::vector<system_file_error>& errors)
    : table_(table), path_(path), data_folder_(data_folder), errors_(errors) {}

  modules_config read() {
    modules_config out;
    out.line = static_cast<int>(table_.source().begin.line);
    check_keys();
    read_dir(out);
    read_required(out);
    read_max_archive_bytes(out);
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

  void check_keys() {
    constexpr std::string_view allowed[] = {"dir", "required", "max_archive_bytes"};
    for (auto&& [k, v] : table_) {
      (void)v;
      if (std::find(std::begin(allowed), std::end(allowed), k.str()) != std::end(allowed))
        continue;
      add_error(k.source(), join_key(table_key, k.str()),
                fmt::format("unknown key {}; expected one of {}", quote(k.str()),
                            fmt::join(allowed, ", ")));
    }
  }

  // dir: a folder, relative to the data folder unless absolute.
  void read_dir(modules_config& out) {
    const toml::node* node = table_.get("dir");
    if (node == nullptr)
      return;
    const auto* text = node->as_string();
    if (text == nullptr) {
      type_error(*node, "modules.dir", "a folder as a string");
      return;
    }
    const std::string& dir = text->get();
    if (dir.empty() || dir.find('\0') != std::string::npos) {
      add_error(node->source(), "modules.dir",
                fmt::format("expected a folder (a non-empty path without NUL characters), got {}",
                            quote(dir)));
      return;
    }
    out.dir = in_data_folder(data_folder_, dir);
  }

  // required: module names, each once; only with a dir to load them from.
  void read_required(modules_config& out) {
    const toml::node* node = table_.get("required");
    if (node == nullptr)
      return;
    const auto* array = node->as_array();
    if (array == nullptr) {
      type_error(*node, "modules.required", "an array of module names");
      return;
    }
    std::vector<std::pair<std::string, int>> seen; // name, line
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = (*array)[i];
      const auto* text = element.as_string();
      if (text == nullptr) {
        type_error(element, fmt::format("modules.required[{}]", i), "a module name as a string");
        continue;
      }
      const std::string& name = text->get();
      if (auto problem = module_name_problem(name)) {
        add_error(element.source(), "modules.required",
                  fmt::format("invalid module name {}: {}", quote(name), *problem));
        continue;
      }
      const auto first =
        std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == name; });
      if (first != seen.end()) {
        add_error(element.source(), "modules.required",
                  fmt::format("module {} is listed more than once (first on line {})", quote(name),
                              first->second));
        continue;
      }
      seen.emplace_back(name, static_cast<int>(element.source().begin.line));
      out.required.push_back(name);
    }
    if (!array->empty() && table_.get("dir") == nullptr) {
      add_error(node->source(), "modules.required",
                "required modules need a folder to load them from: set [modules] dir");
    }
  }

  void read_max_archive_bytes(modules_config& out) {
    const toml::node* node = table_.get("max_archive_bytes");
    if (node == nullptr)
      return;
    const auto* integer = node->as_integer();
    if (integer == nullptr) {
      type_error(*node, "modules.max_archive_bytes", "an integer (bytes)");
      return;
    }
    const std::int64_t value = integer->get();
    if (value < min_archive_bytes || value > max_archive_bytes) {
      add_error(node->source(), "modules.max_archive_bytes",
                fmt::format("expected an integer from {} (1 KiB) to {} (1 GiB), got {}",
                            min_archive_bytes, max_archive_bytes, value));
      return;
    }
    out.max_archive_bytes = static_cast<std::size_t>(value);
  }

  const toml::table& table_;
  const std::string& path_;
  const std::string& data_folder_;
  std::vector<system_file_error>& errors_;
};

} // namespace

modules_config read_modules_settings(const toml::table& table, const std::string& path,
                                     const std::string& data_folder,
                                     std::vector<system_file_error>& errors) {
  return modules_reader{table, path, data_folder, errors}.read();
}

} // namespace microlith::detail
