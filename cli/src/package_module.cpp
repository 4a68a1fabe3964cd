// `microlith package BUILD_DIR NAME [-o FILE]`: the module info file that the build of a
// loadable module writes (BUILD_DIR/microlith-modules/NAME.module.toml) names its library, its
// generated contract code, its descriptor set, its ABI note and its description (the groups
// and routes its describe program printed); this makes the manifest from them and writes the
// archive.
#include "module_commands.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/services/module_archive.hpp"
#include "microlith/services/module_manifest.hpp"

#include <fmt/format.h>

#include <google/protobuf/descriptor.pb.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>

namespace microlith::cli {

namespace {

namespace fs = std::filesystem;

// A reason to refuse; caught once, in package_module.
struct refusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string read_file(const std::string& path, std::string_view what) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw refusal(fmt::format("cannot read {} {}", what, path));
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad())
    throw refusal(fmt::format("cannot read {} {}", what, path));
  return bytes.str();
}

// The keys of one TOML file, read with errors naming the file, the line and the key.
class toml_file {
public:
  toml_file(std::string path, std::string_view what)
    : path_(std::move(path)), text_(read_file(path_, what)) {
    try {
      root_ = toml::parse(text_, path_);
    } catch (const toml::parse_error& e) {
      throw refusal(fmt::format("{}:{}:{}: {}", path_, e.source().begin.line,
                                e.source().begin.column, e.description()));
    }
  }

  const toml::table& root() const { return root_; }

  [[noreturn]] void fail(const toml::node* at, std::string_view key,
                         std::string_view message) const {
    auto line = at == nullptr ? 0 : at->source().begin.line;
    throw refusal(line == 0 ? fmt::format("{}: {}: {}", path_, key, message)
                            : fmt::format("{}:{}: {}: {}", path_, line, key, message));
  }

  void only_keys(const toml::table& t, std::string_view parent,
                 std::initializer_list<std::string_view> known) const {
    for (const auto& [k, v] : t)
      if (std::find(known.begin(), known.end(), k.str()) == known.end())
        fail(&v, key_of(parent, k.str()), "unknown key");
  }

  // The string at `key`; `fallback` when absent, or a refusal without one.
  std::string string(const toml::table& t, std::string_view parent, std::string_view key,
                     std::optional<std::string> fallback = std::nullopt) const {
    const auto* node = t.get(key);
    if (node == nullptr) {
      if (fallback)
        return *fallback;
      fail(&t, key_of(parent, key), "missing (expected a string)");
    }
    if (!node->is_string())
      fail(node, key_of(parent, key), "expected a string");
    return node->as_string()->get();
  }

  std::int64_t integer(const toml::table& t, std::string_view parent, std::string_view key,
                       std::int64_t fallback) const {
    const auto* node = t.get(key);
    if (node == nullptr)
      return fallback;
    if (!node->is_integer())
      fail(node, key_of(parent, key), "expected an integer");
    return node->as_integer()->get();
  }

  std::vector<std::string> strings(const toml::table& t, std::string_view key) const {
    std::vector<std::string> out;
    const auto* node = t.get(key);
    if (node == nullptr)
      return out;
    const auto* array = node->as_array();
    if (array == nullptr)
      fail(node, key, "expected an array of strings");
    for (const auto& item : *array) {
      if (!item.is_string())
        fail(&item, key, "expected an array of strings");
      out.push_back(item.as_string()->get());
    }
    return out;
  }

  // The tables of the array of tables `key` ([[key]]), each with its key for messages.
  std::vector<std::pair<const toml::table*, std::string>> tables(std::string_view key) const {
    std::vector<std::pair<const toml::table*, std::string>> out;
    const auto* node = root_.get(key);
    if (node == nullptr)
      return out;
    const auto* array = node->as_array();
    if (array == nullptr)
      fail(node, key, fmt::format("expected [[{}]] tables", key));
    for (std::size_t i = 0; i < array->size(); ++i) {
      const auto* t = array->get(i)->as_table();
      if (t == nullptr)
        fail(array->get(i), fmt::format("{}[{}]", key, i), "expected a table");
      out.emplace_back(t, fmt::format("{}[{}]", key, i));
    }
    return out;
  }

private:
  static std::string key_of(std::string_view parent, std::string_view key) {
    return parent.empty() ? std::string{key} : fmt::format("{}.{}", parent, key);
  }

  std::string path_;
  std::string text_;
  toml::table root_;
};

template <class T>
struct choice {
  std::string_view name;
  T value;
};

template <class T, std::size_t N>
T pick(const toml_file& file, const toml::table& t, std::string_view parent, std::string_view key,
       const choice<T> (&choices)[N], T fallback) {
  if (t.get(key) == nullptr)
    return fallback;
  auto value = file.string(t, parent, key);
  std::string names;
  for (const auto& c : choices) {
    if (c.name == value)
      return c.value;
    names += fmt::format("{}{}", names.empty() ? "" : ", ", c.name);
  }
  file.fail(t.get(key), fmt::format("{}.{}", parent, key),
            fmt::format("expected one of {}, got \"{}\"", names, value));
}

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

// The groups and routes of the description file into `m`, and its name.
void read_description(const std::string& path, module_manifest& m) {
  toml_file file{path, "the module description"};
  file.only_keys(file.root(), "", {"name", "groups", "routes"});
  m.name = file.string(file.root(), "", "name");
  for (const auto& [t, key] : file.tables("groups")) {
    file.only_keys(*t, key, {"name", "restart", "strategy", "intensity", "period_ms"});
    manifest_group g;
    g.name = file.string(*t, key, "name");
    g.restart = pick(file, *t, key, "restart", restart_choices, g.restart);
    g.strategy = pick(file, *t, key, "strategy", strategy_choices, g.strategy);
    auto intensity = file.integer(*t, key, "intensity", g.intensity);
    if (intensity < 0 || intensity > 1'000'000)
      file.fail(t->get("intensity"), key + ".intensity", "expected an integer from 0 to 1000000");
    g.intensity = static_cast<int>(intensity);
    g.period = std::chrono::milliseconds{file.integer(*t, key, "period_ms", g.period.count())};
    m.groups.push_back(std::move(g));
  }
  for (const auto& [t, key] : file.tables("routes")) {
    file.only_keys(*t, key, {"key", "target"});
    m.routes.push_back(manifest_route{file.string(*t, key, "key"), file.string(*t, key, "target")});
  }
}

std::string plural(std::size_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

} // namespace

int package_module(const std::string& build_dir, const std::string& name,
                   const std::string& output) {
  auto info_path = (fs::path{build_dir} / "microlith-modules" / (name + ".module.toml")).string();
  std::error_code ec;
  if (!fs::exists(info_path, ec)) {
    fmt::print(stderr,
               "microlith package: no module info file {}: the target {} must be declared with "
               "microlith_add_module({} SHARED VERSION ...) and built first (cmake --build {} "
               "--target {})\n",
               info_path, name, name, build_dir, name);
    return 1;
  }
  try {
    toml_file info{info_path, "the module info file"};
    const auto& root = info.root();
    info.only_keys(root, "",
                   {"target", "version", "library", "contracts_library", "contracts", "abi_note",
                    "description", "provides"});
    module_manifest m;
    m.target = info.string(root, "", "target");
    if (m.target != name)
      info.fail(root.get("target"), "target",
                fmt::format("is \"{}\", expected \"{}\" (the file's name)", m.target, name));
    m.version = info.string(root, "", "version");
    auto library_path = info.string(root, "", "library");
    auto contracts_library_path = info.string(root, "", "contracts_library", "");
    auto contracts_path = info.string(root, "", "contracts", "");
    auto note_path = info.string(root, "", "abi_note");
    auto description_path = info.string(root, "", "description");
    m.provides = info.strings(root, "provides");

    read_description(description_path, m);
    auto note_text = read_file(note_path, "the ABI note");
    auto abi = parse_abi_note(note_text, note_path);
    if (!abi)
      throw refusal(message_of(abi.error()));
    m.abi = *abi;

    // The descriptor set: the module's own files (provides) and those they import, which the
    // running system must have (requires_contracts). Without contracts, an empty set.
    std::string contracts;
    if (!contracts_path.empty())
      contracts = read_file(contracts_path, "the descriptor set");
    google::protobuf::FileDescriptorSet set;
    if (!set.ParseFromString(contracts))
      throw refusal(fmt::format("{} is not a FileDescriptorSet (protoc --descriptor_set_out "
                                "--include_imports writes one)",
                                contracts_path));
    std::set<std::string> in_set;
    for (const auto& file : set.file()) {
      in_set.insert(file.name());
      if (std::find(m.provides.begin(), m.provides.end(), file.name()) == m.provides.end())
        m.requires_contracts.push_back(file.name());
    }
    for (const auto& p : m.provides)
      if (in_set.count(p) == 0)
        throw refusal(fmt::format("{}: provides \"{}\", which the descriptor set {} does not "
                                  "hold",
                                  info_path, p, contracts_path));

    std::vector<archive_entry> files;
    m.library = "lib/" + fs::path{library_path}.filename().string();
    files.push_back({m.library, read_file(library_path, "the module's library")});
    if (!contracts_library_path.empty()) {
      m.contracts_library = "lib/" + fs::path{contracts_library_path}.filename().string();
      files.push_back(
        {m.contracts_library, read_file(contracts_library_path, "the module's contract code")});
    }
    m.contracts = "contracts.desc";
    files.push_back({m.contracts, std::move(contracts)});
    for (const auto& f : files)
      m.files.push_back(manifest_file{f.name, sha256_hex(f.bytes), f.bytes.size()});

    // What the loader will read back: a manifest that does not parse is refused here.
    auto text = manifest_text(m);
    if (auto back = parse_manifest(text, fmt::format("manifest.toml (made from {})", info_path));
        !back)
      throw refusal(message_of(back.error()));

    std::vector<archive_entry> entries;
    entries.push_back({"manifest.toml", text});
    entries.push_back({"abi.toml", abi_note(m.abi)});
    for (auto& f : files)
      entries.push_back(std::move(f));
    auto archive = write_archive(entries);
    if (!archive)
      throw refusal(message_of(archive.error()));

    auto target = output.empty() ? fmt::format("{}-{}.mlm", name, m.version) : output;
    auto temporary = target + ".part";
    {
      std::ofstream out{temporary, std::ios::binary | std::ios::trunc};
      out.write(archive->data(), static_cast<std::streamsize>(archive->size()));
      out.close();
      if (!out)
        throw refusal(fmt::format("cannot write {}", temporary));
    }
    fs::rename(temporary, target, ec);
    if (ec) {
      fs::remove(temporary, ec);
      throw refusal(fmt::format("cannot write {}: {}", target, ec.message()));
    }
    fmt::print("wrote {}: {} {}, {}, {}, sha256 {}\n", target, m.name, m.version,
               plural(m.groups.size(), "group"), plural(m.routes.size(), "route"),
               sha256_hex(*archive));
    return 0;
  } catch (const refusal& e) {
    fmt::print(stderr, "microlith package: {}; nothing was written\n", e.what());
    return 1;
  }
}

} // namespace microlith::cli
