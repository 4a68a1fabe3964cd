// Encrypted, pinned node links. With TLS configured, every connection between two nodes goes
// through CAF 0.17's OpenSSL module (caf::openssl::manager): both sides present a certificate
// and each accepts the other only when that certificate is pinned in its `trusted` list, either
// as a certificate file (self-signed, as `microlith cert new` makes them) or as the SHA-256
// fingerprint of one ("sha256:HEX"). The cookie handshake still runs on top, as a second factor.
//
// CAF's OpenSSL session makes an SSL_CTX per connection, loads the certificate and key of the
// actor system's config (and trusted certificates only when the config names a cafile or capath:
// microlith names none, nothing is written to disk) and calls SSL_CTX_set_verify(ctx,
// SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr). It has no verify callback and sets
// no minimum protocol version. microlith's net library defines SSL_CTX_set_verify itself (tls.cpp),
// which the dynamic linker binds CAF's call to; it forwards every call to OpenSSL's own function
// and, only for CAF's exact call on a context that carries a cluster certificate registered by this
// process, installs microlith's callback (the peer's leaf certificate must be pinned; a refusal
// is logged with the peer's fingerprint) and requires TLS 1.2 or later. verify_hook_active() says
// whether the binding took effect; without it TLS node links are refused when the node joins.
#pragma once

#include <caf/expected.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace microlith::cluster {

/// The TLS settings of one node ([cluster.tls] or [nodes.NAME.tls]).
struct tls_options {
  /// This node's certificate (PEM); empty = no TLS (plain BASP).
  std::string certificate;
  /// Its private key (PEM, unencrypted).
  std::string key;
  /// Pinned certificate files (PEM, self-signed).
  std::vector<std::string> trusted_certificates;
  /// Pinned SHA-256 fingerprints, as fingerprint() prints them (64 lowercase hex digits).
  std::vector<std::string> trusted_fingerprints;
  /// Where the settings come from, for log lines: "[cluster.tls]" or "[nodes.NAME.tls]".
  std::string source = "[cluster.tls]";

  bool enabled() const noexcept { return !certificate.empty(); }
};

namespace tls {

/// "sha256:HEX" or a bare HEX: 64 hex digits, colons allowed between them (as `openssl x509
/// -fingerprint -sha256` prints them). Returns the 64 lowercase digits, or nothing.
std::optional<std::string> parse_fingerprint(std::string_view text);

/// The SHA-256 fingerprint (64 lowercase hex digits) of the first certificate of a PEM file, or
/// an error saying why the file cannot be read as one.
caf::expected<std::string> certificate_fingerprint(const std::string& pem_path);

/// Checks that `key_path` holds a PEM private key that matches the certificate of `cert_path`.
/// Returns an empty error when it does, else what is wrong.
caf::error check_key_matches(const std::string& cert_path, const std::string& key_path);

/// Checks every file of `options` (certificate, key, their match, the pinned files) and the
/// fingerprints. Empty error when all is well.
caf::error check(const tls_options& options);

/// True when the pinned set of `options` accepts a peer certificate of fingerprint `peer` (64
/// lowercase hex digits). Certificate files that cannot be read pin nothing.
bool is_pinned(const tls_options& options, std::string_view peer);

/// True when CAF's OpenSSL session reaches microlith's SSL_CTX_set_verify (see the top of this
/// file): fingerprint pins, the refusal log line and the TLS 1.2 minimum depend on it.
bool verify_hook_active();

/// CAF's SIGPIPE guards around node links' TLS calls since the process started (see the top of
/// this file).
struct sigpipe_guard_counts {
  /// Guards CAF's OpenSSL session entered (one per SSL_read, SSL_write or handshake step).
  std::uint64_t guards = 0;
  /// System calls those guards made (three a guard without microlith's shortcut).
  std::uint64_t system_calls = 0;
};

/// The counts so far.
sigpipe_guard_counts sigpipe_guards();

/// A new self-signed end-entity certificate (ECDSA P-256, SHA-256, valid `days` days from now, CN
/// `common_name`; CA:FALSE, key usage digitalSignature, extended key usage serverAuth and
/// clientAuth) written to `cert_path`, its key to `key_path` (mode 0600). Returns the
/// certificate's fingerprint. Files are replaced.
caf::expected<std::string> make_self_signed(const std::string& common_name,
                                            const std::string& cert_path,
                                            const std::string& key_path, int days = 3650);

/// Checks `options` and registers them for the verify hook (keyed by the fingerprint of its
/// certificate). No file is written: CAF's session gets no cafile, the hook's pin check decides.
/// Empty error when the node can use them.
caf::error prepare(const tls_options& options);

} // namespace tls

} // namespace microlith::cluster
