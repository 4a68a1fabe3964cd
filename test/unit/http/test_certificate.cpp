#include "test_certificate.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace http_test {

namespace {

void must(bool ok, const char* step) {
  if (!ok)
    throw std::runtime_error(std::string{"making the test certificate: "} + step + " failed");
}

void add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  must(ext != nullptr, "an extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

} // namespace

test_certificate make_self_signed(const std::filesystem::path& folder, const std::string& stem) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{EVP_EC_gen("P-256"), &EVP_PKEY_free};
  must(key != nullptr, "the key");
  std::unique_ptr<X509, decltype(&X509_free)> cert{X509_new(), &X509_free};
  must(cert != nullptr, "the certificate");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  must(X509_set_pubkey(cert.get(), key.get()) == 1, "setting the public key");
  auto* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  must(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0, "signing");

  test_certificate out{folder / (stem + ".crt"), folder / (stem + ".key")};
  std::unique_ptr<FILE, decltype(&std::fclose)> cert_file{std::fopen(out.certificate.c_str(), "w"),
                                                          &std::fclose};
  must(cert_file && PEM_write_X509(cert_file.get(), cert.get()) == 1, "writing the certificate");
  std::unique_ptr<FILE, decltype(&std::fclose)> key_file{std::fopen(out.key.c_str(), "w"),
                                                         &std::fclose};
  must(key_file
         && PEM_write_PrivateKey(key_file.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr)
              == 1,
       "writing the key");
  return out;
}

} // namespace http_test
