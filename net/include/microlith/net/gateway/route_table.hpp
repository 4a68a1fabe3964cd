// The gateway's route table: which HTTP verb and path pattern calls which service method.
//
//   "POST /accounts/{account_id}/deposit" = "accounts.Deposit"
//   "POST /webhooks/payments" = "payments.Receive 202"
//
// A target may end with the status its successful answers have: 200 (the default), 201 or 202
// (a request accepted for later processing, such as a webhook that records a job).
//
// A pattern is a path of `/`-separated segments; a segment is literal text or `{name}`, a path
// parameter that binds to the request field `name` (http_binding.hpp). The target is
// `service.Method`: the service by the name callers use, the method from its Protobuf contract,
// whose input type is the request type. A table is immutable: build() validates every route
// (syntax, the service's contract, the method, that each path parameter names a scalar field
// of the request, no two routes that match the same requests) and answers either a table or
// every problem found. Swapping tables is route_switch's job: a request holds the table it
// started with, so a swap never changes a request in flight.
//
// Matching: a path matches a pattern with as many segments whose literal segments are equal
// (byte for byte, case-sensitive, before percent-decoding) and whose parameter segments are
// not empty. When several patterns match, the most specific wins: at the first segment where
// they differ, a literal beats a parameter (`/accounts/new` before `/accounts/{id}`). A path
// that some route matches, but not with this verb, is "wrong verb" (405, with the verbs that
// would match); a path no route matches is "no route" (404). A trailing slash is a segment of
// its own: `/accounts/` does not match `/accounts`.
#pragma once

#include "microlith/net/gateway/http_binding.hpp"

#include <caf/expected.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace google::protobuf {
class Descriptor;
class MethodDescriptor;
class ServiceDescriptor;
} // namespace google::protobuf

namespace microlith {
class service_registry;
} // namespace microlith

namespace microlith::gateway {

/// A route as written in the system file.
struct route_spec {
  std::string verb;      ///< GET, HEAD, POST, PUT, PATCH or DELETE
  std::string pattern;   ///< "/accounts/{account_id}/deposit"
  std::string service;   ///< "accounts"
  std::string method;    ///< "Deposit"
  std::string origin;    ///< where it was declared, for messages ("bank.toml:12", "module
                         ///<   acme.statements"); may be empty
  unsigned status = 200; ///< the status of a successful answer: 200, 201 or 202

  /// "POST /accounts/{account_id}/deposit -> accounts.Deposit" (with " 202" after the method
  /// when the status is not 200)
  std::string to_string() const;

  /// to_string() followed by the origin in parentheses, when there is one:
  /// "GET /statements/{id} -> statements.Get (module acme.statements)".
  std::string to_string_with_origin() const;
};

/// Parses a route key ("POST /accounts/{id}") and target ("accounts.Deposit", or
/// "payments.Receive 202": the method, a space and the status of its successful answers, 200,
/// 201 or 202); checks the syntax only (contracts are checked by route_table::build). The error
/// says what was expected.
caf::expected<route_spec> parse_route(std::string_view key, std::string_view target);

/// The contract (Protobuf service) implemented by the service called `name`, or nullptr when
/// no such service is known.
using contract_lookup =
  std::function<const google::protobuf::ServiceDescriptor*(const std::string& name)>;

/// The contracts of the services known to `services`: the Protobuf service each one recorded
/// when an instance registered (kept after its instances are gone), found in the generated
/// descriptor pool. What the gateway module checks its routes against. The lookup refers to
/// `services`, which must outlive it.
contract_lookup registered_contracts(const service_registry& services);

/// One validated route.
struct route {
  route_spec spec;
  const google::protobuf::MethodDescriptor* method = nullptr;
  const google::protobuf::Descriptor* request_type = nullptr;
  /// The pattern's segments; a parameter segment is its name wrapped in braces.
  std::vector<std::string> segments;
};

/// The outcome of matching one request.
struct route_match {
  enum class outcome { found, no_route, wrong_verb };
  outcome result = outcome::no_route;
  const route* target = nullptr;  ///< when found
  std::vector<param> path_params; ///< when found: decoded, in pattern order
  std::string allow;              ///< when wrong_verb: "GET, POST"
  std::string decode_error;       ///< when found but a parameter's escape is malformed
  std::string decode_field;       ///< the parameter of decode_error
};

/// An immutable, validated set of routes.
class route_table {
public:
  /// Validates `specs` against the contracts; `reserved` are paths the gateway serves itself
  /// (health endpoints, the WebSocket path), which no route may match; an entry ending in '/'
  /// (`/_microlith/modules/`) reserves every path under it. The error lists every
  /// problem, one per line, each naming its route with its origin (route_spec::origin); a route
  /// that matches the same requests as an earlier one names both.
  static caf::expected<std::shared_ptr<const route_table>>
  build(std::vector<route_spec> specs, const contract_lookup& contracts,
        const std::vector<std::string>& reserved = {});

  /// The route for `verb` and `path` (the request target without its query).
  route_match match(std::string_view verb, std::string_view path) const;

  /// The routes, most specific first.
  const std::vector<route>& routes() const noexcept { return routes_; }

  /// A number no other table of this process has (http_metrics resolves a table's counters
  /// once by it).
  std::uint64_t id() const noexcept { return id_; }

private:
  static std::uint64_t fresh_id() noexcept;

  std::vector<route> routes_;
  std::uint64_t id_ = fresh_id();
};

/// Holds the current table; install() swaps it atomically. Readers take a reference-counted
/// snapshot, which stays valid (and unchanged) for as long as they hold it.
class route_switch {
public:
  route_switch();

  /// The current table (never null: an empty table before the first install).
  std::shared_ptr<const route_table> current() const;

  /// Makes `table` current (an empty table when `table` is null); answers the number of tables
  /// installed so far (its generation).
  std::uint64_t install(std::shared_ptr<const route_table> table);

  /// Builds a table of `specs` (route_table::build) and installs it; answers its generation,
  /// or every problem found, in which case nothing is installed and the current table keeps
  /// serving. The gateway module reloads its routes through here.
  caf::expected<std::uint64_t> build_and_install(std::vector<route_spec> specs,
                                                 const contract_lookup& contracts,
                                                 const std::vector<std::string>& reserved = {});

  /// How many tables were installed.
  std::uint64_t generation() const noexcept { return generation_.load(); }

private:
  std::shared_ptr<const route_table> current_;
  std::atomic<std::uint64_t> generation_{0};
};

} // namespace microlith::gateway
