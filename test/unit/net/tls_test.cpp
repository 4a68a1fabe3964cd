// TLS node links (net/include/microlith/net/cluster/tls.hpp): fingerprints, pins, certificates
// made with tls::make_self_signed, the verify hook's binding, and nodes in this process joined
// over CAF's OpenSSL module: pinned peers join, an unpinned one is refused with its fingerprint
// logged, a fingerprint pin works like a certificate file, a plain node cannot join a TLS one,
// nodes write no file for their pins, and calls over TLS links make no signal mask system calls
// in CAF's SIGPIPE guard.
#include "proto/test.pb.h"
#include "support/log_capture.hpp"
#include "support/temp_folder.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/net/cluster/cluster.hpp>
#include <microlith/net/cluster/tls.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
namespace cl = microlith::cluster;
namespace pb = microlith::test;
namespace tls = microlith::cluster::tls;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto until = steady::now() + limit;
  while (!done()) {
    if (steady::now() > until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

bool log_has(const test_support::log_capture& log, const std::string& text,
             std::chrono::milliseconds limit = 10s) {
  return eventually([&] { return log.text().find(text) != std::string::npos; }, limit);
}

/// A certificate and key made in `folder` as NAME.pem and NAME.key; answers the fingerprint.
std::string make_pair(const fs::path& folder, const std::string& name) {
  auto fp = tls::make_self_signed(name, (folder / (name + ".pem")).string(),
                                  (folder / (name + ".key")).string());
  REQUIRE(fp);
  return *fp;
}

cl::tls_options tls_of(const fs::path& folder, const std::string& name,
                       const std::vector<std::string>& trusted_files,
                       const std::vector<std::string>& trusted_fingerprints = {}) {
  cl::tls_options out;
  out.certificate = (folder / (name + ".pem")).string();
  out.key = (folder / (name + ".key")).string();
  for (const auto& t : trusted_files)
    out.trusted_certificates.push_back((folder / (t + ".pem")).string());
  out.trusted_fingerprints = trusted_fingerprints;
  out.source = "[nodes." + name + ".tls]";
  return out;
}

/// A node of the test cluster in this process.
struct member {
  cl::cluster_options options;
  std::unique_ptr<microlith::node> node;
  std::unique_ptr<cl::membership> membership;

  member(std::string name, std::vector<cl::peer_address> peers, cl::tls_options tls) {
    options.system = "unit";
    options.node = name;
    options.peers = std::move(peers);
    options.cookie = "secret";
    options.tls = std::move(tls);
    microlith::node_options opts;
    opts.name = name;
    opts.threads = 2;
    opts.default_timeout = 3s;
    auto configured = cl::configure_transport(opts, options);
    REQUIRE_FALSE(configured);
    node = std::make_unique<microlith::node>(opts);
    auto joined = cl::membership::join(*node, options);
    REQUIRE(joined);
    membership = std::move(*joined);
  }

  ~member() {
    membership.reset();
    node->shutdown();
  }

  cl::peer_address address() const { return {options.node, "127.0.0.1", membership->port()}; }

  bool sees(const std::string& peer) const {
    for (const auto& m : membership->members())
      if (m.name == peer)
        return true;
    return false;
  }
};

/// Points TMPDIR (where std::filesystem::temp_directory_path looks first) at `folder` while it
/// lives, and back to what it was after.
class tmpdir_override {
public:
  explicit tmpdir_override(const fs::path& folder) {
    if (const char* old = std::getenv("TMPDIR"); old != nullptr)
      old_ = old;
    ::setenv("TMPDIR", folder.c_str(), 1);
  }
  ~tmpdir_override() {
    if (old_.empty())
      ::unsetenv("TMPDIR");
    else
      ::setenv("TMPDIR", old_.c_str(), 1);
  }
  tmpdir_override(const tmpdir_override&) = delete;
  tmpdir_override& operator=(const tmpdir_override&) = delete;

private:
  std::string old_;
};

/// Answers Ping with the request's value.
class echo {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context&, const pb::PingRequest& req) {
    pb::PingReply out;
    out.set_value(req.value());
    return out;
  }
};

} // namespace

TEST_CASE("fingerprints are 64 hex digits with an optional sha256 prefix and colons",
          "[unit][tls]") {
  const std::string hex = "0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789abcdef";
  const std::string lower = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  CHECK(tls::parse_fingerprint(hex) == lower);
  CHECK(tls::parse_fingerprint("sha256:" + hex) == lower);
  std::string colons;
  for (std::size_t i = 0; i < hex.size(); i += 2)
    colons += (i ? ":" : "") + hex.substr(i, 2);
  CHECK(tls::parse_fingerprint("sha256:" + colons) == lower);
  CHECK_FALSE(tls::parse_fingerprint(""));
  CHECK_FALSE(tls::parse_fingerprint("sha256:"));
  CHECK_FALSE(tls::parse_fingerprint(hex.substr(1)));         // 63 digits
  CHECK_FALSE(tls::parse_fingerprint(hex + "0"));             // 65 digits
  CHECK_FALSE(tls::parse_fingerprint("sha256:" + hex + ":")); // a trailing colon
  CHECK_FALSE(tls::parse_fingerprint(":" + hex));
  CHECK_FALSE(tls::parse_fingerprint("sha256:" + hex.substr(0, 62) + "zz"));
  CHECK_FALSE(tls::parse_fingerprint("sha1:" + hex));
}

TEST_CASE("make_self_signed writes a certificate and a private key of mode 0600 that read back",
          "[unit][tls]") {
  test_support::temp_folder folder{"tls"};
  auto fp = make_pair(folder.path(), "alpha");
  auto pem = (folder.path() / "alpha.pem").string();
  auto key = (folder.path() / "alpha.key").string();
  struct stat st {};
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto read = tls::certificate_fingerprint(pem);
  REQUIRE(read);
  CHECK(*read == fp);
  CHECK(fp.size() == 64);
  CHECK_FALSE(tls::check_key_matches(pem, key));
  make_pair(folder.path(), "beta");
  auto mismatch = tls::check_key_matches(pem, (folder.path() / "beta.key").string());
  REQUIRE(mismatch);
  CHECK_THAT(microlith::message_of(mismatch), Catch::Matchers::Contains("does not match"));
  // A key is not a certificate, and a certificate is not a key.
  CHECK_FALSE(tls::certificate_fingerprint(key));
  CHECK(tls::check_key_matches(pem, pem));
  CHECK_FALSE(tls::certificate_fingerprint((folder.path() / "missing.pem").string()));
}

TEST_CASE("make_self_signed makes an end-entity certificate for TLS servers and clients",
          "[unit][tls]") {
  test_support::temp_folder folder{"tls"};
  make_pair(folder.path(), "alpha");
  auto pem = (folder.path() / "alpha.pem").string();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file{std::fopen(pem.c_str(), "rb"), std::fclose};
  REQUIRE(file);
  std::unique_ptr<X509, void (*)(X509*)> cert{PEM_read_X509(file.get(), nullptr, nullptr, nullptr),
                                              X509_free};
  REQUIRE(cert);
  const auto flags = X509_get_extension_flags(cert.get());
  CHECK((flags & EXFLAG_BCONS) != 0); // basicConstraints present
  CHECK((flags & EXFLAG_CA) == 0);    // and CA:FALSE
  CHECK(X509_get_key_usage(cert.get()) == KU_DIGITAL_SIGNATURE);
  CHECK(X509_get_extended_key_usage(cert.get()) == (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
  CHECK(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0) == 1);
}

TEST_CASE("a peer is pinned by its certificate file or by its sha256 fingerprint", "[unit][tls]") {
  test_support::temp_folder folder{"tls"};
  auto a = make_pair(folder.path(), "a");
  auto b = make_pair(folder.path(), "b");
  auto c = make_pair(folder.path(), "c");
  auto options = tls_of(folder.path(), "a", {"a"}, {"sha256:" + b});
  options.trusted_fingerprints = {*tls::parse_fingerprint("sha256:" + b)};
  CHECK(tls::is_pinned(options, a));
  CHECK(tls::is_pinned(options, b));
  CHECK_FALSE(tls::is_pinned(options, c));
  CHECK_FALSE(tls::check(options));
  auto no_trust = tls_of(folder.path(), "a", {});
  CHECK_THAT(microlith::message_of(tls::check(no_trust)), Catch::Matchers::Contains("trusts no"));
  auto no_key = options;
  no_key.key.clear();
  CHECK_THAT(microlith::message_of(tls::check(no_key)),
             Catch::Matchers::Contains("needs both certificate and key"));
}

TEST_CASE("CAF's OpenSSL module is bound to microlith's verify hook in this program",
          "[unit][tls]") {
  CHECK(tls::verify_hook_active());
}

TEST_CASE("nodes with pinned certificates join over TLS and an unpinned node is refused with its "
          "fingerprint logged",
          "[unit][tls][cluster]") {
  test_support::log_capture log;
  test_support::temp_folder folder{"tls"};
  make_pair(folder.path(), "a");
  auto b_fp = make_pair(folder.path(), "b");
  auto x_fp = make_pair(folder.path(), "x");
  // a pins b by its file, b pins a by its file; c pins a by fingerprint.
  member a{"a", {}, tls_of(folder.path(), "a", {"a", "b"})};
  member b{"b", {a.address()}, tls_of(folder.path(), "b", {"a", "b"})};
  REQUIRE(eventually([&] { return a.sees("b") && b.sees("a"); }));
  CHECK_THAT(log.text(), Catch::Matchers::Contains("(TLS, [nodes.a.tls])"));

  SECTION("an unpinned certificate is refused by the node that does not pin it") {
    // x trusts a; a does not trust x: a refuses it and logs x's fingerprint.
    member x{"x", {a.address()}, tls_of(folder.path(), "x", {"a", "x"})};
    CHECK(log_has(log, "node link refused: peer certificate sha256:" + x_fp
                         + " is not trusted ([nodes.a.tls] trusted)"));
    CHECK_FALSE(x.sees("a"));
    CHECK_FALSE(a.sees("x"));
    CHECK(a.sees("b"));
  }
  SECTION("a fingerprint pin admits the node it names") {
    // e pins f by fingerprint only; f pins e by its certificate file.
    make_pair(folder.path(), "e");
    auto f_fp = make_pair(folder.path(), "f");
    member e{"e", {}, tls_of(folder.path(), "e", {}, {f_fp})};
    member f{"f", {e.address()}, tls_of(folder.path(), "f", {"e"})};
    CHECK(eventually([&] { return e.sees("f") && f.sees("e"); }));
  }
  (void)b_fp;
}

TEST_CASE("a plain node cannot join a TLS node", "[unit][tls][cluster]") {
  test_support::log_capture log;
  test_support::temp_folder folder{"tls"};
  make_pair(folder.path(), "a");
  member a{"a", {}, tls_of(folder.path(), "a", {"a"})};
  member plain{"p", {a.address()}, cl::tls_options{}};
  // The plain node's attempts fail (the TLS accept fails), and it keeps retrying.
  CHECK(log_has(log, "node a at 127.0.0.1:" + std::to_string(a.membership->port())));
  CHECK_FALSE(plain.sees("a"));
  CHECK_FALSE(a.sees("p"));
}

TEST_CASE("nodes joined over TLS with pinned certificate files write no file of their own",
          "[unit][tls][cluster]") {
  test_support::temp_folder folder{"tls"};
  make_pair(folder.path(), "a");
  make_pair(folder.path(), "b");
  auto tmp = folder.path() / "tmp";
  fs::create_directory(tmp);
  tmpdir_override redirect{tmp};
  REQUIRE(fs::temp_directory_path() == tmp);
  {
    member a{"a", {}, tls_of(folder.path(), "a", {"a", "b"})};
    member b{"b", {a.address()}, tls_of(folder.path(), "b", {"a", "b"})};
    REQUIRE(eventually([&] { return a.sees("b") && b.sees("a"); }));
    // Nothing in the temporary folder (the pins once went there as a cafile for CAF), nor beside
    // the certificates.
    CHECK(fs::is_empty(tmp));
  }
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(folder.path()))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"a.key", "a.pem", "b.key", "b.pem", "tmp"});
}

TEST_CASE("calls over TLS node links make no signal mask system calls in CAF's SIGPIPE guard",
          "[unit][tls][cluster]") {
  test_support::temp_folder folder{"tls"};
  make_pair(folder.path(), "a");
  make_pair(folder.path(), "b");
  member a{"a", {}, tls_of(folder.path(), "a", {"a", "b"})};
  member b{"b", {a.address()}, tls_of(folder.path(), "b", {"a", "b"})};
  REQUIRE(eventually([&] { return a.sees("b") && b.sees("a"); }));
  REQUIRE(b.node->spawn(
    microlith::service<echo>("echo", "microlith.test.Echo").handle("Ping", &echo::ping)));
  REQUIRE(eventually([&] { return !a.node->registry().snapshot()->instances("echo").empty(); }));
  pb::PingRequest req;
  REQUIRE(a.node->call<pb::PingReply>("echo", "Ping", req)); // both links' threads have done I/O

  constexpr int calls = 200;
  auto before = tls::sigpipe_guards();
  for (int i = 0; i < calls; ++i) {
    req.set_value(i);
    auto reply = a.node->call<pb::PingReply>("echo", "Ping", req);
    REQUIRE(reply);
    REQUIRE(reply->value() == i);
  }
  auto after = tls::sigpipe_guards();
  auto guards = after.guards - before.guards;
  auto system_calls = after.system_calls - before.system_calls;
  INFO("guards " << guards << ", system calls " << system_calls);
  // Each call: the request written by a and read by b, the reply written by b and read by a.
  CHECK(guards >= 4 * calls);
  // CAF's guard alone makes three a guard; what is left are the heartbeats' rare failures.
  CHECK(system_calls * 10 < guards);
}
