// How an HTTP request becomes a Protobuf request message, and how an answer (or an error)
// becomes an HTTP response body. The gateway's binding rules, in order:
//
//  1. The body, when present, is JSON mapped with Protobuf's own JSON mapping
//     (google::protobuf::util::JsonStringToMessage): field names in proto or lowerCamel form,
//     int64 as a number or a string, enums by name. An unknown field is an error.
//     An empty body (or no body) leaves every field at its default. A body with a content type
//     other than application/json (parameters such as charset allowed) is an error. A raw
//     control character (U+0000..U+001F) inside a JSON string is an error (RFC 8259 section 7;
//     Protobuf's parser would take it); escaped (`\u0000`) it is valid and kept byte for byte.
//  2. Query parameters (`?name=value`, percent-decoded, `+` is a space) bind to fields of the
//     request message by their proto name.
//  3. Path parameters (`{name}` segments of the route, percent-decoded) bind the same way, last:
//     a path parameter wins over a query parameter or body field of the same name.
//
// A parameter may name a singular scalar field (string, bytes as text, bool as true/false,
// int32/64, uint32/64, float/double, enum by name or number) — not a message, a map or a
// repeated field. A parameter's decoded value may not hold a control character (U+0000..U+001F,
// U+007F: `%00`, `%0A`), whatever the field's type. Every binding error names the field (or
// parameter) and what was expected; the gateway answers it with 400 and error_body().
#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class Descriptor;
class Message;
} // namespace google::protobuf

namespace microlith::gateway {

/// One decoded path or query parameter.
struct param {
  std::string name;
  std::string value;
};

/// A binding failure: which field or parameter, and what was wrong with it.
struct binding_error {
  /// The field or parameter at fault ("amount", "account_id"), or "Content-Type" for a body of
  /// another content type; empty for the body as a whole (malformed JSON).
  std::string field;
  /// What was expected and what came, for a person to read.
  std::string message;
};

/// A request message, or why it could not be built.
struct binding_result {
  std::unique_ptr<google::protobuf::Message> message; ///< set on success
  binding_error error;                                ///< set when `message` is null
};

/// Builds a `type` message from a JSON body and the query and path parameters (rules above).
/// `content_type` is the request's Content-Type header (empty when absent).
binding_result bind_request(const google::protobuf::Descriptor& type, std::string_view body,
                            std::string_view content_type, const std::vector<param>& query,
                            const std::vector<param>& path);

/// Splits and percent-decodes a query string (without the `?`): `a=1&b=x%20y` -> {a,1},{b,x y}.
/// A name without `=` has an empty value. Malformed escapes are an error naming the parameter.
/// A name given twice is an error (fields are singular).
caf::expected<std::vector<param>> parse_query(std::string_view query);

/// Percent-decodes one path segment or query component (`+` stays `+` when `plus_is_space` is
/// false, as in a path). An error for a malformed or truncated escape.
caf::expected<std::string> percent_decode(std::string_view text, bool plus_is_space);

/// The longest idempotency key the gateway accepts, in characters.
inline constexpr std::size_t max_idempotency_key = 255;

/// The key of an `Idempotency-Key` header value (the IETF httpapi draft): its quoted form, a
/// Structured Field string (`"8e03978e-40d5"`, with `\"` and `\\` escapes), or the bare form
/// most clients send (`8e03978e-40d5`). The key is 1 to max_idempotency_key printable ASCII
/// characters (no spaces nor quotes in the bare form); anything else is a bad_request error
/// that says what was expected.
caf::expected<std::string> parse_idempotency_key(std::string_view value);

/// The JSON of a response message: proto field names, fields at their default values included
/// (a balance of 0 is shown), int64 as strings (Protobuf's JSON mapping). Empty when Protobuf
/// cannot print it (an Any of an unknown type, say): a good result is never empty.
std::string to_json(const google::protobuf::Message& message);

/// The HTTP status of a failed call, by microlith error kind (Google's mapping of gRPC codes):
/// invalid_argument, failed_precondition, out_of_range and bad_request 400; not_found and
/// no_such_method 404; already_exists and aborted 409; permission_denied 403; unauthenticated
/// 401; resource_exhausted 429; unimplemented 501; idempotency_key_reused 422;
/// service_unavailable and service_down 503; timeout 504; remote_error, internal, data_loss and
/// anything else 500.
unsigned status_of(const caf::error& err);

/// The stable name of an error, for error bodies: "service_unavailable", "timeout", ...;
/// "internal" for an error that is not a microlith error.
std::string error_name(const caf::error& err);

/// `text` as a quoted JSON string: quotes, backslashes and control characters escaped, invalid
/// UTF-8 replaced by U+FFFD.
std::string json_quote(std::string_view text);

/// A JSON error body: {"error": name, "message": text, "request_id": id} plus "field" when
/// `field` is not empty. Strings are JSON-escaped.
std::string error_body(std::string_view name, std::string_view message, std::string_view request_id,
                       std::string_view field = {});

} // namespace microlith::gateway
