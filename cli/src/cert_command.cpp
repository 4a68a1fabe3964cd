#include "cert_command.hpp"

#include "microlith/net/cluster/tls.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

namespace microlith::cli {

namespace {

namespace fs = std::filesystem;

bool is_node_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'
           || c == '.' || c == '-';
  });
}

// A TOML basic string.
std::string toml_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + '"';
}

struct pair_of_files {
  std::string name; // node name, or empty for the cluster's
  std::string pem;
  std::string key;
  std::string fingerprint;
};

} // namespace

int new_certificates(const std::string& dir, const std::string& nodes, bool force) {
  if (dir.empty()) {
    fmt::print(stderr, "microlith cert new: DIR: expected a folder, got \"\"\n");
    return 2;
  }
  std::vector<std::string> names;
  if (!nodes.empty()) {
    std::size_t start = 0;
    while (start <= nodes.size()) {
      auto end = nodes.find(',', start);
      if (end == std::string::npos)
        end = nodes.size();
      auto name = nodes.substr(start, end - start);
      if (!is_node_name(name)) {
        fmt::print(stderr,
                   "microlith cert new: --nodes: expected node names (letters, digits, '_', '.' "
                   "and '-') separated by commas, got \"{}\"\n",
                   nodes);
        return 2;
      }
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        fmt::print(stderr, "microlith cert new: --nodes: node {} is named twice\n", name);
        return 2;
      }
      names.push_back(std::move(name));
      start = end + 1;
    }
  }
  std::error_code ec;
  fs::path folder = fs::absolute(fs::path{dir}, ec).lexically_normal();
  std::vector<pair_of_files> pairs;
  auto add = [&](const std::string& node, const std::string& stem) {
    pairs.push_back(pair_of_files{
      node, (folder / (stem + ".pem")).string(), (folder / (stem + ".key")).string(), {}});
  };
  if (names.empty())
    add("", "cluster");
  for (const auto& name : names)
    add(name, name);
  if (!force) {
    std::vector<std::string> existing;
    for (const auto& p : pairs)
      for (const auto* path : {&p.pem, &p.key})
        if (fs::exists(*path, ec))
          existing.push_back(*path);
    if (!existing.empty()) {
      fmt::print(stderr, "microlith cert new: {} exist{} (--force replaces {})\n",
                 fmt::join(existing, ", "), existing.size() == 1 ? "s" : "",
                 existing.size() == 1 ? "it" : "them");
      return 1;
    }
  }
  fs::create_directories(folder, ec);
  if (ec) {
    fmt::print(stderr, "microlith cert new: cannot make {} ({})\n", folder.string(), ec.message());
    return 1;
  }
  for (auto& p : pairs) {
    auto fp =
      cluster::tls::make_self_signed(p.name.empty() ? "microlith cluster" : p.name, p.pem, p.key);
    if (!fp) {
      fmt::print(stderr, "microlith cert new: {}\n", message_of(fp.error()));
      return 1;
    }
    p.fingerprint = *fp;
    fmt::print("wrote {} (sha256:{})\n", p.pem, p.fingerprint);
    fmt::print("wrote {} (the private key, mode 0600)\n", p.key);
  }
  std::vector<std::string> all_pems;
  for (const auto& p : pairs)
    all_pems.push_back(toml_string(p.pem));
  fmt::print(
    "\n# Paste into the system file (a node trusts the certificates of its trusted list):\n");
  for (const auto& p : pairs) {
    // A node name with a dot is quoted, or TOML would read nested tables.
    auto node_key = p.name.find('.') == std::string::npos ? p.name : toml_string(p.name);
    fmt::print("[{}]\n", p.name.empty() ? "cluster.tls" : fmt::format("nodes.{}.tls", node_key));
    fmt::print("certificate = {}\n", toml_string(p.pem));
    fmt::print("key = {}\n", toml_string(p.key));
    fmt::print("trusted = [{}]\n\n", fmt::join(all_pems, ", "));
  }
  return 0;
}

} // namespace microlith::cli
