// `microlith check FILE.mlm`: everything that can be known of a module archive without loading
// it. The archive must open (open_package: entries, manifest, note, digests), its ABI must be
// this process's, its descriptor set must build in a fresh pool and hold the files it provides,
// and its routes must parse. Every problem is printed, then the exit code says whether any was
// found.
#include "module_commands.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/net/gateway/route_table.hpp"
#include "microlith/services/module_manifest.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

namespace microlith::cli {

namespace {

// Collects what a descriptor pool says of a file it cannot build.
class pool_errors : public google::protobuf::DescriptorPool::ErrorCollector {
public:
  void AddError(const std::string& filename, const std::string& element_name,
                const google::protobuf::Message*, ErrorLocation,
                const std::string& message) override {
    errors.push_back(element_name.empty()
                       ? fmt::format("{}: {}", filename, message)
                       : fmt::format("{}: {}: {}", filename, element_name, message));
  }

  std::vector<std::string> errors;
};

const archive_entry* find_entry(const module_package& p, std::string_view name) {
  auto it = std::find_if(p.entries.begin(), p.entries.end(),
                         [&](const archive_entry& e) { return e.name == name; });
  return it == p.entries.end() ? nullptr : &*it;
}

// Whether some service of the files `names` in `pool` has a method called `method`.
bool has_method(const google::protobuf::DescriptorPool& pool, const std::vector<std::string>& names,
                const std::string& method) {
  for (const auto& name : names) {
    const auto* file = pool.FindFileByName(name);
    if (file == nullptr)
      continue;
    for (int s = 0; s < file->service_count(); ++s)
      if (file->service(s)->FindMethodByName(method) != nullptr)
        return true;
  }
  return false;
}

} // namespace

int check_module_archive(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream bytes;
  if (in)
    bytes << in.rdbuf();
  if (!in || in.bad()) {
    fmt::print(stderr, "microlith check: cannot read {}\n", path);
    return 1;
  }
  auto package = open_package(bytes.str(), path);
  if (!package) {
    fmt::print(stderr, "{}\n{}: refused\n", message_of(package.error()), path);
    return 1;
  }
  const auto& m = package->manifest;
  std::vector<std::string> problems;
  std::vector<std::string> warnings;

  auto differences = abi_differences(m.abi, running_abi());
  for (const auto& d : differences)
    problems.push_back(fmt::format("ABI: {}", d));

  // The contracts, built as a loader would build them: in a pool of their own.
  google::protobuf::DescriptorPool pool;
  const auto* contracts = find_entry(*package, m.contracts);
  google::protobuf::FileDescriptorSet set;
  std::set<std::string> in_set;
  if (contracts == nullptr || !set.ParseFromString(contracts->bytes)) {
    problems.push_back(fmt::format("{} is not a FileDescriptorSet", m.contracts));
  } else {
    pool_errors errors;
    for (const auto& file : set.file()) {
      in_set.insert(file.name());
      if (pool.BuildFileCollectingErrors(file, &errors) == nullptr) {
        problems.push_back(fmt::format("{}: the file {} does not build", m.contracts, file.name()));
        for (const auto& e : errors.errors)
          problems.push_back(fmt::format("  {}", e));
        errors.errors.clear();
      }
    }
  }
  for (const auto& p : m.provides)
    if (in_set.count(p) == 0)
      problems.push_back(fmt::format("provides {}, which {} does not hold", p, m.contracts));
  for (const auto& r : m.requires_contracts)
    if (in_set.count(r) == 0)
      problems.push_back(fmt::format("requires {}, which {} does not hold", r, m.contracts));

  std::vector<std::string> routes;
  auto contract_files = m.provides;
  contract_files.insert(contract_files.end(), m.requires_contracts.begin(),
                        m.requires_contracts.end());
  for (const auto& r : m.routes) {
    auto spec = gateway::parse_route(r.key, r.target);
    if (!spec) {
      problems.push_back(
        fmt::format("route \"{}\" = \"{}\": {}", r.key, r.target, message_of(spec.error())));
      continue;
    }
    routes.push_back(spec->to_string());
    if (!has_method(pool, contract_files, spec->method))
      warnings.push_back(fmt::format("route {}: no service in {} has a method {} (the service "
                                     "is checked when a gateway builds its routes)",
                                     spec->to_string(), m.contracts, spec->method));
  }

  if (!problems.empty()) {
    for (const auto& p : problems)
      fmt::print(stderr, "{}: {}\n", path, p);
    fmt::print(stderr, "{}: {} problem{}; module {} {} refused\n", path, problems.size(),
               problems.size() == 1 ? "" : "s", m.name, m.version);
    return 1;
  }
  fmt::print("{}: ok: module {} {} (target {})\n", path, m.name, m.version, m.target);
  fmt::print("  ABI ok: microlith {}, CAF {}, Protobuf {}, {}, {}\n", m.abi.microlith, m.abi.caf,
             m.abi.protobuf, m.abi.compiler, m.abi.cxx_abi);
  for (const auto& g : m.groups)
    fmt::print("  group {}: restart {}, strategy {}, intensity {}, period {}ms\n", g.name,
               to_string(g.restart), to_string(g.strategy), g.intensity, g.period.count());
  for (const auto& r : routes)
    fmt::print("  route {}\n", r);
  fmt::print("  provides: {}\n",
             m.provides.empty() ? "nothing" : fmt::format("{}", fmt::join(m.provides, ", ")));
  fmt::print("  requires: {}\n", m.requires_contracts.empty()
                                   ? "nothing"
                                   : fmt::format("{}", fmt::join(m.requires_contracts, ", ")));
  fmt::print("  sha256 {}\n", package->sha256);
  for (const auto& w : warnings)
    fmt::print("  warning: {}\n", w);
  return 0;
}

} // namespace microlith::cli
