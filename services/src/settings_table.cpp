// The views a module's settings reader gets (settings_table.hpp); the state behind them is
// detail/settings_reading.hpp.
#include "microlith/services/settings_table.hpp"

#include "detail/settings_reading.hpp"
#include "detail/toml_text.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace microlith {

using detail::describe_value;
using detail::join_key;
using detail::quote;
using detail::type_description;

namespace {

constexpr std::string_view duration_expectation =
  R"(expected a duration string such as "5s" or "250ms")";

int line_of(const toml::node& node) {
  return static_cast<int>(node.source().begin.line);
}

int column_of(const toml::node& node) {
  return static_cast<int>(node.source().begin.column);
}

} // namespace

// -- setting ----------------------------------------------------------------------------------

setting::setting(detail::settings_reading& reading, std::size_t node, std::string name,
                 std::string key)
  : reading_(&reading), node_(node), name_(std::move(name)), key_(std::move(key)) {}

int setting::line() const {
  return line_of(reading_->node(node_));
}

int setting::column() const {
  return column_of(reading_->node(node_));
}

std::string setting::type_name() const {
  return type_description(reading_->node(node_));
}

std::string setting::text() const {
  return describe_value(reading_->node(node_));
}

std::optional<std::string> setting::string() const {
  if (const auto* s = reading_->node(node_).as_string())
    return s->get();
  return std::nullopt;
}

std::optional<std::int64_t> setting::integer() const {
  if (const auto* i = reading_->node(node_).as_integer())
    return i->get();
  return std::nullopt;
}

std::optional<double> setting::number() const {
  const auto& n = reading_->node(node_);
  if (const auto* f = n.as_floating_point())
    return f->get();
  if (const auto* i = n.as_integer())
    return static_cast<double>(i->get());
  return std::nullopt;
}

std::optional<bool> setting::boolean() const {
  if (const auto* b = reading_->node(node_).as_boolean())
    return b->get();
  return std::nullopt;
}

std::optional<settings_table> setting::table() const {
  if (const auto* t = reading_->node(node_).as_table())
    return reading_->make_table(*t, key_);
  return std::nullopt;
}

std::optional<std::vector<setting>> setting::array() const {
  const auto* a = reading_->node(node_).as_array();
  if (a == nullptr)
    return std::nullopt;
  std::vector<setting> out;
  for (std::size_t i = 0; i < a->size(); ++i)
    out.push_back(reading_->make_setting((*a)[i], fmt::format("{}[{}]", name_, i),
                                         fmt::format("{}[{}]", key_, i)));
  return out;
}

void setting::refuse(std::string message) const {
  reading_->add_error(reading_->node(node_).source(), key_, std::move(message));
}

void setting::refuse_type(std::string_view expected) const {
  refuse(fmt::format("expected {}, got {}", expected, type_name()));
}

// -- settings_table ---------------------------------------------------------------------------

settings_table::settings_table(detail::settings_reading& reading, std::size_t table,
                               std::string key)
  : reading_(&reading), table_(table), key_(std::move(key)) {}

std::string settings_table::key(std::string_view name) const {
  return join_key(key_, name);
}

int settings_table::line() const {
  return line_of(reading_->table(table_));
}

int settings_table::column() const {
  return column_of(reading_->table(table_));
}

std::optional<setting> settings_table::find(std::string_view name) const {
  return get(name, presence::optional);
}

std::vector<setting> settings_table::entries() const {
  reading_->ask_all(table_);
  std::vector<setting> out;
  for (auto&& [k, v] : reading_->table(table_))
    out.push_back(reading_->make_setting(v, std::string(k.str()), key(k.str())));
  std::stable_sort(out.begin(), out.end(), [](const setting& a, const setting& b) {
    return std::pair(a.line(), a.column()) < std::pair(b.line(), b.column());
  });
  return out;
}

std::optional<std::string> settings_table::string(std::string_view name, presence need) const {
  auto value = get(name, need);
  if (!value)
    return std::nullopt;
  auto text = value->string();
  if (!text)
    value->refuse_type("a string");
  return text;
}

std::optional<std::int64_t> settings_table::integer(std::string_view name, std::int64_t min,
                                                    std::int64_t max, std::string_view expectation,
                                                    presence need) const {
  auto value = get(name, need);
  if (!value)
    return std::nullopt;
  auto number = value->integer();
  if (!number) {
    value->refuse_type("an integer");
    return std::nullopt;
  }
  if (*number < min || *number > max) {
    value->refuse(fmt::format("expected {}, got {}", expectation, *number));
    return std::nullopt;
  }
  return number;
}

std::optional<std::chrono::milliseconds> settings_table::duration(std::string_view name,
                                                                  presence need) const {
  auto value = get(name, need);
  if (!value)
    return std::nullopt;
  auto text = value->string();
  if (!text) {
    value->refuse(fmt::format("{}, got {}", duration_expectation, value->type_name()));
    return std::nullopt;
  }
  auto parsed = parse_duration(*text);
  if (!parsed) {
    value->refuse(fmt::format("{}, got {}", duration_expectation, quote(*text)));
    return std::nullopt;
  }
  if (parsed->count() == 0) {
    value->refuse(fmt::format("expected a duration greater than 0, got {}", quote(*text)));
    return std::nullopt;
  }
  return parsed;
}

std::optional<bool> settings_table::boolean(std::string_view name, presence need) const {
  auto value = get(name, need);
  if (!value)
    return std::nullopt;
  auto flag = value->boolean();
  if (!flag)
    value->refuse_type("true or false");
  return flag;
}

std::optional<settings_table> settings_table::table(std::string_view name, presence need) const {
  auto value = get(name, need);
  if (!value)
    return std::nullopt;
  auto inner = value->table();
  if (!inner)
    value->refuse_type("a table");
  return inner;
}

void settings_table::refuse(std::string key, std::string message) const {
  reading_->add_error(reading_->table(table_).source(), std::move(key), std::move(message));
}

std::optional<setting> settings_table::get(std::string_view name, presence need) const {
  reading_->ask(table_, name);
  const toml::node* value = reading_->table(table_).get(name);
  if (value == nullptr) {
    if (need == presence::required)
      refuse(key(name), "missing required key");
    return std::nullopt;
  }
  return reading_->make_setting(*value, std::string(name), key(name));
}

// -- group_tables -----------------------------------------------------------------------------

group_tables::group_tables(detail::settings_reading& reading, std::size_t group_table,
                           std::string group, std::string key,
                           const std::vector<std::string>& declared)
  : reading_(&reading), table_(group_table), group_(std::move(group)), key_(std::move(key)),
    declared_(&declared) {}

const std::string& group_tables::file() const noexcept {
  return reading_->path();
}

std::string group_tables::key(std::string_view name) const {
  return join_key(key_, name);
}

bool group_tables::has(std::string_view name) const {
  return reading_->node(table_).as_table()->get(name) != nullptr;
}

std::optional<settings_table> group_tables::table(std::string_view name) const {
  if (std::find(declared_->begin(), declared_->end(), name) == declared_->end())
    throw std::logic_error(fmt::format("a settings reader asked for table [{}], which its module "
                                       "does not declare (module_definition::settings)",
                                       key(name)));
  const toml::node* value = reading_->node(table_).as_table()->get(name);
  if (value == nullptr)
    return std::nullopt;
  if (const auto* t = value->as_table())
    return reading_->make_table(*t, key(name));
  reading_->add_error(value->source(), key(name),
                      fmt::format("expected a table, got {}", type_description(*value)));
  return std::nullopt;
}

void group_tables::refuse(std::string key, std::string message) const {
  reading_->add_error(reading_->node(table_).source(), std::move(key), std::move(message));
}

} // namespace microlith
