// The manifest and ABI note of a module archive: written as TOML in a fixed order, read back
// strictly (every key known, every value checked, errors naming the source, line and key), and
// checked against the archive's entries (open_package).
#include "microlith/services/module_manifest.hpp"

#include "detail/toml_text.hpp"
#include "microlith/actors/error.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <toml++/toml.h>

namespace microlith {

namespace {

using detail::quote;

// A problem found while reading a document; caught once, in the parse_* function.
struct refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One field of module_abi: its key in TOML, its name in messages, the member.
struct abi_field {
  std::string_view key;
  std::string_view label;
  std::string module_abi::*member;
};
constexpr abi_field abi_fields[] = {
  {"microlith", "microlith", &module_abi::microlith},
  {"caf", "CAF", &module_abi::caf},
  {"protobuf", "Protobuf", &module_abi::protobuf},
  {"compiler", "compiler", &module_abi::compiler},
  {"cxx_abi", "C++ library", &module_abi::cxx_abi},
};

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

// Reads the tables of one TOML document, throwing a refusal that names the source, line and key.
class reader {
public:
  explicit reader(std::string_view source) : source_(source) {}

  [[noreturn]] void fail(const toml::node* at, std::string_view key,
                         std::string_view message) const {
    auto line = at == nullptr ? 0 : at->source().begin.line;
    auto where = line == 0 ? std::string{source_} : fmt::format("{}:{}", source_, line);
    throw refusal(key.empty() ? fmt::format("{}: {}", where, message)
                              : fmt::format("{}: {}: {}", where, key, message));
  }

  toml::table parse(std::string_view text) const {
    try {
      return toml::parse(text, std::string{source_});
    } catch (const toml::parse_error& e) {
      throw refusal(fmt::format("{}:{}:{}: {}", source_, e.source().begin.line,
                                e.source().begin.column, e.description()));
    }
  }

  // Refuses a key of `t` not in `known`.
  void only_keys(const toml::table& t, std::string_view parent,
                 std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : t)
      if (std::find(known.begin(), known.end(), k.str()) == known.end())
        fail(&v, detail::join_key(parent, k.str()),
             fmt::format("unknown key (expected one of {})", fmt::join(known, ", ")));
  }

  // The node at `key` of `t`; refuses its absence.
  const toml::node& required(const toml::table& t, std::string_view parent, std::string_view key,
                             std::string_view expected) const {
    const auto* node = t.get(key);
    if (node == nullptr)
      fail(&t, detail::join_key(parent, key), fmt::format("missing (expected {})", expected));
    return *node;
  }

  std::string string(const toml::node& node, std::string_view key) const {
    const auto* s = node.as_string();
    if (s == nullptr)
      fail(&node, key, fmt::format("expected a string, got {}", detail::type_description(node)));
    return s->get();
  }

  std::string string(const toml::table& t, std::string_view parent, std::string_view key) const {
    return string(required(t, parent, key, "a string"), detail::join_key(parent, key));
  }

  std::int64_t integer(const toml::table& t, std::string_view parent, std::string_view key) const {
    const auto& node = required(t, parent, key, "an integer");
    const auto* i = node.as_integer();
    if (i == nullptr)
      fail(&node, detail::join_key(parent, key),
           fmt::format("expected an integer, got {}", detail::describe_value(node)));
    return i->get();
  }

  const toml::table& table(const toml::table& t, std::string_view parent,
                           std::string_view key) const {
    const auto& node = required(t, parent, key, "a table");
    const auto* table = node.as_table();
    if (table == nullptr)
      fail(&node, detail::join_key(parent, key),
           fmt::format("expected a table, got {}", detail::type_description(node)));
    return *table;
  }

  // An optional array of strings (empty when absent).
  std::vector<std::string> strings(const toml::table& t, std::string_view key) const {
    std::vector<std::string> out;
    const auto* node = t.get(key);
    if (node == nullptr)
      return out;
    const auto* array = node->as_array();
    if (array == nullptr)
      fail(node, key,
           fmt::format("expected an array of strings, got {}", detail::type_description(*node)));
    for (std::size_t i = 0; i < array->size(); ++i)
      out.push_back(string(*array->get(i), fmt::format("{}[{}]", key, i)));
    return out;
  }

  // The tables of the optional array of tables `key` (`[[key]]`), each with its key for messages.
  std::vector<std::pair<const toml::table*, std::string>> tables(const toml::table& t,
                                                                 std::string_view key) const {
    std::vector<std::pair<const toml::table*, std::string>> out;
    const auto* node = t.get(key);
    if (node == nullptr)
      return out;
    const auto* array = node->as_array();
    if (array == nullptr)
      fail(node, key,
           fmt::format("expected an array of tables ([[{}]]), got {}", key,
                       detail::type_description(*node)));
    for (std::size_t i = 0; i < array->size(); ++i) {
      auto item_key = fmt::format("{}[{}]", key, i);
      const auto* item = array->get(i)->as_table();
      if (item == nullptr)
        fail(array->get(i), item_key,
             fmt::format("expected a table, got {}", detail::type_description(*array->get(i))));
      out.emplace_back(item, item_key);
    }
    return out;
  }

  template <class T, std::size_t N>
  T one_of(const toml::table& t, std::string_view parent, std::string_view key,
           const choice<T> (&choices)[N]) const {
    auto value = string(t, parent, key);
    std::vector<std::string_view> names;
    for (const auto& c : choices) {
      if (c.name == value)
        return c.value;
      names.push_back(c.name);
    }
    fail(t.get(key), detail::join_key(parent, key),
         fmt::format("expected one of {}, got {}", fmt::join(names, ", "), quote(value)));
  }

private:
  std::string_view source_;
};

bool is_lower_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

// "acme.statements": lowercase letters, digits, `_` and `.`, starting with a letter, no empty
// segment.
bool is_module_name(std::string_view name) {
  return !name.empty() && name.front() >= 'a' && name.front() <= 'z' && name.back() != '.'
         && name.find("..") == std::string_view::npos
         && std::all_of(name.begin(), name.end(), is_lower_name_char);
}

// A CMake identifier: a letter or `_`, then letters, digits or `_`.
bool is_identifier(std::string_view name) {
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  return !name.empty() && !(name.front() >= '0' && name.front() <= '9')
         && std::all_of(name.begin(), name.end(), word);
}

// "1.2.0": digits, separated by single dots.
bool is_version(std::string_view version) {
  if (version.empty() || version.front() == '.' || version.back() == '.'
      || version.find("..") != std::string_view::npos)
    return false;
  return std::all_of(version.begin(), version.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

bool is_sha256(std::string_view digest) {
  return digest.size() == 64 && std::all_of(digest.begin(), digest.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// An archive path at the root ("contracts.desc") or directly under lib/ ("lib/libx.so"), with
// no character an archive refuses.
bool is_package_path(std::string_view path) {
  if (path.rfind("lib/", 0) == 0)
    path.remove_prefix(4);
  return !path.empty() && path != "." && path != ".."
         && std::none_of(path.begin(), path.end(),
                         [](char c) { return c == '/' || c == '\\' || c == '\0'; });
}

module_abi read_abi(const reader& r, const toml::table& t, std::string_view parent) {
  r.only_keys(t, parent, {"microlith", "caf", "protobuf", "compiler", "cxx_abi"});
  module_abi abi;
  for (const auto& f : abi_fields) {
    abi.*f.member = r.string(t, parent, f.key);
    if (abi.*f.member == "")
      r.fail(t.get(f.key), detail::join_key(parent, f.key), "empty (expected a version)");
  }
  return abi;
}

void write_abi(std::ostringstream& out, const module_abi& abi) {
  for (const auto& f : abi_fields)
    out << f.key << " = " << quote(abi.*f.member) << '\n';
}

void write_strings(std::ostringstream& out, std::string_view key,
                   const std::vector<std::string>& values) {
  out << key << " = [";
  for (std::size_t i = 0; i < values.size(); ++i)
    out << (i == 0 ? "" : ", ") << quote(values[i]);
  out << "]\n";
}

module_manifest read_manifest(const reader& r, const toml::table& root) {
  r.only_keys(root, "",
              {"name", "target", "version", "library", "contracts_library", "contracts", "provides",
               "requires_contracts", "abi", "groups", "routes", "files"});
  module_manifest m;
  m.name = r.string(root, "", "name");
  if (!is_module_name(m.name))
    r.fail(root.get("name"), "name",
           fmt::format("expected a module name like \"acme.statements\" (lowercase letters, "
                       "digits, _ and ., starting with a letter), got {}",
                       quote(m.name)));
  m.target = r.string(root, "", "target");
  if (!is_identifier(m.target))
    r.fail(root.get("target"), "target",
           fmt::format("expected a CMake target name like \"acme_statements\" (letters, digits "
                       "and _), got {}",
                       quote(m.target)));
  m.version = r.string(root, "", "version");
  if (!is_version(m.version))
    r.fail(root.get("version"), "version",
           fmt::format("expected digits and dots like \"1.2.0\", got {}", quote(m.version)));
  m.abi = read_abi(r, r.table(root, "", "abi"), "abi");
  auto path = [&](std::string_view key, bool required) {
    if (!required && root.get(key) == nullptr)
      return std::string{};
    auto value = r.string(root, "", key);
    if (!is_package_path(value))
      r.fail(root.get(key), key,
             fmt::format("expected an archive path at its root or under lib/ (\"lib/libx.so\"), "
                         "got {}",
                         quote(value)));
    return value;
  };
  m.library = path("library", true);
  m.contracts_library = path("contracts_library", false);
  m.contracts = path("contracts", true);
  m.provides = r.strings(root, "provides");
  m.requires_contracts = r.strings(root, "requires_contracts");

  std::set<std::string> group_names;
  for (const auto& [t, key] : r.tables(root, "groups")) {
    r.only_keys(*t, key, {"name", "restart", "strategy", "intensity", "period_ms"});
    manifest_group g;
    g.name = r.string(*t, key, "name");
    if (g.name.empty() || !std::all_of(g.name.begin(), g.name.end(), detail::is_name_char))
      r.fail(t->get("name"), detail::join_key(key, "name"),
             fmt::format("expected a group name (letters, digits, _ . -), got {}", quote(g.name)));
    if (!group_names.insert(g.name).second)
      r.fail(t->get("name"), detail::join_key(key, "name"),
             fmt::format("a second group called {}", quote(g.name)));
    g.restart = r.one_of(*t, key, "restart", restart_choices);
    g.strategy = r.one_of(*t, key, "strategy", strategy_choices);
    auto intensity = r.integer(*t, key, "intensity");
    if (intensity < 0 || intensity > 1'000'000)
      r.fail(t->get("intensity"), detail::join_key(key, "intensity"),
             fmt::format("expected an integer from 0 to 1000000, got {}", intensity));
    g.intensity = static_cast<int>(intensity);
    auto period = r.integer(*t, key, "period_ms");
    if (period <= 0)
      r.fail(t->get("period_ms"), detail::join_key(key, "period_ms"),
             fmt::format("expected a number of milliseconds above 0, got {}", period));
    g.period = std::chrono::milliseconds{period};
    m.groups.push_back(std::move(g));
  }
  if (m.groups.empty())
    r.fail(root.get("groups"), "groups", "no group: a module defines at least one ([[groups]])");

  for (const auto& [t, key] : r.tables(root, "routes")) {
    r.only_keys(*t, key, {"key", "target"});
    manifest_route route;
    route.key = r.string(*t, key, "key");
    route.target = r.string(*t, key, "target");
    if (route.key.empty())
      r.fail(t->get("key"), detail::join_key(key, "key"), "empty (expected \"METHOD /path\")");
    if (route.target.empty())
      r.fail(t->get("target"), detail::join_key(key, "target"),
             "empty (expected \"service.Method\")");
    m.routes.push_back(std::move(route));
  }

  std::set<std::string> file_names;
  if (root.get("files") == nullptr)
    r.fail(nullptr, "files", "missing (expected [[files]] tables: name, sha256, size)");
  for (const auto& [t, key] : r.tables(root, "files")) {
    r.only_keys(*t, key, {"name", "sha256", "size"});
    manifest_file f;
    f.name = r.string(*t, key, "name");
    if (!is_package_path(f.name))
      r.fail(
        t->get("name"), detail::join_key(key, "name"),
        fmt::format("expected an archive path at its root or under lib/, got {}", quote(f.name)));
    if (f.name == "manifest.toml" || f.name == "abi.toml")
      r.fail(t->get("name"), detail::join_key(key, "name"),
             fmt::format("{} cannot list itself or the ABI note", quote(f.name)));
    if (!file_names.insert(f.name).second)
      r.fail(t->get("name"), detail::join_key(key, "name"),
             fmt::format("{} is listed twice", quote(f.name)));
    f.sha256 = r.string(*t, key, "sha256");
    if (!is_sha256(f.sha256))
      r.fail(t->get("sha256"), detail::join_key(key, "sha256"),
             fmt::format("expected 64 lowercase hex digits, got {}", quote(f.sha256)));
    auto size = r.integer(*t, key, "size");
    if (size < 0)
      r.fail(t->get("size"), detail::join_key(key, "size"),
             fmt::format("expected a size in bytes, got {}", size));
    f.size = static_cast<std::uint64_t>(size);
    m.files.push_back(std::move(f));
  }
  return m;
}

caf::error refuse(std::string message) {
  return make_error(errc::invalid_argument, std::move(message));
}

} // namespace

bool module_abi::operator==(const module_abi& other) const {
  return microlith == other.microlith && caf == other.caf && protobuf == other.protobuf
         && compiler == other.compiler && cxx_abi == other.cxx_abi;
}

std::vector<std::string> abi_differences(const module_abi& library, const module_abi& running) {
  std::vector<std::string> out;
  for (const auto& f : abi_fields)
    if (library.*f.member != running.*f.member)
      out.push_back(fmt::format("{} {} (library) vs {} (this process)", f.label, library.*f.member,
                                running.*f.member));
  return out;
}

std::string abi_note(const module_abi& abi) {
  std::ostringstream out;
  out << "# The ABI this module's library was built for: microlith loads it only into a process "
         "built\n# with the same values.\n";
  write_abi(out, abi);
  return out.str();
}

caf::expected<module_abi> parse_abi_note(std::string_view text, std::string_view source) {
  reader r{source};
  try {
    return read_abi(r, r.parse(text), "");
  } catch (const refusal& e) {
    return refuse(e.what());
  }
}

std::string manifest_text(const module_manifest& m) {
  std::ostringstream out;
  out << "# A microlith module (microlith package): what it is, what it was built for and what "
         "its\n# archive holds.\n";
  out << "name = " << quote(m.name) << '\n';
  out << "target = " << quote(m.target) << '\n';
  out << "version = " << quote(m.version) << '\n';
  out << "library = " << quote(m.library) << '\n';
  if (!m.contracts_library.empty())
    out << "contracts_library = " << quote(m.contracts_library) << '\n';
  out << "contracts = " << quote(m.contracts) << '\n';
  write_strings(out, "provides", m.provides);
  write_strings(out, "requires_contracts", m.requires_contracts);
  out << "\n[abi]\n";
  write_abi(out, m.abi);
  for (const auto& g : m.groups) {
    out << "\n[[groups]]\n";
    out << "name = " << quote(g.name) << '\n';
    out << "restart = " << quote(to_string(g.restart)) << '\n';
    out << "strategy = " << quote(to_string(g.strategy)) << '\n';
    out << "intensity = " << g.intensity << '\n';
    out << "period_ms = " << g.period.count() << '\n';
  }
  for (const auto& route : m.routes) {
    out << "\n[[routes]]\n";
    out << "key = " << quote(route.key) << '\n';
    out << "target = " << quote(route.target) << '\n';
  }
  for (const auto& f : m.files) {
    out << "\n[[files]]\n";
    out << "name = " << quote(f.name) << '\n';
    out << "sha256 = " << quote(f.sha256) << '\n';
    out << "size = " << f.size << '\n';
  }
  return out.str();
}

caf::expected<module_manifest> parse_manifest(std::string_view text, std::string_view source) {
  reader r{source};
  try {
    return read_manifest(r, r.parse(text));
  } catch (const refusal& e) {
    return refuse(e.what());
  }
}

caf::expected<module_package> open_package(std::string_view archive_bytes, std::string_view source,
                                           const archive_limits& limits) {
  auto entries = read_archive(archive_bytes, limits);
  if (!entries)
    return refuse(fmt::format("{}: {}", source, message_of(entries.error())));
  std::map<std::string_view, const archive_entry*> by_name;
  for (const auto& e : *entries)
    by_name.emplace(e.name, &e);
  auto entry = [&](std::string_view name) -> const archive_entry* {
    auto it = by_name.find(name);
    return it == by_name.end() ? nullptr : it->second;
  };
  const auto* manifest_entry = entry("manifest.toml");
  if (manifest_entry == nullptr)
    return refuse(fmt::format("{}: no manifest.toml entry (not a module archive made by "
                              "microlith package?)",
                              source));
  const auto* note_entry = entry("abi.toml");
  if (note_entry == nullptr)
    return refuse(fmt::format("{}: no abi.toml entry (the ABI note)", source));
  auto manifest = parse_manifest(manifest_entry->bytes, fmt::format("{}: manifest.toml", source));
  if (!manifest)
    return manifest.error();
  auto note = parse_abi_note(note_entry->bytes, fmt::format("{}: abi.toml", source));
  if (!note)
    return note.error();
  if (*note != manifest->abi) {
    std::vector<std::string> differences;
    for (const auto& f : abi_fields)
      if ((*note).*f.member != manifest->abi.*f.member)
        differences.push_back(fmt::format("{} is \"{}\" in abi.toml, \"{}\" in manifest.toml",
                                          f.key, (*note).*f.member, manifest->abi.*f.member));
    return refuse(fmt::format("{}: abi.toml does not match manifest.toml's [abi]: {}", source,
                              fmt::join(differences, "; ")));
  }
  std::set<std::string_view> listed;
  for (const auto& f : manifest->files) {
    listed.insert(f.name);
    const auto* e = entry(f.name);
    if (e == nullptr)
      return refuse(
        fmt::format("{}: entry \"{}\" is listed in manifest.toml but missing", source, f.name));
    if (e->bytes.size() != f.size)
      return refuse(fmt::format("{}: entry \"{}\" is {} bytes, manifest.toml says {}", source,
                                f.name, e->bytes.size(), f.size));
    auto digest = sha256_hex(e->bytes);
    if (digest != f.sha256)
      return refuse(fmt::format("{}: entry \"{}\" has sha256 {}, manifest.toml says {} (the file "
                                "was changed after packaging)",
                                source, f.name, digest, f.sha256));
  }
  for (const auto& e : *entries)
    if (e.name != "manifest.toml" && e.name != "abi.toml" && listed.count(e.name) == 0)
      return refuse(
        fmt::format("{}: entry \"{}\" is not listed in manifest.toml's files", source, e.name));
  auto must_be_listed = [&](std::string_view key, const std::string& name) {
    return name.empty() || listed.count(name) != 0
             ? std::optional<std::string>{}
             : fmt::format("{}: manifest.toml's {} \"{}\" is not one of its files", source, key,
                           name);
  };
  for (auto problem : {must_be_listed("library", manifest->library),
                       must_be_listed("contracts", manifest->contracts),
                       must_be_listed("contracts_library", manifest->contracts_library)})
    if (problem)
      return refuse(*problem);
  return module_package{std::move(*manifest), std::move(*entries), sha256_hex(archive_bytes)};
}

} // namespace microlith
