#include "microlith/net/gateway/tls.hpp"

#include "microlith/actors/error.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace microlith::gateway {

namespace ssl = boost::asio::ssl;

namespace {

// TLS 1.2's suites with forward secrecy and authentication (TLS 1.3's are OpenSSL's defaults).
// ECDHE only: the context gets no Diffie-Hellman parameters, so DHE suites could never be chosen.
constexpr const char* tls12_ciphers = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL";

// OpenSSL's most recent error as text, and its queue emptied.
std::string openssl_error() {
  unsigned long code = 0;
  unsigned long last = 0;
  while ((code = ERR_get_error()) != 0)
    last = code;
  if (last == 0)
    return "no detail from OpenSSL";
  char text[256];
  ERR_error_string_n(last, text, sizeof text);
  return text;
}

// The whole file at `path`, or the reason it cannot be read.
caf::expected<std::string> read_file(const std::string& path, std::string_view what) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(errc::bad_request, fmt::format("cannot read the {} file {}: {}", what, path,
                                                     std::strerror(errno)));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad())
    return make_error(errc::bad_request, fmt::format("cannot read the {} file {}", what, path));
  return out.str();
}

// The SHA-256 fingerprint of `cert` as openssl x509 -fingerprint prints it.
std::string fingerprint_of(X509* cert) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), digest, &size) != 1)
    return {};
  std::string out;
  for (unsigned int i = 0; i < size; ++i)
    out += fmt::format("{}{:02X}", i == 0 ? "" : ":", digest[i]);
  return out;
}

} // namespace

tls_context::tls_context() : native_(std::make_unique<ssl::context>(ssl::context::tls_server)) {}

tls_context::~tls_context() = default;

ssl::context& tls_context::native() const noexcept {
  return *native_;
}

caf::expected<std::shared_ptr<const tls_context>>
load_tls_context(const std::string& certificate, const std::string& key, tls_part* failed) {
  auto fail = [failed](tls_part part, std::string message) {
    if (failed != nullptr)
      *failed = part;
    ERR_clear_error();
    return make_error(errc::bad_request, std::move(message));
  };
  auto cert_pem = read_file(certificate, "certificate");
  if (!cert_pem)
    return fail(tls_part::certificate, message_of(cert_pem.error()));
  auto key_pem = read_file(key, "key");
  if (!key_pem)
    return fail(tls_part::key, message_of(key_pem.error()));
  std::shared_ptr<tls_context> out{new tls_context()};
  out->certificate_file_ = certificate;
  out->key_file_ = key;
  auto& ctx = *out->native_;
  auto* native = ctx.native_handle();
  // TLS 1.2 at least, set explicitly whatever OpenSSL's configuration says.
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1
      || SSL_CTX_set_cipher_list(native, tls12_ciphers) != 1)
    return fail(tls_part::certificate,
                fmt::format("cannot set up TLS for {}: {}", certificate, openssl_error()));
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2
                  | ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1
                  | ssl::context::no_compression);
  SSL_CTX_set_options(native, SSL_OP_CIPHER_SERVER_PREFERENCE);
  boost::system::error_code ec;
  ctx.use_certificate_chain(boost::asio::buffer(*cert_pem), ec);
  if (ec)
    return fail(tls_part::certificate,
                fmt::format("the certificate file {} holds no PEM certificate: {}", certificate,
                            ec.message()));
  // The key parsed apart from the context, so that a key that is not the certificate's is told
  // from one that is not a key. No passphrase callback: an encrypted key fails here rather than
  // ask for one on the terminal.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio{
    BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())), &BIO_free};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{
    bio ? PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)
        : nullptr,
    &EVP_PKEY_free};
  if (!pkey)
    return fail(tls_part::key,
                fmt::format("the key file {} holds no unencrypted PEM private key: {}", key,
                            openssl_error()));
  if (SSL_CTX_use_PrivateKey(native, pkey.get()) != 1 || SSL_CTX_check_private_key(native) != 1)
    return fail(tls_part::key, fmt::format("the private key in {} does not match the certificate "
                                           "in {}",
                                           key, certificate));
  out->fingerprint_ = fingerprint_of(SSL_CTX_get0_certificate(native));
  return std::shared_ptr<const tls_context>{std::move(out)};
}

} // namespace microlith::gateway
