// The client side of a running gateway's admin endpoints (docs/admin.md): one synchronous HTTP
// request bearing MICROLITH_ADMIN_TOKEN, and what the commands that use it share (the URL, the
// server's message, what to do after a refusal). `routes reload` lives here too; the modules
// commands are in modules_commands.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class Message;
} // namespace google::protobuf

namespace microlith::cli {

/// Where a gateway listens: "http://127.0.0.1:8080", "127.0.0.1:8080" or, for a gateway with
/// tls_certificate, "https://gateway.example:8443" (a trailing '/' allowed).
struct gateway_url {
  std::string host;
  std::string port;
  bool tls = false; ///< https://: the gateway's certificate and name are verified
};

/// The gateway of `url`; nothing when `url` is not host:port with an optional http:// or
/// https:// before it.
std::optional<gateway_url> parse_gateway_url(std::string url);

/// One admin request.
struct admin_call {
  std::string verb = "POST";      ///< "GET", "POST", "DELETE"
  std::string target;             ///< path and query, already URL-encoded
  std::string body;               ///< sent with Expect: 100-continue when not empty
  std::string content_type;       ///< of a non-empty body
  std::chrono::seconds limit{30}; ///< for each step: connect, TLS handshake, write, each read
};

/// The gateway's answer.
struct admin_answer {
  unsigned status = 0;
  std::string body;
  std::string retry_after; ///< the Retry-After header ("" when absent)
};

/// Sends `call` to `where`, bearing MICROLITH_ADMIN_TOKEN when it is set and not empty
/// (Authorization: Bearer). Over https://, the gateway's certificate must chain to OpenSSL's
/// trusted certificates (SSL_CERT_FILE or SSL_CERT_DIR replace the system's) and name `host`
/// (a DNS name, or an IP address in its subjectAltName); TLS 1.2 or newer. A body goes with
/// `Expect: 100-continue`: a request the gateway refuses on its head (401, 403, 429, 413) is
/// answered before the body is sent. Throws std::runtime_error (connection refused, timed out, ...)
/// when the gateway cannot be reached.
admin_answer send_admin_request(const gateway_url& where, const admin_call& call);

/// Whether MICROLITH_ADMIN_TOKEN is set and not empty.
bool admin_token_set();

/// The "message" of a JSON error body, or the body itself when it has none.
std::string server_message(const std::string& body);

/// The "error" name of a JSON error body ("" when it has none).
std::string server_error_name(const std::string& body);

/// Prints to stderr why `command` failed against `url` with `answer`: the status and the
/// server's message, and after 401 or 403 to set MICROLITH_ADMIN_TOKEN, after 429 how long to
/// wait, after a 404 `no_route` that the gateway serves no such endpoint (`endpoint_hint` says
/// how to turn it on).
void explain_failure(std::string_view command, const std::string& url, const admin_answer& answer,
                     std::string_view endpoint_hint);

/// `text` percent-encoded for a query value or a path segment: every byte but A-Z a-z 0-9
/// - . _ ~ as %XX.
std::string url_encode(std::string_view text);

/// Sends `call` to the gateway at `url` and parses a 200's JSON body into `out`; prints why not
/// otherwise (explain_failure with `endpoint_hint`). Answers the exit code: 0 done, 1 refused or
/// unreachable, 2 a malformed URL.
int call_admin_json(std::string_view command, const std::string& url, const admin_call& call,
                    std::string_view endpoint_hint, google::protobuf::Message& out);

/// `unix_ms` (ms since the Unix epoch) as UTC, "2026-12-07T19:30:00Z"; "-" for 0 or less.
std::string utc(std::int64_t unix_ms);

/// Prints `rows` (the first one the header) as left-aligned columns two spaces apart.
void print_table(const std::vector<std::vector<std::string>>& rows);

/// `microlith routes reload URL`: POSTs to URL/_microlith/reload, prints the answer, and after a
/// refusal why (explain_failure). Answers the exit code: 0 reloaded, 1 refused or unreachable,
/// 2 a malformed URL.
int reload_routes(const std::string& url);

} // namespace microlith::cli
