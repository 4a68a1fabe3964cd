// How the system file's keys and values are written in error messages: quoted strings, dotted
// keys, type names ("an integer") and rejected values. Shared by the parser
// (system_file.cpp) and the modules' table readers (settings_table.cpp), so that both word
// their errors alike.
#pragma once

#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace microlith::detail {

/// A character of a name ([A-Za-z0-9_.-]).
bool is_name_char(char c) noexcept;

/// `text` as a double-quoted string with quotes, backslashes and control characters escaped.
std::string quote(std::string_view text);

/// `parent.child`, quoting `child` the way TOML would need it when it is not a bare key.
std::string join_key(std::string_view parent, std::string_view child);

/// "a table", "an integer", "a string", ... for "got ..." in messages.
std::string type_description(const toml::node& node);

/// What a rejected value looked like: a string quoted, a number as written, else its type.
std::string describe_value(const toml::node& node);

} // namespace microlith::detail
