// A module's tables in the system file, as its settings reader sees them. A module that has
// settings declares the tables its groups have (`[groups.NAME.TABLE]`) and a reader
// (module_definition::settings). While the file is parsed, the reader gets each group of the
// module as a group_tables and reads its tables key by key:
//
//   - settings_table's typed readers (string, integer, duration, boolean, table) answer the
//     value when it is there and well-formed; otherwise they report the mistake and answer
//     nullopt. A mistake is a system_file_error naming the file, line, column and dotted key
//     ("groups.web.http.io_threads"), worded as the parser words its own keys
//     ("expected an integer from 1 to 64, got 0", "missing required key").
//   - find() and entries() hand out a value as a `setting`, for checks of the module's own;
//     setting::refuse() reports what is wrong with it.
//   - Every key a reader asks for (found or not) is a key of that table; once the reader
//     returns, each key it never asked for is refused: `unknown key "x"; expected one of ...`,
//     listing the keys it asked for. entries() asks for every key.
//
// The parser reports every error of the file at once, the readers' among them, in file order;
// a reader's result is kept only when the whole file is valid. These views point into the file
// being parsed: they are valid only while the reader runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace microlith {

namespace detail {
class settings_reading;
} // namespace detail

class settings_table;

/// Whether a key must be present (settings_table's readers).
enum class presence { optional, required };

/// One value of a module's table, with where it is in the file.
class setting {
public:
  /// Its key in the table ("io_threads", "POST /accounts").
  const std::string& name() const noexcept { return name_; }

  /// Its dotted key from the top of the file ("groups.web.http.io_threads").
  const std::string& key() const noexcept { return key_; }

  /// Where the value starts in the file (1-based).
  int line() const;
  int column() const;

  /// What the value is, for "got ...": "a string", "an integer", "a table", ...
  std::string type_name() const;

  /// The value as a message shows it: a string quoted, a number as written, else type_name().
  std::string text() const;

  /// The value when it is of that type; nullopt (reporting nothing) when not.
  std::optional<std::string> string() const;
  std::optional<std::int64_t> integer() const;
  std::optional<double> number() const; ///< a float, or an integer as a double
  std::optional<bool> boolean() const;
  std::optional<settings_table> table() const;
  std::optional<std::vector<setting>> array() const; ///< the elements, keyed "key[i]"

  /// Reports a mistake in this value: `message` at its line and column, under its key.
  void refuse(std::string message) const;

  /// Reports that the value is not of the type expected: "expected `expected`, got a string".
  void refuse_type(std::string_view expected) const;

private:
  friend class detail::settings_reading;
  setting(detail::settings_reading& reading, std::size_t node, std::string name, std::string key);

  detail::settings_reading* reading_;
  std::size_t node_;
  std::string name_;
  std::string key_;
};

/// One table of a module (`[groups.web.http]`, or a table inside it), read key by key.
class settings_table {
public:
  /// Its dotted key ("groups.web.http").
  const std::string& key() const noexcept { return key_; }

  /// The dotted key of its entry `name` ("groups.web.http.listen").
  std::string key(std::string_view name) const;

  /// Where the table starts in the file (its header, 1-based).
  int line() const;
  int column() const;

  /// The value of `name`, or nullopt when the table has no such key.
  std::optional<setting> find(std::string_view name) const;

  /// Every entry, in file order (a module that takes any key, such as a route table).
  std::vector<setting> entries() const;

  /// A string.
  std::optional<std::string> string(std::string_view name,
                                    presence need = presence::optional) const;

  /// An integer from `min` to `max`; out of range: "expected `expectation`, got 0".
  std::optional<std::int64_t> integer(std::string_view name, std::int64_t min, std::int64_t max,
                                      std::string_view expectation,
                                      presence need = presence::optional) const;

  /// A duration string greater than 0 ("250ms", "5s", "2m", "1h"; parse_duration()).
  std::optional<std::chrono::milliseconds> duration(std::string_view name,
                                                    presence need = presence::optional) const;

  /// true or false.
  std::optional<bool> boolean(std::string_view name, presence need = presence::optional) const;

  /// A table inside this one.
  std::optional<settings_table> table(std::string_view name,
                                      presence need = presence::optional) const;

  /// Reports a mistake about the table as a whole (a key missing, two keys that disagree):
  /// `message` at the table's header, under `key`.
  void refuse(std::string key, std::string message) const;

private:
  friend class detail::settings_reading;
  settings_table(detail::settings_reading& reading, std::size_t table, std::string key);

  // The value of `name` (asking for it), or nullopt, reporting it missing when `need` says so.
  std::optional<setting> get(std::string_view name, presence need) const;

  detail::settings_reading* reading_;
  std::size_t table_;
  std::string key_;
};

/// The tables one group of a module has in the system file (`[groups.NAME.TABLE]` for each
/// table the module declared), as its settings reader gets them.
class group_tables {
public:
  /// The group's name in the file ("web").
  const std::string& group() const noexcept { return group_; }

  /// The group's dotted key ("groups.web").
  const std::string& key() const noexcept { return key_; }

  /// The system file's path, as errors name it ("bank.toml").
  const std::string& file() const noexcept;

  /// The dotted key of its table `name` ("groups.web.http").
  std::string key(std::string_view name) const;

  /// Whether the group's entry has a key `name` (of any type).
  bool has(std::string_view name) const;

  /// The group's table `name`: nullopt when absent, or when it is not a table (then reported).
  /// Throws std::logic_error when the module did not declare `name`.
  std::optional<settings_table> table(std::string_view name) const;

  /// Reports a mistake about the group as a whole (a required table missing): `message` at the
  /// group's header, under `key`.
  void refuse(std::string key, std::string message) const;

private:
  friend class detail::settings_reading;
  group_tables(detail::settings_reading& reading, std::size_t group_table, std::string group,
               std::string key, const std::vector<std::string>& declared);

  detail::settings_reading* reading_;
  std::size_t table_;
  std::string group_;
  std::string key_;
  const std::vector<std::string>* declared_;
};

} // namespace microlith
