// The gateway's TLS credentials: a certificate chain and its private key read from PEM files into
// a server context (TLS 1.2 or later, no anonymous or null ciphers), and the switch through which a
// running gateway takes the context new connections use. A reload installs a new context; a
// connection keeps the context it was accepted with until it closes, so open connections are not
// dropped and new ones present the new certificate.
#pragma once

#include <caf/expected.hpp>

#include <memory>
#include <mutex>
#include <string>

namespace boost::asio::ssl {
class context;
} // namespace boost::asio::ssl

namespace microlith::gateway {

/// Which of the two files a TLS problem is about.
enum class tls_part { certificate, key };

/// A server's TLS context, made by load_tls_context().
class tls_context {
public:
  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  /// The OpenSSL context the gateway's connections are made with.
  boost::asio::ssl::context& native() const noexcept;

  /// The certificate's SHA-256 fingerprint, upper-case hex bytes joined by ':' (as
  /// `openssl x509 -fingerprint -sha256` prints it).
  const std::string& fingerprint() const noexcept { return fingerprint_; }

  /// The files it was read from.
  const std::string& certificate_file() const noexcept { return certificate_file_; }
  const std::string& key_file() const noexcept { return key_file_; }

private:
  friend caf::expected<std::shared_ptr<const tls_context>>
  load_tls_context(const std::string&, const std::string&, tls_part*);
  tls_context();

  std::unique_ptr<boost::asio::ssl::context> native_;
  std::string fingerprint_;
  std::string certificate_file_;
  std::string key_file_;
};

/// Reads the PEM certificate chain at `certificate` (the server's certificate first) and the
/// unencrypted PEM private key at `key` into a server context. Fails (bad_request, naming the
/// file and what is wrong with it) when a file cannot be read, holds no certificate or key, the
/// key is encrypted, or the key does not match the certificate; `failed`, when given, is set to
/// the file at fault.
caf::expected<std::shared_ptr<const tls_context>> load_tls_context(const std::string& certificate,
                                                                   const std::string& key,
                                                                   tls_part* failed = nullptr);

/// The context a gateway's new connections use (gateway_options::tls). Safe to use from
/// several threads.
class tls_switch {
public:
  explicit tls_switch(std::shared_ptr<const tls_context> first) : current_(std::move(first)) {}

  /// The context for a connection accepted now.
  std::shared_ptr<const tls_context> current() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return current_;
  }

  /// From now on new connections use `next`; open ones keep theirs.
  void install(std::shared_ptr<const tls_context> next) {
    std::lock_guard<std::mutex> guard{mutex_};
    current_.swap(next);
  } // the previous context goes here unless a connection still holds it

private:
  mutable std::mutex mutex_;
  std::shared_ptr<const tls_context> current_; // requires mutex_
};

} // namespace microlith::gateway
