// An HTTPS gateway over real sockets (gateway_options::tls, net/src/gateway/tls.cpp and
// gateway_stream.hpp): routes, health checks and the admin token over TLS, WebSocket over TLS
// (wss), plain HTTP and a handshake that never finishes on the TLS port, a new certificate
// installed while a connection made before it stays open, and certificate files that do not
// load. The certificates are made at run time with OpenSSL's API (unit/http/test_certificate.hpp);
// the clients verify the gateway's against the one they were given.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"
#include "unit/http/test_certificate.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/topics.hpp>
#include <microlith/net/gateway/tls.hpp>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>

using namespace unit_net;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

/// A fresh folder under the system's temporary folder, removed with the object.
struct temp_folder {
  temp_folder() {
    path = fs::temp_directory_path()
           / ("microlith-tls-test-" + std::to_string(::getpid()) + "-" + std::to_string(++count()));
    fs::create_directories(path);
  }
  ~temp_folder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  static int& count() {
    static int n = 0;
    return n;
  }
  fs::path path;
};

/// The SHA-256 fingerprint of `cert` as openssl x509 -fingerprint prints it.
std::string fingerprint_of(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), digest, &size) != 1)
    throw std::runtime_error("cannot take a certificate's fingerprint");
  std::string out;
  char byte[4];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(byte, sizeof byte, i == 0 ? "%02X" : ":%02X", digest[i]);
    out += byte;
  }
  return out;
}

/// The fingerprint of the certificate in the PEM file at `path`.
std::string file_fingerprint(const fs::path& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file{std::fopen(path.c_str(), "r"), &std::fclose};
  if (!file)
    throw std::runtime_error("cannot open " + path.string());
  std::unique_ptr<X509, decltype(&X509_free)> cert{
    PEM_read_X509(file.get(), nullptr, nullptr, nullptr), &X509_free};
  return fingerprint_of(cert.get());
}

/// The gateway's TLS context for `cert`, which must load.
std::shared_ptr<const gw::tls_context> must_load(const http_test::test_certificate& cert) {
  auto context = gw::load_tls_context(cert.certificate.string(), cert.key.string());
  if (!context)
    throw std::runtime_error(microlith::message_of(context.error()));
  return *context;
}

/// Test options for an HTTPS gateway with `cert`.
gw::gateway_options tls_options(const http_test::test_certificate& cert) {
  auto options = test_options();
  options.tls = std::make_shared<gw::tls_switch>(must_load(cert));
  return options;
}

/// One HTTPS keep-alive connection to 127.0.0.1:`port` that trusts the certificate in `trusted`
/// only (verified, with the host name 127.0.0.1 checked against it). Each operation is bounded
/// by the TCP stream's timeout and throws when it fails.
class tls_connection {
public:
  tls_connection(std::uint16_t port, const fs::path& trusted) : stream_(ioc_, ctx_) {
    ctx_.load_verify_file(trusted.string());
    stream_.set_verify_mode(ssl::verify_peer); // the stream's: it was made from ctx_ before
    stream_.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    must(run([&](auto done) { lowest().async_connect(tcp_endpoint(port), std::move(done)); }),
         "connecting");
    must(
      run([&](auto done) { stream_.async_handshake(ssl::stream_base::client, std::move(done)); }),
      "the TLS handshake");
  }

  /// Sends a request and reads its answer.
  http_reply request(std::string_view verb, std::string_view target, header_list headers = {}) {
    http::request<http::string_body> req{
      http::string_to_verb(beast::string_view(verb.data(), verb.size())),
      beast::string_view(target.data(), target.size()), 11};
    req.set(http::field::host, "127.0.0.1");
    for (const auto& [name, value] : headers)
      req.set(beast::string_view(name.data(), name.size()), value);
    req.prepare_payload();
    must(run([&](auto done) { http::async_write(stream_, req, std::move(done)); }), "writing");
    http::response<http::string_body> res;
    must(run([&](auto done) { http::async_read(stream_, buffer_, res, std::move(done)); }),
         "reading the answer");
    http_reply out;
    out.status = res.result_int();
    for (const auto& field : res)
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    return out;
  }

  /// The fingerprint of the certificate the server presented.
  std::string peer_fingerprint() {
    std::unique_ptr<X509, decltype(&X509_free)> cert{
      SSL_get1_peer_certificate(stream_.native_handle()), &X509_free};
    return fingerprint_of(cert.get());
  }

private:
  static net::ip::tcp::endpoint tcp_endpoint(std::uint16_t port) {
    return {net::ip::make_address("127.0.0.1"), port};
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  static void must(beast::error_code ec, const char* step) {
    if (ec)
      throw std::runtime_error(std::string{step} + " failed: " + ec.message());
  }
  // Starts an operation and runs it to its end, within k_io_limit (the TCP stream's timeout).
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result = net::error::timed_out;
    lowest().expires_after(k_io_limit);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  net::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_client};
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

/// A WebSocket session over TLS with the gateway at 127.0.0.1:`port` on /ws, trusting `trusted`.
class wss_connection {
public:
  wss_connection(std::uint16_t port, const fs::path& trusted) : ws_(ioc_, ctx_) {
    ctx_.load_verify_file(trusted.string());
    ws_.next_layer().set_verify_mode(ssl::verify_peer); // the stream's: made from ctx_ before
    ws_.next_layer().set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    must(run([&](auto done) {
           lowest().async_connect({net::ip::make_address("127.0.0.1"), port}, std::move(done));
         }),
         "connecting");
    must(run([&](auto done) {
           ws_.next_layer().async_handshake(ssl::stream_base::client, std::move(done));
         }),
         "the TLS handshake");
    must(run([&](auto done) { ws_.async_handshake("127.0.0.1", "/ws", std::move(done)); }),
         "the WebSocket upgrade");
  }

  void send(const std::string& text) {
    ws_.text(true);
    must(run([&](auto done) { ws_.async_write(net::buffer(text), std::move(done)); }),
         "sending a frame");
  }

  std::string read() {
    beast::flat_buffer buffer;
    must(run([&](auto done) { ws_.async_read(buffer, std::move(done)); }), "reading a frame");
    return beast::buffers_to_string(buffer.data());
  }

private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(ws_); }
  static void must(beast::error_code ec, const char* step) {
    if (ec)
      throw std::runtime_error(std::string{step} + " failed: " + ec.message());
  }
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result = net::error::timed_out;
    lowest().expires_after(k_io_limit);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  net::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_client};
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws_;
};

pb::PingRequest message(std::string text) {
  pb::PingRequest out;
  out.set_text(std::move(text));
  return out;
}

} // namespace

TEST_CASE("an HTTPS gateway answers routes and health checks over TLS", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  gateway_fixture gw{tls_options(cert)};
  tls_connection client{gw.port(), cert.certificate};
  CHECK(client.peer_fingerprint() == file_fingerprint(cert.certificate));

  auto r = client.request("GET", "/echo/hello");
  REQUIRE(r.status == 200);
  CHECK(parse_ping_reply(r.body).text() == "hello");
  CHECK(client.request("GET", "/healthz").status == 200);
  CHECK(client.request("GET", "/readyz").status == 200);
  CHECK(client.request("GET", "/nowhere").status == 404);
  CHECK(gw.stats().connections_accepted == 1); // one kept connection for all four
}

TEST_CASE("a client that does not trust the certificate cannot connect", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  auto other = http_test::make_self_signed(folder.path, "other");
  gateway_fixture gw{tls_options(cert)};
  CHECK_THROWS_WITH(tls_connection(gw.port(), other.certificate),
                    Contains("the TLS handshake failed"));
  tls_connection client{gw.port(), cert.certificate}; // the gateway serves on
  CHECK(client.request("GET", "/healthz").status == 200);
}

TEST_CASE("a WebSocket over TLS subscribes and receives published messages", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  gateway_fixture gw{tls_options(cert)};
  wss_connection ws{gw.port(), cert.certificate};
  ws.send(R"({"subscribe": "prices"})");
  CHECK_THAT(ws.read(), Contains(R"("subscribed":"prices")"));
  CHECK(gw.node.publish("prices", message("tick")) == 1);
  auto frame = ws.read();
  CHECK_THAT(frame, Contains(R"("topic":"prices")"));
  CHECK_THAT(frame, Contains(R"("text":"tick")"));
}

TEST_CASE("plain HTTP sent to an HTTPS gateway gets the connection closed", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  gateway_fixture gw{tls_options(cert)};
  {
    http_connection plain{gw.port()};
    plain.send("GET", "/healthz");
    CHECK(plain.closed_within(2000ms));
  }
  CHECK(gateway_fixture::eventually([&] { return gw.stats().open_connections == 0; }));
  tls_connection client{gw.port(), cert.certificate}; // the gateway serves on
  CHECK(client.request("GET", "/healthz").status == 200);
}

TEST_CASE("over max_connections an HTTPS gateway closes a connection before any handshake",
          "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  auto options = tls_options(cert);
  options.max_connections = 1;
  options.request_timeout = 30s; // a handshake would hold the refused socket this long
  gateway_fixture gw{options};
  tls_connection client{gw.port(), cert.certificate};
  REQUIRE(client.request("GET", "/healthz").status == 200);
  http_connection refused{gw.port()}; // connects and sends nothing
  CHECK(refused.closed_within(2000ms));
  CHECK(gw.stats().connections_refused == 1);
  CHECK(client.request("GET", "/healthz").status == 200); // the counted one serves on
}

TEST_CASE("a TLS handshake that never finishes is cut off after the request timeout", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  auto options = tls_options(cert);
  options.request_timeout = 300ms;
  gateway_fixture gw{options};
  http_connection silent{gw.port()}; // connects and sends nothing
  auto started = steady::now();
  CHECK(silent.closed_within(3000ms));
  CHECK(steady::now() - started >= 200ms);
  CHECK(gateway_fixture::eventually([&] { return gw.stats().open_connections == 0; }));
}

TEST_CASE("a new certificate serves new connections and an open one keeps its own", "[unit]") {
  temp_folder folder;
  auto first = http_test::make_self_signed(folder.path, "first");
  auto second = http_test::make_self_signed(folder.path, "second");
  auto options = tls_options(first);
  auto tls = options.tls;
  gateway_fixture gw{options};
  tls_connection before{gw.port(), first.certificate};
  REQUIRE(before.request("GET", "/echo/one").status == 200);

  tls->install(must_load(second));

  tls_connection after{gw.port(), second.certificate};
  CHECK(after.peer_fingerprint() == file_fingerprint(second.certificate));
  CHECK(after.request("GET", "/echo/two").status == 200);
  auto r = before.request("GET", "/echo/three"); // the connection made before is still open
  CHECK(r.status == 200);
  CHECK(before.peer_fingerprint() == file_fingerprint(first.certificate));
  CHECK(gw.stats().connections_accepted == 2);
  CHECK_THROWS_WITH(tls_connection(gw.port(), first.certificate),
                    Contains("the TLS handshake failed"));
}

TEST_CASE("admin requests over HTTPS need the admin token", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  auto options = tls_options(cert);
  auto reloads = std::make_shared<std::atomic<int>>(0);
  options.admin_token = "tls-admin-token-0123456789";
  options.admin_reload = [reloads]() -> caf::error {
    ++*reloads;
    return {};
  };
  gateway_fixture gw{options};
  tls_connection client{gw.port(), cert.certificate};

  SECTION("without a token: 401") {
    auto r = client.request("POST", "/_microlith/reload");
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == "Bearer realm=\"microlith\"");
    CHECK(*reloads == 0);
  }
  SECTION("with another token: 403") {
    auto r = client.request("POST", "/_microlith/reload",
                            {{"Authorization", "Bearer tls-admin-token-wrong"}});
    CHECK(r.status == 403);
    CHECK(*reloads == 0);
  }
  SECTION("with the admin token: 200") {
    auto r = client.request("POST", "/_microlith/reload",
                            {{"Authorization", "Bearer tls-admin-token-0123456789"}});
    CHECK(r.status == 200);
    CHECK(*reloads == 1);
  }
}

TEST_CASE("the gateway offers TLS 1.2 suites with ECDHE AES-GCM or ChaCha20 only", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  auto context = gw::load_tls_context(cert.certificate.string(), cert.key.string());
  REQUIRE(context);
  auto* native = (*context)->native().native_handle();
  CHECK(SSL_CTX_get_min_proto_version(native) == TLS1_2_VERSION);
  STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(native);
  REQUIRE(ciphers != nullptr);
  int tls12 = 0;
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* c = sk_SSL_CIPHER_value(ciphers, i);
    const std::string name = SSL_CIPHER_get_name(c);
    INFO(name);
    if (std::string{SSL_CIPHER_get_version(c)} == "TLSv1.3")
      continue; // TLS 1.3's suites: OpenSSL's defaults
    ++tls12;
    CHECK(SSL_CIPHER_get_kx_nid(c) == NID_kx_ecdhe); // no DHE (no parameters are set), no RSA
    CHECK(SSL_CIPHER_is_aead(c) == 1);               // AES-GCM or ChaCha20-Poly1305
    CHECK(SSL_CIPHER_get_auth_nid(c) != NID_auth_null);
  }
  CHECK(tls12 > 0);
}

TEST_CASE("certificate files that do not load are refused naming the file", "[unit]") {
  temp_folder folder;
  auto cert = http_test::make_self_signed(folder.path, "gateway");
  auto other = http_test::make_self_signed(folder.path, "other");
  auto garbage = folder.path / "garbage.pem";
  std::ofstream{garbage} << "not a PEM file\n";
  gw::tls_part failed = gw::tls_part::certificate;

  SECTION("a certificate file that does not exist") {
    auto missing = (folder.path / "missing.pem").string();
    auto r = gw::load_tls_context(missing, cert.key.string(), &failed);
    REQUIRE_FALSE(r);
    CHECK(failed == gw::tls_part::certificate);
    CHECK_THAT(microlith::message_of(r.error()),
               Contains("cannot read the certificate file " + missing));
  }
  SECTION("a certificate file that holds no certificate") {
    auto r = gw::load_tls_context(garbage.string(), cert.key.string(), &failed);
    REQUIRE_FALSE(r);
    CHECK(failed == gw::tls_part::certificate);
    CHECK_THAT(microlith::message_of(r.error()), Contains("holds no PEM certificate"));
  }
  SECTION("a key file that holds no key") {
    auto r = gw::load_tls_context(cert.certificate.string(), garbage.string(), &failed);
    REQUIRE_FALSE(r);
    CHECK(failed == gw::tls_part::key);
    CHECK_THAT(microlith::message_of(r.error()), Contains("holds no unencrypted PEM private key"));
  }
  SECTION("a key that is not the certificate's") {
    auto r = gw::load_tls_context(cert.certificate.string(), other.key.string(), &failed);
    REQUIRE_FALSE(r);
    CHECK(failed == gw::tls_part::key);
    CHECK_THAT(microlith::message_of(r.error()), Contains("does not match the certificate"));
  }
  SECTION("a certificate and its key load") {
    auto r = gw::load_tls_context(cert.certificate.string(), cert.key.string(), &failed);
    REQUIRE(r);
    CHECK((*r)->fingerprint() == file_fingerprint(cert.certificate));
  }
}
