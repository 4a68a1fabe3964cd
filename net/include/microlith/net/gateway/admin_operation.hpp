// Admin operations: what the gateway hands to the host for an admin path other than the reload
// (`/_microlith/modules...`, docs/admin.md), and what the host answers.
//
// Contract. The gateway calls an operation on one of its I/O threads, once per request, after
// the same rules as the reload (gateway_options::admin_token): a loopback client, not refused
// for failing too often (429), bearing the admin token (401 without it, 403 with another). The
// body limit of such a request is gateway_options::admin_max_body_bytes, decided from its head:
// a request refused by those rules is answered before its body is read.
//
// The operation must not block the I/O thread: it starts its work and returns. It calls `done`
// exactly once, from any thread, with the status and the JSON body to answer; the gateway
// writes the answer on the session's own strand. When the client has gone meanwhile, or the
// gateway has stopped, the answer is dropped: calling `done` late is harmless. The gateway
// puts no deadline on an operation (installing a large archive takes what it takes).
#pragma once

#include <caf/expected.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace microlith::gateway {

/// One admin request as the gateway read it.
struct admin_request {
  std::string verb;         ///< "POST", "GET", "DELETE", ...
  std::string path;         ///< "/_microlith/modules/acme.statements/activate": as sent
                            ///< (percent escapes kept), without the query
  std::string query;        ///< "route_prefix=%2Fclients%2Facme&activate=true", raw, no '?'
  std::string content_type; ///< the Content-Type header ("" when absent)
  std::string body;         ///< the body as it came (an archive's bytes for an install)
  std::string request_id;   ///< the correlation id, also in the answer's X-Request-Id
  std::string client;       ///< the client's address ("127.0.0.1"), for the log of who asked
};

/// An admin operation's answer: the HTTP status and its JSON body (use error_body() from
/// http_binding.hpp for an error, with the status of its kind: status_of()).
struct admin_response {
  unsigned status = 200;
  std::string body;
};

/// Runs an admin operation; calls `done` exactly once, from any thread (contract above).
using admin_operation =
  std::function<void(admin_request request, std::function<void(admin_response)> done)>;

/// The value of parameter `name` in a raw query (`a=1&route_prefix=%2Fclients%2Facme`),
/// percent-decoded (`+` is a space); nothing when the query does not name it. A bad_request
/// error for a malformed escape or a parameter given twice, naming it (http_binding.hpp's
/// parse_query rules).
caf::expected<std::optional<std::string>> query_value(std::string_view query,
                                                      std::string_view name);

/// Whether `path` belongs to the admin prefix `prefix`: it is the prefix, or starts with
/// prefix + "/".
bool under_admin_prefix(std::string_view path, std::string_view prefix);

} // namespace microlith::gateway
