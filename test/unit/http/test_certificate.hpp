// A self-signed certificate made at run time with OpenSSL's API, for the tests' HTTPS servers:
// an EC P-256 key and a certificate for "localhost" and 127.0.0.1, written as PEM files into a
// folder. The certificate file doubles as the client's CA file (it is its own issuer).
#pragma once

#include <filesystem>
#include <string>

namespace http_test {

struct test_certificate {
  std::filesystem::path certificate; ///< PEM certificate (also the CA file that trusts it)
  std::filesystem::path key;         ///< PEM private key
};

/// Makes a key and a self-signed certificate in `folder` (files named after `stem`); throws
/// std::runtime_error naming the step that failed.
test_certificate make_self_signed(const std::filesystem::path& folder, const std::string& stem);

} // namespace http_test
