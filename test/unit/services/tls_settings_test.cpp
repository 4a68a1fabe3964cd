// [cluster.tls] and [nodes.NAME.tls] in the system file: paths resolved against the file's folder,
// a node's own table winning over the cluster's, and an error naming the key for each bad input.
#include "support/temp_folder.hpp"

#include "microlith/net/cluster/tls.hpp"
#include "microlith/services/host.hpp"
#include "microlith/services/system_file.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace tls = microlith::cluster::tls;
using microlith::parse_system_file;
using microlith::system_file_error;
using microlith::system_file_errors;

namespace {

// Lines 1-13; the tls tables the tests add start at line 14.
constexpr std::string_view head = R"([system]
name = "bank"

[groups.ledger]
module = "bank.ledger"

[nodes.a]
listen = "127.0.0.1:7101"
groups = ["ledger"]

[nodes.b]
listen = "127.0.0.1:7102"
groups = ["ledger"]
)";

struct files {
  test_support::temp_folder folder{"tls-settings"};
  std::string a_fp;
  std::string b_fp;

  files() {
    fs::create_directories(folder.path() / "certs");
    a_fp = *tls::make_self_signed("a", (folder.path() / "certs/a.pem").string(),
                                  (folder.path() / "certs/a.key").string());
    b_fp = *tls::make_self_signed("b", (folder.path() / "certs/b.pem").string(),
                                  (folder.path() / "certs/b.key").string());
    std::ofstream{folder.path() / "certs/junk.pem"} << "not a certificate\n";
  }

  std::string file() const { return (folder.path() / "bank.toml").string(); }

  microlith::system_config parse(const std::string& tables) const {
    return parse_system_file(std::string(head) + tables, file());
  }

  std::vector<system_file_error> errors_of(const std::string& tables) const {
    try {
      (void)parse(tables);
    } catch (const system_file_errors& e) {
      return e.errors();
    }
    FAIL("parse_system_file accepted the file");
    return {};
  }

  // Exactly one error, at `line`, naming `key`, its message containing `fragment`.
  void check_single(const std::string& tables, int line, const std::string& key,
                    const std::string& fragment) const {
    auto errors = errors_of(tables);
    INFO("errors: " << system_file_errors(errors).what());
    REQUIRE(errors.size() == 1);
    const auto& e = errors.front();
    INFO(e.to_string());
    CHECK(e.file == file());
    CHECK(e.line == line);
    CHECK(e.key == key);
    CHECK_THAT(e.message, Catch::Matchers::Contains(fragment));
  }
};

} // namespace

TEST_CASE("cluster.tls and nodes.NAME.tls are read with paths from the file's folder",
          "[unit][tls]") {
  files f;
  auto config = f.parse(R"(
[cluster.tls]
certificate = "certs/a.pem"
key = "certs/a.key"
trusted = ["certs/a.pem", "certs/b.pem"]

[nodes.b.tls]
certificate = "certs/b.pem"
key = "certs/b.key"
trusted = ["certs/a.pem", "sha256:)"
                        + f.b_fp + R"("]
)");
  REQUIRE(config.cluster.tls);
  auto in = [&](const std::string& p) { return (f.folder.path() / p).lexically_normal().string(); };
  CHECK(config.cluster.tls->certificate == in("certs/a.pem"));
  CHECK(config.cluster.tls->key == in("certs/a.key"));
  CHECK(config.cluster.tls->trusted_certificates
        == std::vector<std::string>{in("certs/a.pem"), in("certs/b.pem")});
  CHECK(config.cluster.tls->table == "cluster.tls");
  REQUIRE(config.nodes[1].tls);
  CHECK(config.nodes[1].tls->trusted_fingerprints == std::vector<std::string>{f.b_fp});
  CHECK_FALSE(config.nodes[0].tls);

  // A node uses its own table when it has one, else the cluster's.
  auto a = microlith::cluster_options_for(config, "a");
  CHECK(a.tls.certificate == in("certs/a.pem"));
  CHECK(a.tls.source == "[cluster.tls]");
  auto b = microlith::cluster_options_for(config, "b");
  CHECK(b.tls.certificate == in("certs/b.pem"));
  CHECK(b.tls.source == "[nodes.b.tls]");
  CHECK(b.tls.trusted_fingerprints == std::vector<std::string>{f.b_fp});
}

TEST_CASE("each bad tls input is an error naming its key", "[unit][tls]") {
  files f;
  SECTION("a missing certificate file") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/none.pem"
key = "certs/a.key"
trusted = ["certs/a.pem"]
)",
                   16, "cluster.tls.certificate",
                   "expected a PEM certificate file, got \"certs/none.pem\" (cannot open");
  }
  SECTION("a file that is no PEM certificate") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/junk.pem"
key = "certs/a.key"
trusted = ["certs/a.pem"]
)",
                   16, "cluster.tls.certificate", "holds no PEM certificate");
  }
  SECTION("a key that is not the certificate's") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/a.pem"
key = "certs/b.key"
trusted = ["certs/a.pem"]
)",
                   17, "cluster.tls.key",
                   "expected the PEM private key of \"certs/a.pem\", got \"certs/b.key\"");
  }
  SECTION("a key file that holds no key") {
    f.check_single(R"(
[nodes.a.tls]
certificate = "certs/a.pem"
key = "certs/a.pem"
trusted = ["certs/a.pem"]
)",
                   17, "nodes.a.tls.key", "holds no unencrypted PEM private key");
  }
  SECTION("a malformed fingerprint") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/a.pem"
key = "certs/a.key"
trusted = ["certs/a.pem", "sha256:abc"]
)",
                   18, "cluster.tls.trusted[1]",
                   "expected \"sha256:\" and 64 hex digits (colons allowed between them), got "
                   "\"sha256:abc\"");
  }
  SECTION("a trusted file that does not exist") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/a.pem"
key = "certs/a.key"
trusted = ["certs/gone.pem"]
)",
                   18, "cluster.tls.trusted[0]",
                   "expected a PEM certificate file or \"sha256:FINGERPRINT\", got "
                   "\"certs/gone.pem\"");
  }
  SECTION("an empty trusted list") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/a.pem"
key = "certs/a.key"
trusted = []
)",
                   18, "cluster.tls.trusted", "expected a non-empty array");
  }
  SECTION("no certificate") {
    f.check_single(R"(
[nodes.b.tls]
key = "certs/b.key"
trusted = ["certs/a.pem"]
)",
                   15, "nodes.b.tls.certificate", "missing required key");
  }
  SECTION("no key") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/a.pem"
trusted = ["certs/a.pem"]
)",
                   15, "cluster.tls.key", "missing required key");
  }
  SECTION("no trusted list") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/a.pem"
key = "certs/a.key"
)",
                   15, "cluster.tls.trusted", "missing required key");
  }
  SECTION("an unknown key") {
    f.check_single(R"(
[cluster.tls]
certificate = "certs/a.pem"
key = "certs/a.key"
trusted = ["certs/a.pem"]
cafile = "x"
)",
                   19, "cluster.tls.cafile", "unknown key");
  }
}
