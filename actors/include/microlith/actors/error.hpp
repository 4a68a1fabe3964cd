// Errors of calls between services. Every failure a caller can see is a value of `errc`, carried
// in a `caf::error` of microlith's own CAF error category ("microlith"), with a human-readable
// message as the error's context. Errors are never thrown across actors: a call either answers
// or fails with one of these, and never hangs.
//
// Two families share the enum. The call kinds (service_unavailable ... remote_error) are what the
// runtime itself reports about a call. The client kinds (invalid_argument ... data_loss) are
// modelled on gRPC's canonical codes (google.rpc.Code) and are what a handler picks to say whose
// mistake a failure is: `return microlith::fail(errc::not_found, "no account ada");`. A kind
// crosses nodes unchanged (the wire carries its number), and the gateway maps each kind to an
// HTTP status by Google's table (docs/gateway.md).
#pragma once

#include <caf/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace caf {
class actor_system_config;
} // namespace caf

namespace microlith {

/// The error codes of microlith's error category. Values are part of the wire format: never
/// renumber.
enum class errc : std::uint8_t {
  /// Not an error.
  none = 0,
  /// No instance of the service is known (not started, stopped, or in restart backoff).
  service_unavailable = 1,
  /// The call's deadline passed before an answer arrived.
  timeout = 2,
  /// The instance serving the call died while the call was in flight.
  service_down = 3,
  /// The request body's type does not match the method's contract (or is missing).
  bad_request = 4,
  /// The service has no method of that name.
  no_such_method = 5,
  /// The handler failed without saying whose mistake it was: it threw, or returned
  /// `fail(message)`; the context holds its message. Treated as a server fault (HTTP 500).
  remote_error = 6,
  /// The client sent a request that is wrong whatever the system's state (a negative amount,
  /// an empty id). gRPC INVALID_ARGUMENT, HTTP 400.
  invalid_argument = 7,
  /// The system is not in the state the request needs (insufficient funds, a non-empty folder);
  /// the client should not retry until the state changed. gRPC FAILED_PRECONDITION, HTTP 400.
  failed_precondition = 8,
  /// A value past the valid range (a page past the end, an amount that would overflow).
  /// gRPC OUT_OF_RANGE, HTTP 400.
  out_of_range = 9,
  /// The entity the request names does not exist (no account ada). gRPC NOT_FOUND, HTTP 404.
  not_found = 10,
  /// The entity the request creates exists already (an account opened twice).
  /// gRPC ALREADY_EXISTS, HTTP 409.
  already_exists = 11,
  /// A concurrency conflict (a compare-and-set lost, a transaction aborted); retrying the whole
  /// operation may succeed. gRPC ABORTED, HTTP 409.
  aborted = 12,
  /// The caller is known but may not do this. gRPC PERMISSION_DENIED, HTTP 403.
  permission_denied = 13,
  /// The caller has no valid credentials. gRPC UNAUTHENTICATED, HTTP 401.
  unauthenticated = 14,
  /// A quota or limit is exhausted (too many requests, a full queue); retry later.
  /// gRPC RESOURCE_EXHAUSTED, HTTP 429.
  resource_exhausted = 15,
  /// The operation is not implemented or not enabled here. gRPC UNIMPLEMENTED, HTTP 501.
  unimplemented = 16,
  /// An invariant the server relies on is broken: a server bug. gRPC INTERNAL, HTTP 500.
  internal = 17,
  /// Unrecoverable loss or corruption of data. gRPC DATA_LOSS, HTTP 500.
  data_loss = 18,
  /// The request's idempotency key was used before with a different request: the key is bound
  /// to the first request it came with. No gRPC code; HTTP 422 (the IETF Idempotency-Key draft).
  idempotency_key_reused = 19,
};

/// The highest value of errc this build knows; values above it came from a newer peer.
inline constexpr errc errc_last = errc::idempotency_key_reused;

/// The atom naming microlith's CAF error category.
inline constexpr std::string_view error_category_name = "microlith";

/// The category atom of microlith errors (`caf::atom("microlith")`).
caf::atom_value error_category() noexcept;

/// The name of an error code, e.g. "service_unavailable".
std::string_view to_string(errc code) noexcept;

/// The kind of a failure as microlith names it to clients (the gateway's error bodies, call
/// metrics, spans): the name of its code ("not_found"), or "internal" for an error of another
/// category, an empty one, or a code this build does not know.
std::string_view kind_name(const caf::error& err) noexcept;

/// Makes a microlith error with a message; found by ADL, so `caf::error e = errc::timeout;` works.
caf::error make_error(errc code, std::string message = {});

/// The microlith code of `err`, or errc::none when `err` is empty or of another category.
errc code_of(const caf::error& err) noexcept;

/// True when `err` is the microlith error `code`.
bool is(const caf::error& err, errc code) noexcept;

/// The message carried by a microlith error (empty for other categories).
std::string message_of(const caf::error& err);

/// Renders any error for people: "timeout: accounts.Deposit did not answer within 5000 ms";
/// CAF's own errors render as "caf: request_timeout".
std::string describe(const caf::error& err);

/// A handler failure of kind `code` with a message for the client:
/// `return microlith::fail(errc::not_found, fmt::format("no account {}", id));`.
caf::error fail(errc code, std::string message);

/// A handler failure that names no kind: shorthand for fail(errc::remote_error, message), which
/// clients see as a server fault. Prefer the overload with a kind for a refusal of the client's
/// request.
caf::error fail(std::string message);

/// True for the client kinds (invalid_argument ... data_loss, idempotency_key_reused): a handler
/// chose them, so a caller that relays the failure relays the kind too.
bool is_client_kind(errc code) noexcept;

/// Registers the category's renderer with a CAF config (the node does this for you).
void register_error_category(caf::actor_system_config& cfg);

} // namespace microlith
