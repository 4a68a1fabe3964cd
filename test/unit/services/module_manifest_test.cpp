// The manifest of a module archive and its ABI note (module_manifest.hpp): TOML round trips,
// the checks of every key, the ABI comparison, and open_package refusing archives whose
// manifest, note and entries disagree.
#include <microlith/actors/error.hpp>
#include <microlith/services/module_manifest.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using Catch::Matchers::Contains;
using microlith::message_of;
using microlith::module_abi;
using microlith::module_manifest;

namespace {

module_abi abi_of_test() {
  return {"0.1.0", "0.17.6", "3.21.12", "GNU 12.2.0", "libstdc++ cxx11"};
}

const std::string library_bytes = "\x7f"
                                  "ELF not really a library";
const std::string contracts_library_bytes = "\x7f"
                                            "ELF generated contract code";
const std::string contracts_bytes = "a descriptor set";

module_manifest sample() {
  module_manifest m;
  m.name = "acme.statements";
  m.target = "acme_statements";
  m.version = "1.0.0";
  m.abi = abi_of_test();
  m.library = "lib/libacme_statements.so";
  m.contracts_library = "lib/libmicrolith_contracts_ab12.so";
  m.contracts = "contracts.desc";
  m.provides = {"acme/statements.proto"};
  m.requires_contracts = {"bank.proto", "google/protobuf/empty.proto"};
  microlith::manifest_group g;
  g.name = "statements";
  g.restart = microlith::restart_type::transient;
  g.strategy = microlith::strategy::rest_for_one;
  g.intensity = 3;
  g.period = std::chrono::milliseconds{2500};
  m.groups.push_back(g);
  m.routes.push_back({"GET /statements/{account_id}", "statements.Get"});
  for (const auto& [name, bytes] : {std::pair{m.library, library_bytes},
                                    std::pair{m.contracts_library, contracts_library_bytes},
                                    std::pair{m.contracts, contracts_bytes}})
    m.files.push_back({name, microlith::sha256_hex(bytes), bytes.size()});
  return m;
}

// The entries of a well-formed archive of sample(), manifest and note first.
std::vector<microlith::archive_entry> sample_entries() {
  auto m = sample();
  return {{"manifest.toml", microlith::manifest_text(m)},
          {"abi.toml", microlith::abi_note(m.abi)},
          {m.library, library_bytes},
          {m.contracts_library, contracts_library_bytes},
          {m.contracts, contracts_bytes}};
}

std::string archive_of(const std::vector<microlith::archive_entry>& entries) {
  auto bytes = microlith::write_archive(entries);
  REQUIRE(bytes);
  return *bytes;
}

// The refusal's message when opening `bytes`; fails the test when it opens.
std::string refusal(const std::string& bytes, const microlith::archive_limits& limits = {}) {
  auto package = microlith::open_package(bytes, "acme-1.0.0.mlm", limits);
  REQUIRE_FALSE(package);
  return message_of(package.error());
}

// The parse error of the manifest text `text`.
std::string manifest_refusal(const std::string& text) {
  auto m = microlith::parse_manifest(text, "manifest.toml");
  REQUIRE_FALSE(m);
  return message_of(m.error());
}

// sample()'s manifest text with `from` replaced by `to` (once).
std::string edited(const std::string& from, const std::string& to) {
  auto text = microlith::manifest_text(sample());
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

void check_equal(const module_manifest& a, const module_manifest& b) {
  CHECK(a.name == b.name);
  CHECK(a.target == b.target);
  CHECK(a.version == b.version);
  CHECK(a.abi == b.abi);
  CHECK(a.library == b.library);
  CHECK(a.contracts_library == b.contracts_library);
  CHECK(a.contracts == b.contracts);
  CHECK(a.provides == b.provides);
  CHECK(a.requires_contracts == b.requires_contracts);
  REQUIRE(a.groups.size() == b.groups.size());
  for (std::size_t i = 0; i < a.groups.size(); ++i) {
    CHECK(a.groups[i].name == b.groups[i].name);
    CHECK(a.groups[i].restart == b.groups[i].restart);
    CHECK(a.groups[i].strategy == b.groups[i].strategy);
    CHECK(a.groups[i].intensity == b.groups[i].intensity);
    CHECK(a.groups[i].period == b.groups[i].period);
  }
  REQUIRE(a.routes.size() == b.routes.size());
  for (std::size_t i = 0; i < a.routes.size(); ++i) {
    CHECK(a.routes[i].key == b.routes[i].key);
    CHECK(a.routes[i].target == b.routes[i].target);
  }
  REQUIRE(a.files.size() == b.files.size());
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    CHECK(a.files[i].name == b.files[i].name);
    CHECK(a.files[i].sha256 == b.files[i].sha256);
    CHECK(a.files[i].size == b.files[i].size);
  }
}

} // namespace

TEST_CASE("abi_differences names each differing field with both values", "[unit]") {
  auto library = abi_of_test();
  CHECK(microlith::abi_differences(library, abi_of_test()).empty());
  CHECK(library == abi_of_test());
  library.caf = "0.17.5";
  library.cxx_abi = "libc++";
  CHECK(library != abi_of_test());
  auto lines = microlith::abi_differences(library, abi_of_test());
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "CAF 0.17.5 (library) vs 0.17.6 (this process)");
  CHECK(lines[1] == "C++ library libc++ (library) vs libstdc++ cxx11 (this process)");
  library = abi_of_test();
  library.microlith = "0.2.0";
  library.protobuf = "3.21.11";
  library.compiler = "Clang 16.0.0";
  lines = microlith::abi_differences(library, abi_of_test());
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "microlith 0.2.0 (library) vs 0.1.0 (this process)");
  CHECK(lines[1] == "Protobuf 3.21.11 (library) vs 3.21.12 (this process)");
  CHECK(lines[2] == "compiler Clang 16.0.0 (library) vs GNU 12.2.0 (this process)");
}

TEST_CASE("an ABI note reads back the ABI it was written with", "[unit]") {
  auto text = microlith::abi_note(abi_of_test());
  CHECK_THAT(text, Contains("caf = \"0.17.6\""));
  auto back = microlith::parse_abi_note(text, "abi.toml");
  REQUIRE(back);
  CHECK(*back == abi_of_test());
}

TEST_CASE("parse_abi_note refuses a note missing a key, with an unknown key or a non-string",
          "[unit]") {
  auto refused = [](const std::string& text) {
    auto abi = microlith::parse_abi_note(text, "acme.abi.toml");
    REQUIRE_FALSE(abi);
    return message_of(abi.error());
  };
  auto full = microlith::abi_note(abi_of_test());
  auto without = [&](const std::string& line) {
    auto text = full;
    return text.erase(text.find(line), line.size() + 1);
  };
  CHECK_THAT(refused(without("protobuf = \"3.21.12\"")),
             Contains("acme.abi.toml") && Contains("protobuf: missing (expected a string)"));
  CHECK_THAT(refused(full + "boost = \"1.74\"\n"),
             Contains("acme.abi.toml:") && Contains("boost: unknown key"));
  CHECK_THAT(refused(without("caf = \"0.17.6\"") + "caf = 17\n"),
             Contains("caf: expected a string, got an integer"));
  CHECK_THAT(refused("caf = \n"), Contains("acme.abi.toml:1:"));
}

TEST_CASE("a manifest reads back the manifest it was written from", "[unit]") {
  auto m = sample();
  SECTION("with everything") {}
  SECTION("without contracts_library, routes, provides or requires") {
    m.contracts_library.clear();
    m.routes.clear();
    m.provides.clear();
    m.requires_contracts.clear();
  }
  SECTION("with several groups") {
    auto g = m.groups[0];
    g.name = "statements_archive";
    g.restart = microlith::restart_type::temporary;
    g.strategy = microlith::strategy::one_for_all;
    g.intensity = 0;
    m.groups.push_back(g);
  }
  auto text = microlith::manifest_text(m);
  auto back = microlith::parse_manifest(text, "manifest.toml");
  REQUIRE(back);
  check_equal(*back, m);
}

TEST_CASE("parse_manifest refuses bad values, naming the source, line and key", "[unit]") {
  // A line number is the line of the key in sample()'s text.
  CHECK_THAT(manifest_refusal(edited("name = \"acme.statements\"", "name = \"Acme-Statements\"")),
             Contains("manifest.toml:3: name: expected a module name"));
  CHECK_THAT(
    manifest_refusal(edited("target = \"acme_statements\"", "target = \"acme statements\"")),
    Contains("manifest.toml:4: target: expected a CMake target name"));
  CHECK_THAT(manifest_refusal(edited("version = \"1.0.0\"", "version = \"1.0-beta\"")),
             Contains("manifest.toml:5: version: expected digits and dots"));
  CHECK_THAT(manifest_refusal(edited("library = \"lib/libacme_statements.so\"",
                                     "library = \"lib/sub/libacme_statements.so\"")),
             Contains("manifest.toml:6: library: expected an archive path"));
  CHECK_THAT(manifest_refusal(edited("contracts = \"contracts.desc\"", "contracts = \"../x\"")),
             Contains("contracts: expected an archive path"));
  CHECK_THAT(manifest_refusal(edited("restart = \"transient\"", "restart = \"sometimes\"")),
             Contains("groups[0].restart: expected one of permanent, transient, temporary, got "
                      "\"sometimes\""));
  CHECK_THAT(manifest_refusal(edited("strategy = \"rest_for_one\"", "strategy = \"all\"")),
             Contains("groups[0].strategy: expected one of one_for_one, one_for_all, "
                      "rest_for_one"));
  CHECK_THAT(manifest_refusal(edited("intensity = 3", "intensity = -1")),
             Contains("groups[0].intensity: expected an integer from 0"));
  CHECK_THAT(manifest_refusal(edited("period_ms = 2500", "period_ms = 0")),
             Contains("groups[0].period_ms: expected a number of milliseconds above 0"));
  CHECK_THAT(manifest_refusal(edited("key = \"GET /statements/{account_id}\"", "key = \"\"")),
             Contains("routes[0].key: empty"));
  CHECK_THAT(manifest_refusal(edited("target = \"statements.Get\"", "target = \"\"")),
             Contains("routes[0].target: empty"));
  CHECK_THAT(manifest_refusal(edited("sha256 = \"", "sha256 = \"XYZ")),
             Contains("files[0].sha256: expected 64 lowercase hex digits"));
  CHECK_THAT(manifest_refusal(edited("caf = \"0.17.6\"", "caf = \"\"")),
             Contains("abi.caf: empty"));
}

TEST_CASE("parse_manifest refuses missing, unknown and repeated keys and groups", "[unit]") {
  CHECK_THAT(manifest_refusal(edited("version = \"1.0.0\"\n", "")),
             Contains("manifest.toml") && Contains("version: missing (expected a string)"));
  CHECK_THAT(manifest_refusal(edited("library = ", "libraries = ")),
             Contains("manifest.toml:6: libraries: unknown key"));
  CHECK_THAT(manifest_refusal(edited("period_ms = 2500", "period_ms = 2500\nshutdown = \"5s\"")),
             Contains("groups[0].shutdown: unknown key"));
  CHECK_THAT(manifest_refusal(edited("\n[[routes]]", "\n[[groups]]\nname = \"statements\"\n"
                                                     "restart = \"permanent\"\nstrategy = "
                                                     "\"one_for_one\"\nintensity = 1\n"
                                                     "period_ms = 1\n\n[[routes]]")),
             Contains("groups[1].name: a second group called \"statements\""));
  auto m = sample();
  m.groups.clear();
  CHECK_THAT(manifest_refusal(microlith::manifest_text(m)),
             Contains("groups: no group: a module defines at least one"));
  m = sample();
  m.files.push_back(m.files[0]);
  CHECK_THAT(manifest_refusal(microlith::manifest_text(m)),
             Contains("files[3].name: \"lib/libacme_statements.so\" is listed twice"));
  CHECK_THAT(manifest_refusal("name = \"acme\"\nversion = \n"), Contains("manifest.toml:2:"));
}

TEST_CASE("open_package opens a well-formed archive", "[unit]") {
  auto bytes = archive_of(sample_entries());
  auto package = microlith::open_package(bytes, "acme-1.0.0.mlm");
  REQUIRE(package);
  check_equal(package->manifest, sample());
  CHECK(package->entries.size() == 5);
  CHECK(package->sha256 == microlith::sha256_hex(bytes));
}

TEST_CASE("open_package refuses archives whose entries disagree with the manifest", "[unit]") {
  auto entries = sample_entries();
  SECTION("a file changed after packaging (digest mismatch)") {
    entries[2].bytes[1] = 'X'; // same size, other bytes
    CHECK_THAT(refusal(archive_of(entries)),
               Contains("acme-1.0.0.mlm: entry \"lib/libacme_statements.so\" has sha256")
                 && Contains("the file was changed after packaging"));
  }
  SECTION("a file of another size") {
    entries[4].bytes += "more";
    CHECK_THAT(refusal(archive_of(entries)),
               Contains("acme-1.0.0.mlm: entry \"contracts.desc\" is 20 bytes, manifest.toml "
                        "says 16"));
  }
  SECTION("an entry the manifest does not list") {
    entries.push_back({"lib/libextra.so", "extra"});
    CHECK_THAT(refusal(archive_of(entries)),
               Contains("acme-1.0.0.mlm: entry \"lib/libextra.so\" is not listed in "
                        "manifest.toml's files"));
  }
  SECTION("the library's entry missing") {
    entries.erase(entries.begin() + 2);
    CHECK_THAT(refusal(archive_of(entries)),
               Contains("acme-1.0.0.mlm: entry \"lib/libacme_statements.so\" is listed in "
                        "manifest.toml but missing"));
  }
  SECTION("the library not among the listed files") {
    auto m = sample();
    m.files.erase(m.files.begin());
    entries.erase(entries.begin() + 2);
    entries[0].bytes = microlith::manifest_text(m);
    CHECK_THAT(refusal(archive_of(entries)),
               Contains("acme-1.0.0.mlm: manifest.toml's library \"lib/libacme_statements.so\" "
                        "is not one of its files"));
  }
  SECTION("an ABI note that differs from the manifest's ABI") {
    auto abi = abi_of_test();
    abi.caf = "0.17.5";
    entries[1].bytes = microlith::abi_note(abi);
    CHECK_THAT(refusal(archive_of(entries)),
               Contains("acme-1.0.0.mlm: abi.toml does not match manifest.toml's [abi]: caf is "
                        "\"0.17.5\" in abi.toml, \"0.17.6\" in manifest.toml"));
  }
  SECTION("no manifest") {
    entries.erase(entries.begin());
    CHECK_THAT(refusal(archive_of(entries)), Contains("acme-1.0.0.mlm: no manifest.toml entry"));
  }
  SECTION("no ABI note") {
    entries.erase(entries.begin() + 1);
    CHECK_THAT(refusal(archive_of(entries)), Contains("acme-1.0.0.mlm: no abi.toml entry"));
  }
  SECTION("a manifest that does not parse") {
    entries[0].bytes = edited("restart = \"transient\"", "restart = 1");
    CHECK_THAT(refusal(archive_of(entries)),
               Contains("acme-1.0.0.mlm: manifest.toml:") && Contains("groups[0].restart"));
  }
}

TEST_CASE("open_package refuses an archive over its limits or broken as a tar file", "[unit]") {
  auto bytes = archive_of(sample_entries());
  microlith::archive_limits limits;
  limits.max_bytes = 4096;
  CHECK_THAT(refusal(bytes, limits),
             Contains("acme-1.0.0.mlm: the archive is " + std::to_string(bytes.size())
                      + " bytes, over the limit of 4096"));
  CHECK_THAT(refusal(bytes.substr(0, 1000)), Contains("acme-1.0.0.mlm: the archive is truncated"));
}
