// An HTTP request, from its bytes to the Protobuf message a route's method receives, as the
// gateway takes it (net/src/gateway/http_session.cpp): Beast's parser with the gateway's default
// limits, the X-Request-Id and Host checks, the route table's match and its path parameters,
// the query, the body bound to the request type (http_binding.cpp), the Idempotency-Key and
// X-Microlith-Toggles headers. A bound message serializes, parses back to the same bytes, prints
// as JSON (to_json) that binds again to the same message; every refusal's error body is JSON.
#include "fuzz_target.hpp"
#include "gateway_contracts.hpp"

#include "gateway/request_checks.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/net/gateway/http_binding.hpp>
#include <microlith/net/gateway/toggle_overrides_header.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr const char* target = "http_request";

namespace http = boost::beast::http;
namespace gw = microlith::gateway;

// The table of a gateway serving the Binder contract on paths with parameters of each kind.
const gw::route_table& fuzz_table() {
  static const auto table = [] {
    std::vector<gw::route_spec> specs;
    for (auto [key, to] : std::vector<std::pair<std::string, std::string>>{
           {"POST /bind/{name}", "binder.Bind"},
           {"PUT /bind/{name}/{amount}", "binder.Echo 201"},
           {"GET /echo/{color}/{flag}", "binder.Echo"},
           {"DELETE /echo/{big}/{ratio}/{price}", "binder.Echo"},
           {"PATCH /items/{small_count}/{delta}/{stamp}/{data}", "binder.Bind 202"},
           {"POST /items/new", "binder.Echo"},
           {"POST /echo", "echo.Ping"}}) {
      auto spec = gw::parse_route(key, to);
      if (!spec)
        microlith::fuzz::fail(target, "a route of the fuzz table does not parse");
      specs.push_back(std::move(*spec));
    }
    auto built = gw::route_table::build(specs, microlith::fuzz::fuzz_contracts(),
                                        microlith::fuzz::fuzz_reserved_paths());
    if (!built)
      microlith::fuzz::fail(target, microlith::message_of(built.error()));
    return *built;
  }();
  return *table;
}

const microlith::toggle_snapshot& declared() {
  static const microlith::toggle_snapshot snapshot{
    {{"bank.transfer_fee", "", false, {}}, {"bank.new_limits", "", true, {}}}, {}};
  return snapshot;
}

std::string_view view(boost::beast::string_view text) {
  return {text.data(), text.size()};
}

// A refusal as the gateway answers it: an error body that must be JSON.
void refused(std::string_view message, std::string_view field = {}) {
  MICROLITH_FUZZ_CHECK(target, !message.empty(), "a refusal without a message");
  auto body = gw::error_body("bad_request", message, "fuzz-1", field);
  google::protobuf::Struct parsed;
  MICROLITH_FUZZ_CHECK(target, google::protobuf::util::JsonStringToMessage(body, &parsed).ok(),
                       "an error body is not JSON");
}

// `message` with its float and double zeros positive and its NaNs the same NaN: Protobuf's JSON
// printer writes -0 as "-0" and any NaN as "NaN", which its parser reads back as 0 and as a
// positive quiet NaN (the same numbers to a client).
void canonical_numbers(google::protobuf::Message& message) {
  const auto* reflection = message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  using field = google::protobuf::FieldDescriptor;
  for (const auto* f : fields) {
    if (f->is_repeated())
      continue; // the binding sets singular fields; a body's lists of numbers stay as they are
    if (f->cpp_type() == field::CPPTYPE_DOUBLE) {
      auto x = reflection->GetDouble(message, f);
      if (x == 0 || std::isnan(x))
        reflection->SetDouble(&message, f,
                              std::isnan(x) ? std::numeric_limits<double>::quiet_NaN() : 0.0);
    } else if (f->cpp_type() == field::CPPTYPE_FLOAT) {
      auto x = reflection->GetFloat(message, f);
      if (x == 0 || std::isnan(x))
        reflection->SetFloat(&message, f,
                             std::isnan(x) ? std::numeric_limits<float>::quiet_NaN() : 0.0f);
    } else if (f->cpp_type() == field::CPPTYPE_MESSAGE) {
      canonical_numbers(*reflection->MutableMessage(&message, f));
    }
  }
}

// The message's bytes, map entries in key order and numbers canonical (comparable between two
// equal messages).
std::string deterministic_bytes(const google::protobuf::Message& original) {
  std::unique_ptr<google::protobuf::Message> message{original.New()};
  message->CopyFrom(original);
  canonical_numbers(*message);
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream out(&bytes);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    MICROLITH_FUZZ_CHECK(target, message->SerializeToCodedStream(&coded),
                         "a bound message does not serialize");
  }
  return bytes;
}

// The invariants of a message the binding built.
void check_bound(const google::protobuf::Message& message) {
  std::string bytes;
  MICROLITH_FUZZ_CHECK(target, message.SerializeToString(&bytes),
                       "a bound message does not serialize");
  std::unique_ptr<google::protobuf::Message> parsed{message.New()};
  MICROLITH_FUZZ_CHECK(
    target, parsed->ParseFromString(bytes),
    "a bound message's bytes do not parse (a node receiving it would refuse it)");
  auto json = gw::to_json(message);
  MICROLITH_FUZZ_CHECK(target, !json.empty(), "a bound message does not print as JSON");
  auto again = gw::bind_request(*message.GetDescriptor(), json, "application/json", {}, {});
  MICROLITH_FUZZ_CHECK(target, again.message != nullptr,
                       "the JSON of a bound message does not bind again");
  MICROLITH_FUZZ_CHECK(target, deterministic_bytes(*again.message) == deterministic_bytes(message),
                       "the JSON of a bound message binds to another message");
}

} // namespace

MICROLITH_FUZZ_TARGET(http_request) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(8 * 1024);  // gateway_options::max_header_bytes
  parser.body_limit(1024 * 1024); // gateway_options::max_body_bytes
  parser.eager(true);
  boost::beast::error_code ec;
  auto buffer = boost::asio::const_buffer(data, size);
  while (!ec && !parser.is_done() && buffer.size() > 0) {
    auto used = parser.put(buffer, ec);
    buffer += used;
    if (used == 0)
      break;
  }
  if (ec || !parser.is_done())
    return 0;
  const auto& req = parser.get();

  auto id = view(req["X-Request-Id"]);
  if (!id.empty() && !gw::valid_request_id(id))
    return 0;
  if (auto problem = gw::host_problem(req))
    return refused(*problem, "Host"), 0;
  if (auto problem = gw::websocket_key_problem(req))
    refused(*problem, "Sec-WebSocket-Key");

  auto whole = view(req.target());
  auto question = whole.find('?');
  auto path = whole.substr(0, question);
  auto query = question == std::string_view::npos ? std::string_view{} : whole.substr(question + 1);
  auto m = fuzz_table().match(view(req.method_string()), path);
  if (m.result != gw::route_match::outcome::found)
    return 0;
  MICROLITH_FUZZ_CHECK(target, m.target != nullptr && m.target->request_type != nullptr,
                       "a match without its route");
  if (!m.decode_error.empty())
    return refused(m.decode_error, m.decode_field), 0;
  auto params = gw::parse_query(query);
  if (!params)
    return refused(microlith::message_of(params.error())), 0;
  auto bound = gw::bind_request(*m.target->request_type, req.body(),
                                view(req[http::field::content_type]), *params, m.path_params);
  if (!bound.message)
    return refused(bound.error.message, bound.error.field), 0;
  MICROLITH_FUZZ_CHECK(target, bound.message->GetDescriptor() == m.target->request_type,
                       "a bound message of another type than the route's");
  check_bound(*bound.message);

  if (auto header = req.find("Idempotency-Key"); header != req.end()) {
    auto key = gw::parse_idempotency_key(view(header->value()));
    if (!key)
      refused(microlith::message_of(key.error()), "Idempotency-Key");
  }
  auto toggles = view(req[boost::beast::string_view{gw::toggle_overrides_header.data(),
                                                    gw::toggle_overrides_header.size()}]);
  if (!toggles.empty()) {
    auto overrides = gw::parse_toggle_overrides_header(toggles, declared());
    if (!overrides)
      refused(microlith::message_of(overrides.error()), gw::toggle_overrides_header);
  }
  return 0;
}
