// Loading the loadable modules of test/modules the way `microlith` will: this program links
// microlith whole and exports its symbols (microlith_enable_module_loading) and links none of the
// modules' contracts. A module's contracts library is opened RTLD_NOW | RTLD_GLOBAL first (unless
// the same contracts are already loaded), then the module library RTLD_NOW | RTLD_LOCAL, whose
// entry point (microlith::module_entry_symbol) answers a module_definition the caller owns.
// Also what the build writes beside each library: the contracts library's name, the ABI note,
// the description and the info file.
#include <microlith/actors/error.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/module_manifest.hpp>
#include <microlith/services/system_file.hpp>

#include "support/temp_folder.hpp"
#include "support/two_threads.hpp"
#include "test_module_paths.hpp"

#include <caf/config.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/common.h>

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

namespace {

namespace pb = google::protobuf;

// Opens the library at `path` with `mode`; fails the test with dlerror() when it cannot.
void* open_library(const char* path, int mode) {
  void* handle = ::dlopen(path, mode);
  const char* error = handle ? nullptr : ::dlerror();
  INFO("dlopen " << path << ": " << (error ? error : "ok"));
  REQUIRE(handle);
  return handle;
}

// The module `library` defines, from its entry point.
std::unique_ptr<microlith::module_definition> definition_in(void* library) {
  ::dlerror();
  void* entry = ::dlsym(library, microlith::module_entry_symbol);
  const char* error = entry ? nullptr : ::dlerror();
  INFO("dlsym " << microlith::module_entry_symbol << ": " << (error ? error : "ok"));
  REQUIRE(entry);
  auto define = reinterpret_cast<microlith::module_entry_function>(entry);
  return std::unique_ptr<microlith::module_definition>{define()};
}

// Starts the group "greeter" of `module` on a node of its own, calls greeter.Hello with `name`
// (a request made from the contract in the generated pool: this program has no code generated
// from it) and answers the reply's text, the group stopped.
std::string hello_from(const microlith::module_definition& module, const std::string& name) {
  microlith::module_catalogue catalogue;
  catalogue.add(module);
  auto config = microlith::parse_system_file(
    "[system]\nname = \"greeter\"\n[groups.greeter]\nmodule = \"test.greeter\"\n", "inline.toml",
    catalogue);
  microlith::node n{test_support::two_threads()};
  microlith::host h{n, config, catalogue};
  auto err = h.start();
  INFO("start: " << (err ? microlith::describe(err) : "ok"));
  REQUIRE_FALSE(err);

  const auto* request_type = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(
    "microlith.test.greeter.HelloRequest");
  REQUIRE(request_type);
  std::shared_ptr<pb::Message> request{
    pb::MessageFactory::generated_factory()->GetPrototype(request_type)->New()};
  request->GetReflection()->SetString(request.get(), request_type->FindFieldByName("name"), name);
  auto reply = n.call_shared("greeter", "Hello", request);
  h.stop();
  INFO("call: " << (reply ? "ok" : microlith::describe(reply.error())));
  REQUIRE(reply);
  const auto& body = **reply;
  REQUIRE(body.GetDescriptor()->full_name() == "microlith.test.greeter.HelloReply");
  return body.GetReflection()->GetString(body, body.GetDescriptor()->FindFieldByName("text"));
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  INFO("reading " << path);
  REQUIRE(in);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The `key = "value"` lines of a TOML file of strings (an ABI note, an info file).
std::map<std::string, std::string> string_keys(const std::string& path) {
  std::map<std::string, std::string> out;
  std::istringstream lines{read_file(path)};
  static const std::regex line_of_string{R"re(^([a-z_]+) = "(.*)"$)re"};
  std::smatch m;
  for (std::string line; std::getline(lines, line);)
    if (std::regex_match(line, m, line_of_string))
      out[m[1]] = m[2];
  return out;
}

std::string file_name(const std::string& path) {
  return std::filesystem::path{path}.filename().string();
}

} // namespace

TEST_CASE("two versions of a module load side by side over one contracts library and run "
          "their own code",
          "[unit][modules]") {
  // Both versions were built from the same contract: one contracts library serves both.
  REQUIRE(file_name(test_modules::greeter_v1.contracts_library)
          == file_name(test_modules::greeter_v2.contracts_library));
  open_library(test_modules::greeter_v1.contracts_library, RTLD_NOW | RTLD_GLOBAL);
  REQUIRE(
    pb::DescriptorPool::generated_pool()->FindServiceByName("microlith.test.greeter.Greeter"));

  void* v1 = open_library(test_modules::greeter_v1.library, RTLD_NOW | RTLD_LOCAL);
  auto def1 = definition_in(v1);
  CHECK(def1->name() == "test.greeter");
  REQUIRE(def1->groups().size() == 1);
  CHECK(def1->groups()[0].name == "greeter");
  REQUIRE(def1->routes().size() == 1);
  CHECK(def1->routes()[0].key == "GET /greet/{name}");
  CHECK(def1->routes()[0].target == "greeter.Hello");
  CHECK(def1->routes()[0].spec);

  // v2's contracts library is not opened: the contracts are already there.
  void* v2 = open_library(test_modules::greeter_v2.library, RTLD_NOW | RTLD_LOCAL);
  CHECK(v2 != v1);
  auto def2 = definition_in(v2);
  CHECK(def2->name() == "test.greeter");
  REQUIRE(def2->groups().size() == 1);
  CHECK(def2->groups()[0].name == "greeter");
  REQUIRE(def2->routes().size() == 1);
  CHECK(def2->routes()[0].key == "GET /greet/{name}");
  CHECK(::dlsym(v1, microlith::module_entry_symbol) != ::dlsym(v2, microlith::module_entry_symbol));

  // Each definition builds its own library's service.
  CHECK(hello_from(*def1, "loader") == "hello loader from 1.0.0");
  CHECK(hello_from(*def2, "loader") == "hello loader from 2.0.0");
  CHECK(hello_from(*def1, "again") == "hello again from 1.0.0");

  // Everything made from a library's code is gone (definitions, nodes): the modules may close.
  // The contracts library stays: Protobuf's generated pool keeps pointers into it.
  def1.reset();
  def2.reset();
  CHECK(::dlclose(v2) == 0);
  CHECK(::dlclose(v1) == 0);
}

TEST_CASE("a module library carries neither its contracts' code nor a dependency on them",
          "[unit][modules]") {
  // Without its contracts library open, the module's references to them stay unresolved.
  void* handle = ::dlopen(test_modules::greeter_v1.library, RTLD_NOW | RTLD_LOCAL);
  const char* error = handle ? nullptr : ::dlerror();
  REQUIRE_FALSE(handle);
  CHECK_THAT(std::string{error}, Catch::Contains("undefined symbol") && Catch::Contains("greeter"));
}

TEST_CASE("the contracts library is named after its contracts' digest", "[unit][modules]") {
  static const std::regex contracts_name{R"(libmicrolith_contracts_[0-9a-f]{16}\.so)"};
  auto v1 = file_name(test_modules::greeter_v1.contracts_library);
  auto changed = file_name(test_modules::greeter_changed.contracts_library);
  CHECK(std::regex_match(v1, contracts_name));
  CHECK(std::regex_match(changed, contracts_name));
  SECTION("the same contract, the same name") {
    CHECK(file_name(test_modules::greeter_v2.contracts_library) == v1);
    CHECK(file_name(test_modules::abi_mismatch.contracts_library) == v1);
  }
  SECTION("a changed contract (the same file name and package), another name") {
    CHECK(changed != v1);
  }
  SECTION("every module's files sit in a folder of their own") {
    CHECK(std::string{test_modules::greeter_v1.contracts_library}
          != test_modules::greeter_v2.contracts_library);
  }
}

TEST_CASE("a module's ABI note is the ABI of the program that loads it, unless overridden",
          "[unit][modules]") {
  auto running = microlith::running_abi();
  // What this test was compiled with.
  CHECK(running.caf
        == std::to_string(CAF_MAJOR_VERSION) + "." + std::to_string(CAF_MINOR_VERSION) + "."
             + std::to_string(CAF_PATCH_VERSION));
  CHECK(running.protobuf
        == std::to_string(GOOGLE_PROTOBUF_VERSION / 1000000) + "."
             + std::to_string(GOOGLE_PROTOBUF_VERSION / 1000 % 1000) + "."
             + std::to_string(GOOGLE_PROTOBUF_VERSION % 1000));
#if defined(__GNUC__) && !defined(__clang__)
  CHECK(running.compiler
        == "GNU " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__) + "."
             + std::to_string(__GNUC_PATCHLEVEL__));
#endif
#if defined(__GLIBCXX__) && _GLIBCXX_USE_CXX11_ABI
  CHECK(running.cxx_abi == "libstdc++ cxx11");
#endif
  CHECK_FALSE(running.microlith.empty());

  auto note = string_keys(test_modules::greeter_v1.abi_note);
  CHECK(note.size() == 5);
  CHECK(note["microlith"] == running.microlith);
  CHECK(note["caf"] == running.caf);
  CHECK(note["protobuf"] == running.protobuf);
  CHECK(note["compiler"] == running.compiler);
  CHECK(note["cxx_abi"] == running.cxx_abi);

  auto overridden = string_keys(test_modules::abi_mismatch.abi_note);
  CHECK(overridden["caf"] == "0.0.0");
  CHECK(overridden["microlith"] == running.microlith);
  CHECK(overridden["protobuf"] == running.protobuf);
}

TEST_CASE("a module's info file names its files, which the build wrote", "[unit][modules]") {
  const auto& m = test_modules::greeter_v1;
  auto info = string_keys(m.info);
  CHECK(info["target"] == "test_greeter_v1");
  CHECK(info["version"] == "1.0.0");
  CHECK(info["library"] == m.library);
  CHECK(info["contracts_library"] == m.contracts_library);
  CHECK(info["contracts"] == m.descriptor_set);
  CHECK(info["abi_note"] == m.abi_note);
  CHECK(info["description"] == m.description);
  CHECK_THAT(read_file(m.info), Catch::Contains("\nprovides = [\"proto/greeter.proto\"]\n"));
  for (const auto& key : {"library", "contracts_library", "contracts", "abi_note", "description"})
    CHECK(std::filesystem::is_regular_file(info[key]));
  CHECK(file_name(m.package) == "test_greeter_v1-1.0.0.mlm");

  // Without contracts, the contracts library is "" and the descriptor set empty.
  auto no_contracts = string_keys(test_modules::no_entry.info);
  CHECK(no_contracts.at("contracts_library").empty());
  CHECK(read_file(no_contracts.at("contracts")).empty());
  CHECK_THAT(read_file(test_modules::no_entry.info), Catch::Contains("\nprovides = []\n"));
}

TEST_CASE("a module's description and descriptor set come from its code and contracts",
          "[unit][modules]") {
  CHECK(read_file(test_modules::greeter_v1.description) == R"(name = "test.greeter"
[[groups]]
name = "greeter"
restart = "permanent"
strategy = "one_for_one"
intensity = 1
period_ms = 5000
[[routes]]
key = "GET /greet/{name}"
target = "greeter.Hello"
)");

  pb::FileDescriptorSet set;
  REQUIRE(set.ParseFromString(read_file(test_modules::greeter_v1.descriptor_set)));
  REQUIRE(set.file_size() == 1);
  CHECK(set.file(0).name() == "proto/greeter.proto");
  CHECK(set.file(0).package() == "microlith.test.greeter");
  CHECK(set.file(0).service(0).name() == "Greeter");

  pb::FileDescriptorSet changed;
  REQUIRE(changed.ParseFromString(read_file(test_modules::greeter_changed.descriptor_set)));
  REQUIRE(changed.file_size() == 1);
  CHECK(changed.file(0).name() == "proto/greeter.proto");
  CHECK(changed.file(0).message_type(1).field_size() == 2);
}

TEST_CASE("a library without MICROLITH_MODULE has no entry point", "[unit][modules]") {
  void* handle = open_library(test_modules::no_entry.library, RTLD_NOW | RTLD_LOCAL);
  ::dlerror();
  CHECK(::dlsym(handle, microlith::module_entry_symbol) == nullptr);
  CHECK(::dlsym(handle, "microlith_test_no_entry_answer") != nullptr);
  CHECK(::dlclose(handle) == 0);
}

TEST_CASE("test_abi_mismatch's static initializer marks the file its variable names when it runs",
          "[unit][modules]") {
  test_support::temp_folder folder{"static-init"};
  auto marker = (folder.path() / "ran").string();
  ::setenv("MICROLITH_TEST_STATIC_INIT_MARKER", marker.c_str(), 1);
  REQUIRE_FALSE(std::filesystem::exists(marker));
  open_library(test_modules::abi_mismatch.contracts_library, RTLD_NOW | RTLD_GLOBAL);
  open_library(test_modules::abi_mismatch.library, RTLD_NOW | RTLD_LOCAL);
  ::unsetenv("MICROLITH_TEST_STATIC_INIT_MARKER");
  CHECK(std::filesystem::exists(marker));
}
