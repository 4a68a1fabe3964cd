// The request headers the gateway reads itself, each given the input as its value:
// X-Request-Id (valid_request_id), Idempotency-Key (parse_idempotency_key), X-Microlith-Toggles
// (parse_toggle_overrides_header), and, for values a request's head can carry, Host
// (host_problem) and Sec-WebSocket-Key (websocket_key_problem). What each accepts is what its
// contract says (lengths, characters, declared and unique toggle names that the kernel's own
// check accepts too); what each refuses has a message whose error body is valid JSON.
#include "fuzz_target.hpp"

#include "gateway/request_checks.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/toggles.hpp>
#include <microlith/net/gateway/http_binding.hpp>
#include <microlith/net/gateway/toggle_overrides_header.hpp>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <set>
#include <string>

namespace {

constexpr const char* target = "headers";

namespace http = boost::beast::http;

// The toggles of the node the header is read on.
const microlith::toggle_snapshot& declared() {
  static const microlith::toggle_snapshot snapshot{
    {{"bank.transfer_fee", "a fee on transfers", false, {}},
     {"bank.new_limits", "new limits", true, {}},
     {"a", "", false, {}}},
    {}};
  return snapshot;
}

// An error body with `message` (as the gateway answers a refused header) must be JSON.
void check_error_body(const std::string& message, std::string_view field) {
  MICROLITH_FUZZ_CHECK(target, !message.empty(), "a refusal without a message");
  auto body = microlith::gateway::error_body("bad_request", message, "fuzz-1", field);
  google::protobuf::Struct parsed;
  MICROLITH_FUZZ_CHECK(target, google::protobuf::util::JsonStringToMessage(body, &parsed).ok(),
                       "an error body is not JSON");
}

bool request_id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.'
         || c == '_' || c == ':' || c == '-';
}

} // namespace

MICROLITH_FUZZ_TARGET(headers) {
  auto value = microlith::fuzz::as_text(data, size);
  namespace gw = microlith::gateway;

  if (gw::valid_request_id(value))
    MICROLITH_FUZZ_CHECK(target,
                         !value.empty() && value.size() <= gw::max_request_id
                           && std::all_of(value.begin(), value.end(), request_id_char),
                         "valid_request_id accepted an id its contract refuses");

  if (auto key = gw::parse_idempotency_key(value)) {
    MICROLITH_FUZZ_CHECK(target, !key->empty() && key->size() <= gw::max_idempotency_key,
                         "an idempotency key of a length out of bounds");
    MICROLITH_FUZZ_CHECK(
      target, std::all_of(key->begin(), key->end(), [](char c) { return c >= 0x20 && c <= 0x7e; }),
      "an idempotency key that is not printable ASCII");
  } else {
    check_error_body(microlith::message_of(key.error()), "Idempotency-Key");
  }

  if (auto overrides = gw::parse_toggle_overrides_header(value, declared())) {
    MICROLITH_FUZZ_CHECK(target, value.size() <= gw::max_toggle_overrides_header,
                         "a toggles header over its length limit was accepted");
    MICROLITH_FUZZ_CHECK(target, overrides->size() <= microlith::max_toggle_overrides,
                         "more overrides than a call may carry");
    MICROLITH_FUZZ_CHECK(target,
                         microlith::toggle_overrides_problem(*overrides, declared()).empty(),
                         "overrides the header accepted and the kernel refuses");
  } else {
    check_error_body(microlith::message_of(overrides.error()), gw::toggle_overrides_header);
  }

  // Host and Sec-WebSocket-Key as a request's head can hold them (no CR, LF or NUL).
  if (value.find_first_of(std::string_view{"\r\n\0", 3}) == std::string_view::npos) {
    const boost::beast::string_view given{value.data(), value.size()};
    http::request<http::string_body> req{http::verb::get, "/", 11};
    req.set(http::field::host, given);
    if (auto problem = gw::host_problem(req))
      check_error_body(*problem, "Host");
    req.set(http::field::upgrade, "websocket");
    req.set(http::field::connection, "upgrade");
    req.set(http::field::sec_websocket_key, given);
    if (auto problem = gw::websocket_key_problem(req))
      check_error_body(*problem, "Sec-WebSocket-Key");
  }
  return 0;
}
