#include "modules/contract_check.hpp"

#include "microlith/actors/error.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/message_differencer.h>

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

namespace microlith::detail {

namespace {

namespace pb = google::protobuf;

caf::error refuse(std::string message) {
  return make_error(errc::failed_precondition, std::move(message));
}

// The full names a file defines: messages (nested ones too), enums, services.
void collect_symbols(const std::string& scope, const pb::DescriptorProto& m,
                     std::vector<std::string>& out) {
  auto name = scope.empty() ? m.name() : scope + "." + m.name();
  out.push_back(name);
  for (const auto& nested : m.nested_type())
    collect_symbols(name, nested, out);
  for (const auto& e : m.enum_type())
    out.push_back(name + "." + e.name());
}

std::vector<std::string> symbols_of(const pb::FileDescriptorProto& file) {
  std::vector<std::string> out;
  const auto& package = file.package();
  for (const auto& m : file.message_type())
    collect_symbols(package, m, out);
  for (const auto& e : file.enum_type())
    out.push_back(package.empty() ? e.name() : package + "." + e.name());
  for (const auto& s : file.service())
    out.push_back(package.empty() ? s.name() : package + "." + s.name());
  return out;
}

// The first symbol whose definition differs between `loaded` and `wanted` (or the first one
// only one of them defines); "" when they define the same symbols identically.
std::string first_difference(const pb::FileDescriptorProto& loaded,
                             const pb::FileDescriptorProto& wanted) {
  auto a = symbols_of(loaded);
  auto b = symbols_of(wanted);
  for (const auto& s : b)
    if (std::find(a.begin(), a.end(), s) == a.end())
      return s + " (new)";
  for (const auto& s : a)
    if (std::find(b.begin(), b.end(), s) == b.end())
      return s + " (removed)";
  const auto& package = wanted.package();
  auto scoped = [&](const std::string& n) { return package.empty() ? n : package + "." + n; };
  for (const auto& m : wanted.message_type()) {
    auto other = std::find_if(loaded.message_type().begin(), loaded.message_type().end(),
                              [&](const pb::DescriptorProto& x) { return x.name() == m.name(); });
    if (other != loaded.message_type().end() && !pb::util::MessageDifferencer::Equals(*other, m)) {
      for (const auto& f : m.field()) {
        auto same = std::find_if(other->field().begin(), other->field().end(),
                                 [&](const pb::FieldDescriptorProto& x) {
                                   return pb::util::MessageDifferencer::Equals(x, f);
                                 });
        if (same == other->field().end())
          return scoped(m.name()) + "." + f.name();
      }
      return scoped(m.name());
    }
  }
  for (const auto& s : wanted.service()) {
    auto other =
      std::find_if(loaded.service().begin(), loaded.service().end(),
                   [&](const pb::ServiceDescriptorProto& x) { return x.name() == s.name(); });
    if (other != loaded.service().end() && !pb::util::MessageDifferencer::Equals(*other, s))
      return scoped(s.name());
  }
  return "its options";
}

// The pool's copy of a loaded file as protoc writes it in a descriptor set (with json names).
pb::FileDescriptorProto loaded_copy(const pb::FileDescriptor& file) {
  pb::FileDescriptorProto out;
  file.CopyTo(&out);
  file.CopyJsonNameTo(&out);
  return out;
}

} // namespace

caf::expected<contract_plan> check_contracts(const module_manifest& manifest,
                                             std::string_view descriptor_set,
                                             std::string_view who) {
  pb::FileDescriptorSet set;
  if (!set.ParseFromArray(descriptor_set.data(), static_cast<int>(descriptor_set.size())))
    return refuse(
      fmt::format("{}: {} is not a Protobuf FileDescriptorSet", who, manifest.contracts));
  const auto* pool = pb::DescriptorPool::generated_pool();
  auto provided = [&](const std::string& name) {
    return std::find(manifest.provides.begin(), manifest.provides.end(), name)
           != manifest.provides.end();
  };
  std::vector<std::string> loaded_files;
  std::vector<std::string> absent_files;
  for (const auto& name : manifest.provides)
    if (std::none_of(set.file().begin(), set.file().end(),
                     [&](const pb::FileDescriptorProto& f) { return f.name() == name; }))
      return refuse(fmt::format("{}: contract {} is listed in its manifest but not in {}", who,
                                name, manifest.contracts));
  for (auto file : set.file()) {
    file.clear_source_code_info(); // comments and positions do not change a contract
    const auto* existing = pool->FindFileByName(file.name());
    if (!provided(file.name())) {
      // A contract it uses: the process must have exactly this one.
      if (existing == nullptr)
        return refuse(fmt::format("{} uses contract {}, which this program does not have: link "
                                  "the module that defines it into the program, or install it",
                                  who, file.name()));
      auto have = loaded_copy(*existing);
      if (!pb::util::MessageDifferencer::Equals(have, file))
        return refuse(fmt::format("{} was built against another version of contract {} than this "
                                  "program has (first difference: {})",
                                  who, file.name(), first_difference(have, file)));
      continue;
    }
    if (existing != nullptr) {
      auto have = loaded_copy(*existing);
      if (!pb::util::MessageDifferencer::Equals(have, file))
        return refuse(fmt::format(
          "{}: contract {} differs from the one already loaded in this process (symbol {}): a "
          "process holds one version of a .proto file, so a changed contract needs a new proto "
          "package or file name",
          who, file.name(), first_difference(have, file)));
      loaded_files.push_back(file.name());
      continue;
    }
    for (const auto& symbol : symbols_of(file))
      if (const auto* owner = pool->FindFileContainingSymbol(symbol))
        return refuse(fmt::format("{}: contract {} defines {}, which {} already defines in this "
                                  "process: give the contract another proto package",
                                  who, file.name(), symbol, owner->name()));
    absent_files.push_back(file.name());
  }
  if (!loaded_files.empty() && !absent_files.empty())
    return refuse(fmt::format("{}: contracts {} are loaded already but {} are not: one contracts "
                              "library cannot be loaded in part",
                              who, fmt::join(loaded_files, ", "), fmt::join(absent_files, ", ")));
  contract_plan plan;
  plan.load_library = !absent_files.empty();
  if (plan.load_library && manifest.contracts_library.empty())
    return refuse(fmt::format("{} defines contracts {} but its archive holds no contracts library",
                              who, fmt::join(absent_files, ", ")));
  return plan;
}

} // namespace microlith::detail
