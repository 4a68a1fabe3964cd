// The gateway's HTTP <-> Protobuf binding (net/src/gateway/http_binding.cpp): a JSON body through
// Protobuf's JSON mapping, path and query parameters of every scalar kind, their precedence,
// percent-decoding, control characters refused in parameters and raw in JSON strings, the errors
// that name the field at fault, answers as JSON, and error bodies.
#include "proto/gateway_test.pb.h"
#include "proto/test.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/net/gateway/http_binding.hpp>

#include <caf/all.hpp>

#include <google/protobuf/any.pb.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace gw = microlith::gateway;
namespace tpb = microlith::test::gateway;
using microlith::errc;

namespace {

using params = std::vector<gw::param>;

/// Binds a BindRequest from the given parts.
gw::binding_result bind_parts(const params& query, const params& path = {},
                              std::string_view body = {},
                              std::string_view content_type = "application/json") {
  return gw::bind_request(*tpb::BindRequest::descriptor(), body, content_type, query, path);
}

/// A copy of the request a successful binding built (fails the test when binding failed).
tpb::BindRequest request_of(const gw::binding_result& result) {
  INFO("binding error: field \"" << result.error.field << "\": " << result.error.message);
  REQUIRE(result.message != nullptr);
  const auto* request = dynamic_cast<const tpb::BindRequest*>(result.message.get());
  REQUIRE(request != nullptr);
  return *request;
}

/// The error of a failed binding (fails the test when binding succeeded).
gw::binding_error error_of(const gw::binding_result& result) {
  REQUIRE(result.message == nullptr);
  REQUIRE_FALSE(result.error.message.empty());
  return result.error;
}

/// Parses `json` as a JSON object (fails the test when it is not one).
google::protobuf::Struct parse_object(const std::string& json) {
  google::protobuf::Struct object;
  auto status = google::protobuf::util::JsonStringToMessage(json, &object);
  INFO(json << " -> " << status.ToString());
  REQUIRE(status.ok());
  return object;
}

/// The string member `key` of a parsed JSON object.
std::string member(const google::protobuf::Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  REQUIRE(it != object.fields().end());
  REQUIRE(it->second.kind_case() == google::protobuf::Value::kStringValue);
  return it->second.string_value();
}

} // namespace

// ---- Parameters of every scalar kind -------------------------------------------------------

TEST_CASE("a path or query parameter sets a field of every scalar kind", "[unit]") {
  // Each variant runs once as a query parameter and once as a path parameter. A generator, not
  // a loop: Catch2 runs the test case once per section, and a loop around the sections would
  // enter them on its first pass only.
  const bool from_path = GENERATE(false, true);
  auto bind_one = [from_path](std::string name, std::string value) {
    params one{{std::move(name), std::move(value)}};
    return from_path ? bind_parts({}, one) : bind_parts(one);
  };
  INFO((from_path ? "path parameter" : "query parameter"));
  SECTION("string") {
    CHECK(request_of(bind_one("name", "caf\xc3\xa9 au lait")).name() == "caf\xc3\xa9 au lait");
  }
  SECTION("bytes as text") {
    CHECK(request_of(bind_one("data", "raw\xff\xfe")).data() == "raw\xff\xfe");
  }
  SECTION("bool") {
    CHECK(request_of(bind_one("flag", "true")).flag());
    CHECK_FALSE(request_of(bind_one("flag", "false")).flag());
  }
  SECTION("int32") {
    CHECK(request_of(bind_one("amount", "42")).amount() == 42);
    CHECK(request_of(bind_one("amount", "-2147483648")).amount()
          == std::numeric_limits<std::int32_t>::min());
  }
  SECTION("int64") {
    CHECK(request_of(bind_one("big", "9223372036854775807")).big()
          == std::numeric_limits<std::int64_t>::max());
    CHECK(request_of(bind_one("big", "-5")).big() == -5);
  }
  SECTION("uint32") {
    CHECK(request_of(bind_one("small_count", "4294967295")).small_count()
          == std::numeric_limits<std::uint32_t>::max());
  }
  SECTION("uint64") {
    CHECK(request_of(bind_one("big_count", "18446744073709551615")).big_count()
          == std::numeric_limits<std::uint64_t>::max());
  }
  SECTION("sint32 and fixed64 bind as their integer kinds") {
    CHECK(request_of(bind_one("delta", "-7")).delta() == -7);
    CHECK(request_of(bind_one("stamp", "1700000000000")).stamp() == 1700000000000u);
  }
  SECTION("float") {
    CHECK(request_of(bind_one("ratio", "0.5")).ratio() == 0.5f);
    CHECK(request_of(bind_one("ratio", "-1e3")).ratio() == -1000.0f);
  }
  SECTION("double") {
    CHECK(request_of(bind_one("price", "-12.25")).price() == -12.25);
    CHECK(request_of(bind_one("price", "1e300")).price() == 1e300);
  }
  SECTION("enum by name") {
    CHECK(request_of(bind_one("color", "GREEN")).color() == tpb::GREEN);
  }
  SECTION("enum by number") {
    CHECK(request_of(bind_one("color", "1")).color() == tpb::RED);
  }
}

TEST_CASE("an integer parameter refuses junk, overflow, a sign it cannot hold and empty text",
          "[unit]") {
  auto refused = [](std::string name, std::string value) {
    return error_of(bind_parts({{std::move(name), std::move(value)}}));
  };
  SECTION("junk") {
    const auto& err = refused("amount", "abc");
    CHECK(err.field == "amount");
    CHECK(err.message == "expected an integer (int32) for field \"amount\", got \"abc\"");
  }
  SECTION("trailing junk") {
    CHECK(refused("amount", "12x").field == "amount");
    CHECK(refused("big", "12 ").field == "big");
  }
  SECTION("a leading plus, space or hex prefix") {
    CHECK(refused("amount", "+5").field == "amount");
    CHECK(refused("amount", " 5").field == "amount");
    CHECK(refused("amount", "0x10").field == "amount");
  }
  SECTION("a fraction") {
    CHECK(refused("amount", "1.5").message
          == "expected an integer (int32) for field \"amount\", got \"1.5\"");
  }
  SECTION("int32 overflow") {
    const auto& err = refused("amount", "9999999999");
    CHECK(err.field == "amount");
    CHECK(err.message
          == "expected an integer (int32) for field \"amount\", got \"9999999999\" (out of range)");
    CHECK(refused("amount", "2147483648").field == "amount");
    CHECK(refused("amount", "-2147483649").field == "amount");
  }
  SECTION("int64 overflow") {
    CHECK(refused("big", "9223372036854775808").message
          == "expected an integer (int64) for field \"big\", got \"9223372036854775808\" (out of "
             "range)");
  }
  SECTION("uint64 overflow") {
    CHECK(refused("big_count", "18446744073709551616").field == "big_count");
  }
  SECTION("a negative number for an unsigned field") {
    const auto& err = refused("small_count", "-1");
    CHECK(err.field == "small_count");
    CHECK(err.message
          == "expected a non-negative integer (uint32) for field \"small_count\", got \"-1\"");
    CHECK(refused("big_count", "-0").field == "big_count");
  }
  SECTION("empty text") {
    CHECK(refused("amount", "").message
          == "expected an integer (int32) for field \"amount\", got \"\"");
    CHECK(refused("big_count", "").field == "big_count");
  }
  SECTION("a type named as declared") {
    CHECK(refused("delta", "x").message
          == "expected an integer (sint32) for field \"delta\", got \"x\"");
  }
  SECTION("a long value is quoted cut short") {
    const auto& err = refused("amount", std::string(500, '7') + "x");
    CHECK(err.message.size() < 200);
    CHECK(err.message.find("...") != std::string::npos);
  }
}

TEST_CASE("a floating-point parameter refuses junk and values out of range", "[unit]") {
  SECTION("junk") {
    const auto& err = error_of(bind_parts({{"price", "1.5.5"}}));
    CHECK(err.field == "price");
    CHECK(err.message == "expected a number (double) for field \"price\", got \"1.5.5\"");
  }
  SECTION("empty text") {
    CHECK(error_of(bind_parts({{"ratio", ""}})).field == "ratio");
  }
  SECTION("too large for a float") {
    CHECK(error_of(bind_parts({{"ratio", "1e39"}})).message
          == "expected a number (float) for field \"ratio\", got \"1e39\" (out of range)");
  }
}

TEST_CASE("a bool parameter takes only true or false", "[unit]") {
  for (const char* text : {"yes", "1", "TRUE", "", "t"}) {
    DYNAMIC_SECTION("\"" << text << "\"") {
      const auto& err = error_of(bind_parts({{"flag", text}}));
      CHECK(err.field == "flag");
      CHECK(err.message
            == std::string{"expected true or false for field \"flag\", got \""} + text + "\"");
    }
  }
}

TEST_CASE("an enum parameter takes a value name or a number", "[unit]") {
  SECTION("by name") {
    CHECK(request_of(bind_parts({{"color", "RED"}})).color() == tpb::RED);
  }
  SECTION("by number") {
    CHECK(request_of(bind_parts({{"color", "2"}})).color() == tpb::GREEN);
  }
  SECTION("an unknown number is kept, as the JSON mapping keeps it for an open enum") {
    const auto& request = request_of(bind_parts({{"color", "7"}}));
    CHECK(request.GetReflection()->GetEnumValue(
            request, tpb::BindRequest::descriptor()->FindFieldByName("color"))
          == 7);
  }
  SECTION("an unknown name lists the names") {
    const auto& err = error_of(bind_parts({{"color", "BLUE"}}));
    CHECK(err.field == "color");
    CHECK(err.message
          == "expected a value of enum microlith.test.gateway.Color (COLOR_UNSPECIFIED, RED, "
             "GREEN) or its number for field \"color\", got \"BLUE\"");
  }
  SECTION("names are case-sensitive") {
    CHECK(error_of(bind_parts({{"color", "red"}})).field == "color");
  }
  SECTION("a number that is not an int32") {
    CHECK(error_of(bind_parts({{"color", "4294967296"}})).field == "color");
  }
}

TEST_CASE("a string parameter must be UTF-8 while bytes take any text", "[unit]") {
  SECTION("string") {
    const auto& err = error_of(bind_parts({{"name", "ab\xff"}}));
    CHECK(err.field == "name");
    CHECK(err.message == "expected UTF-8 text for field \"name\"");
    CHECK(error_of(bind_parts({{"name", "\xed\xa0\x80"}})).field == "name"); // a UTF-16 surrogate
  }
  SECTION("bytes") {
    CHECK(request_of(bind_parts({{"data", "\xff\x80\xfe"}})).data() == "\xff\x80\xfe");
  }
}

TEST_CASE("a path or query parameter may not hold a control character", "[unit]") {
  using namespace std::string_literals;
  SECTION("a NUL in a path parameter names it") {
    const auto& err = error_of(bind_parts({}, {{"name", "acct01\0x"s}}));
    CHECK(err.field == "name");
    CHECK(err.message
          == "path parameter \"name\": expected text without control characters "
             "(U+0000..U+001F, U+007F), got U+0000 at byte 6 of its decoded value");
  }
  SECTION("a line break in a query parameter names it") {
    const auto& err = error_of(bind_parts({{"name", "a\nb"}}));
    CHECK(err.field == "name");
    CHECK(err.message.rfind("query parameter \"name\": ", 0) == 0);
    CHECK_THAT(err.message, Catch::Matchers::Contains("U+000A at byte 1"));
  }
  SECTION("every ASCII control character, DEL included") {
    for (int c = 0; c < 0x20; ++c) {
      INFO("U+" << c);
      CHECK(error_of(bind_parts({}, {{"name", "x"s + static_cast<char>(c)}})).field == "name");
    }
    CHECK(error_of(bind_parts({}, {{"name", "x\x7f"}})).field == "name");
  }
  SECTION("whatever the field's type: bytes") {
    CHECK(error_of(bind_parts({{"data", "\xff\0\xfe"s}})).field == "data");
  }
  SECTION("whatever the field's type: an integer") {
    const auto& err = error_of(bind_parts({{"amount", "5\0"s}}));
    CHECK(err.field == "amount");
    CHECK_THAT(err.message, Catch::Matchers::Contains("control characters"));
  }
  SECTION("space and text beyond ASCII are not control characters") {
    const auto& request = request_of(bind_parts({}, {{"name", "Ada Lovelace \xc3\xa9"}}));
    CHECK(request.name() == "Ada Lovelace \xc3\xa9");
  }
}

TEST_CASE("a parameter that names no field is refused", "[unit]") {
  SECTION("an unknown name") {
    const auto& err = error_of(bind_parts({{"xyz", "1"}}));
    CHECK(err.field == "xyz");
    CHECK(err.message == "\"xyz\" is not a field of microlith.test.gateway.BindRequest");
  }
  SECTION("a lowerCamel name: parameters bind by proto name only") {
    CHECK(error_of(bind_parts({}, {{"smallCount", "1"}})).message
          == "\"smallCount\" is not a field of microlith.test.gateway.BindRequest");
  }
}

TEST_CASE("a parameter cannot set a message, repeated or map field", "[unit]") {
  SECTION("message") {
    const auto& err = error_of(bind_parts({{"note", "x"}}));
    CHECK(err.field == "note");
    CHECK(err.message
          == "field \"note\" is a message (microlith.test.gateway.Note): a path or query "
             "parameter can only set a singular scalar field");
  }
  SECTION("repeated") {
    const auto& err = error_of(bind_parts({}, {{"tags", "x"}}));
    CHECK(err.field == "tags");
    CHECK(err.message
          == "field \"tags\" is a repeated field: a path or query parameter can only set a "
             "singular scalar field");
  }
  SECTION("map") {
    const auto& err = error_of(bind_parts({{"labels", "x"}}));
    CHECK(err.field == "labels");
    CHECK(err.message
          == "field \"labels\" is a map: a path or query parameter can only set a singular "
             "scalar field");
  }
}

// ---- Precedence ----------------------------------------------------------------------------

TEST_CASE("a path parameter wins over a query parameter which wins over the body", "[unit]") {
  constexpr std::string_view body = R"({"amount": 1, "name": "from body", "flag": true})";
  SECTION("path over query over body") {
    const auto& request = request_of(bind_parts({{"amount", "2"}}, {{"amount", "3"}}, body));
    CHECK(request.amount() == 3);
    CHECK(request.name() == "from body");
    CHECK(request.flag());
  }
  SECTION("query over body") {
    const auto& request =
      request_of(bind_parts({{"amount", "2"}, {"name", "from query"}}, {}, body));
    CHECK(request.amount() == 2);
    CHECK(request.name() == "from query");
  }
  SECTION("path over body") {
    CHECK(request_of(bind_parts({}, {{"flag", "false"}}, body)).flag() == false);
  }
  SECTION("path over query") {
    CHECK(request_of(bind_parts({{"name", "q"}}, {{"name", "p"}})).name() == "p");
  }
  SECTION("the body alone") {
    CHECK(request_of(bind_parts({}, {}, body)).amount() == 1);
  }
  SECTION("a bad query parameter is an error even when a path parameter would overwrite it") {
    CHECK(error_of(bind_parts({{"amount", "x"}}, {{"amount", "3"}})).field == "amount");
  }
}

// ---- The body ------------------------------------------------------------------------------

TEST_CASE("an empty body leaves every field at its default", "[unit]") {
  auto check_defaults = [](const tpb::BindRequest& request) {
    CHECK(request.name().empty());
    CHECK(request.amount() == 0);
    CHECK(request.color() == tpb::COLOR_UNSPECIFIED);
    CHECK_FALSE(request.has_note());
  };
  SECTION("no body") {
    check_defaults(request_of(bind_parts({}, {}, "", "")));
  }
  SECTION("whitespace only") {
    check_defaults(request_of(bind_parts({}, {}, " \r\n\t ", "application/json")));
  }
  SECTION("an empty body with another content type") {
    check_defaults(request_of(bind_parts({}, {}, "", "text/plain")));
  }
  SECTION("an empty JSON object") {
    check_defaults(request_of(bind_parts({}, {}, "{}")));
  }
}

TEST_CASE("a body must be application/json", "[unit]") {
  constexpr std::string_view body = R"({"amount": 5})";
  SECTION("application/json") {
    CHECK(request_of(bind_parts({}, {}, body, "application/json")).amount() == 5);
  }
  SECTION("with parameters") {
    CHECK(request_of(bind_parts({}, {}, body, "application/json; charset=utf-8")).amount() == 5);
    CHECK(request_of(bind_parts({}, {}, body, "application/json;charset=UTF-8")).amount() == 5);
  }
  SECTION("in any letter case") {
    CHECK(request_of(bind_parts({}, {}, body, "Application/JSON")).amount() == 5);
  }
  SECTION("an absent content type is taken as JSON") {
    CHECK(request_of(bind_parts({}, {}, body, "")).amount() == 5);
  }
  SECTION("text/plain") {
    const auto& err = error_of(bind_parts({}, {}, body, "text/plain"));
    CHECK(err.field == "Content-Type");
    CHECK(err.message
          == "expected a JSON body (Content-Type: application/json), got Content-Type "
             "\"text/plain\"");
  }
  SECTION("a form") {
    CHECK(error_of(bind_parts({}, {}, body, "application/x-www-form-urlencoded")).field
          == "Content-Type");
  }
  SECTION("a longer type that starts like JSON") {
    CHECK(error_of(bind_parts({}, {}, body, "application/jsonl")).field == "Content-Type");
  }
}

TEST_CASE("a body uses Protobuf's JSON mapping", "[unit]") {
  SECTION("proto and lowerCamel names") {
    const auto& request = request_of(bind_parts({}, {}, R"({"small_count": 3, "bigCount": 4})"));
    CHECK(request.small_count() == 3);
    CHECK(request.big_count() == 4);
  }
  SECTION("int64 as a number or a string") {
    CHECK(request_of(bind_parts({}, {}, R"({"big": 12})")).big() == 12);
    CHECK(request_of(bind_parts({}, {}, R"({"big": "-9223372036854775808"})")).big()
          == std::numeric_limits<std::int64_t>::min());
  }
  SECTION("enums by name or number") {
    CHECK(request_of(bind_parts({}, {}, R"({"color": "GREEN"})")).color() == tpb::GREEN);
    CHECK(request_of(bind_parts({}, {}, R"({"color": 1})")).color() == tpb::RED);
  }
  SECTION("messages, repeated fields and maps") {
    const auto& request = request_of(
      bind_parts({}, {}, R"({"note": {"text": "n"}, "tags": ["a", "b"], "labels": {"k": 1}})"));
    CHECK(request.note().text() == "n");
    CHECK(request.tags_size() == 2);
    CHECK(request.labels().at("k") == 1);
  }
}

TEST_CASE("a malformed JSON body is an error of the body as a whole", "[unit]") {
  SECTION("unexpected end") {
    const auto& err = error_of(bind_parts({}, {}, "{"));
    CHECK(err.field.empty());
    CHECK(err.message
          == "invalid JSON body: Unexpected end of string. Expected an object key or }.");
  }
  SECTION("not JSON at all") {
    const auto& err = error_of(bind_parts({}, {}, "amount=5"));
    CHECK(err.field.empty());
    CHECK(err.message.rfind("invalid JSON body: ", 0) == 0);
  }
  SECTION("text after the object names where") {
    const auto& err = error_of(bind_parts({}, {}, R"({"name": "x"} junk)"));
    CHECK(err.field.empty());
    CHECK(err.message
          == "invalid JSON body: Parsing terminated before end of input. (at \"junk\")");
  }
  SECTION("a root that is not an object") {
    const auto& err = error_of(bind_parts({}, {}, "[1, 2]"));
    CHECK(err.field.empty());
    CHECK(err.message == "invalid JSON body: Root element must be a message.");
  }
}

TEST_CASE("a raw control character in a JSON string is an error naming its field", "[unit]") {
  using namespace std::string_literals;
  SECTION("in a value at the top level") {
    const auto& err = error_of(bind_parts({}, {}, "{\"amount\": 5, \"name\": \"a\x01\"}"));
    CHECK(err.field == "name");
    CHECK(err.message
          == "invalid JSON body: a raw control character (U+0001) in a string at "
             "byte 24: JSON strings must escape it (RFC 8259 section 7), as \\u0001");
  }
  SECTION("a raw NUL is the gateway's error, not Protobuf's") {
    const auto& err = error_of(bind_parts({}, {}, "{\"name\": \"nul\0a\"}"s));
    CHECK(err.field == "name");
    CHECK_THAT(err.message, Catch::Matchers::Contains("U+0000"));
  }
  SECTION("a raw tab or line break") {
    CHECK(error_of(bind_parts({}, {}, "{\"name\": \"a\tb\"}")).field == "name");
    CHECK(error_of(bind_parts({}, {}, "{\"name\": \"a\nb\"}")).field == "name");
  }
  SECTION("inside a nested message") {
    CHECK(error_of(bind_parts({}, {}, "{\"name\": \"x\", \"note\": {\"text\": \"\x1f\"}}")).field
          == "note.text");
  }
  SECTION("in an array element") {
    CHECK(error_of(bind_parts({}, {}, "{\"tags\": [\"a\", \"b\x02\"], \"name\": \"x\"}")).field
          == "tags[1]");
  }
  SECTION("after escaped quotes and backslashes") {
    CHECK(error_of(bind_parts({}, {}, "{\"name\": \"a\\\"\x01\"}")).field == "name");
    CHECK(error_of(bind_parts({}, {}, "{\"name\": \"a\\\\\", \"tags\": [\"\x02\"]}")).field
          == "tags[0]");
  }
  SECTION("in a member name") {
    const auto& err = error_of(bind_parts({}, {}, "{\"labels\": {\"k\x01\": 1}}"));
    CHECK(err.field == "labels");
    CHECK_THAT(err.message, Catch::Matchers::Contains("in a member name"));
    CHECK(error_of(bind_parts({}, {}, "{\"na\x01me\": \"x\"}")).field.empty());
  }
  SECTION("whitespace between values is not in a string") {
    const auto& request =
      request_of(bind_parts({}, {}, "{\n\t\"name\": \"ada\",\r\n\t\"tags\": [\n\"a\"\n]\n}\n"));
    CHECK(request.name() == "ada");
    CHECK(request.tags_size() == 1);
  }
  SECTION("escaped, a control character is valid JSON and kept byte for byte") {
    const auto& request = request_of(bind_parts({}, {}, R"({"name": "nul\u0000a\u0001\t"})"));
    CHECK(request.name() == "nul\0a\x01\t"s);
    CHECK(request.name().size() == 7);
  }
}

TEST_CASE("an unknown JSON field is an error that names it", "[unit]") {
  SECTION("at the top level") {
    const auto& err = error_of(bind_parts({}, {}, R"({"name": "x", "foo": 1})"));
    CHECK(err.field == "foo");
    CHECK(err.message == "invalid JSON body: foo: Cannot find field.");
  }
  SECTION("inside a nested message") {
    const auto& err = error_of(bind_parts({}, {}, R"({"note": {"colour": 1}})"));
    CHECK(err.field == "note.colour");
    CHECK(err.message == "invalid JSON body: (note) colour: Cannot find field.");
  }
}

TEST_CASE("a JSON value of the wrong type is an error that names its field", "[unit]") {
  SECTION("junk for an int32") {
    const auto& err = error_of(bind_parts({}, {}, R"({"amount": "abc"})"));
    CHECK(err.field == "amount");
    CHECK(err.message == "invalid JSON body: (amount): invalid value \"abc\" for type TYPE_INT32");
  }
  SECTION("int32 overflow") {
    const auto& err = error_of(bind_parts({}, {}, R"({"amount": 9999999999})"));
    CHECK(err.field == "amount");
    CHECK(err.message
          == "invalid JSON body: (amount): invalid value 9999999999 for type TYPE_INT32");
  }
  SECTION("a negative number for an unsigned field") {
    CHECK(error_of(bind_parts({}, {}, R"({"small_count": -1})")).field == "small_count");
  }
  SECTION("inside a nested message") {
    CHECK(error_of(bind_parts({}, {}, R"({"note": {"text": 5}})")).field == "note.text");
  }
  SECTION("an unknown enum name") {
    CHECK(error_of(bind_parts({}, {}, R"({"color": "BLUE"})")).field == "color");
  }
}

// ---- Query strings and percent-decoding ----------------------------------------------------

TEST_CASE("percent_decode decodes escapes and refuses malformed ones", "[unit]") {
  auto decoded = [](std::string_view text, bool plus_is_space) {
    auto result = gw::percent_decode(text, plus_is_space);
    INFO(text << ": " << microlith::describe(result ? caf::error{} : result.error()));
    REQUIRE(result);
    return *result;
  };
  SECTION("plain text is unchanged") {
    CHECK(decoded("abc-._~", false) == "abc-._~");
    CHECK(decoded("", true).empty());
  }
  SECTION("a path keeps '+'") {
    CHECK(decoded("a+b", false) == "a+b");
  }
  SECTION("a query component turns '+' into a space") {
    CHECK(decoded("a+b", true) == "a b");
    CHECK(decoded("a%2Bb", true) == "a+b");
  }
  SECTION("escapes in either case") {
    CHECK(decoded("a%2Fb", false) == "a/b");
    CHECK(decoded("a%2fb", false) == "a/b");
    CHECK(decoded("%20%25", false) == " %");
    CHECK(decoded("caf%C3%A9", false) == "caf\xc3\xa9");
  }
  SECTION("a malformed escape") {
    auto result = gw::percent_decode("a%G1b", false);
    REQUIRE_FALSE(result);
    CHECK(microlith::is(result.error(), errc::bad_request));
    CHECK(microlith::message_of(result.error()) == "malformed percent escape \"%G1\" in \"a%G1b\"");
    CHECK_FALSE(gw::percent_decode("%1G", true));
    CHECK_FALSE(gw::percent_decode("%%", true));
  }
  SECTION("a truncated escape") {
    auto result = gw::percent_decode("ab%4", false);
    REQUIRE_FALSE(result);
    CHECK(microlith::is(result.error(), errc::bad_request));
    CHECK(microlith::message_of(result.error())
          == "truncated percent escape \"%4\" at the end of \"ab%4\"");
    CHECK_FALSE(gw::percent_decode("ab%", false));
  }
}

TEST_CASE("parse_query splits and decodes a query string", "[unit]") {
  auto parsed = [](std::string_view query) {
    auto result = gw::parse_query(query);
    INFO(query << ": " << microlith::describe(result ? caf::error{} : result.error()));
    REQUIRE(result);
    return *result;
  };
  auto as_pairs = [](const params& ps) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& p : ps)
      out.emplace_back(p.name, p.value);
    return out;
  };
  using pairs = std::vector<std::pair<std::string, std::string>>;
  SECTION("names and values") {
    CHECK(as_pairs(parsed("a=1&b=x%20y")) == pairs{{"a", "1"}, {"b", "x y"}});
  }
  SECTION("'+' is a space and %2B a plus") {
    CHECK(as_pairs(parsed("q=a+b&r=1%2B1")) == pairs{{"q", "a b"}, {"r", "1+1"}});
  }
  SECTION("%2F is a slash") {
    CHECK(as_pairs(parsed("path=a%2Fb")) == pairs{{"path", "a/b"}});
  }
  SECTION("a name without '=' has an empty value") {
    CHECK(as_pairs(parsed("flag&a=")) == pairs{{"flag", ""}, {"a", ""}});
  }
  SECTION("a value keeps its own '='") {
    CHECK(as_pairs(parsed("a=b=c")) == pairs{{"a", "b=c"}});
  }
  SECTION("names are decoded too") {
    CHECK(as_pairs(parsed("account%5Fid=7")) == pairs{{"account_id", "7"}});
  }
  SECTION("empty items are skipped") {
    CHECK(parsed("").empty());
    CHECK(as_pairs(parsed("&a=1&&b=2&")) == pairs{{"a", "1"}, {"b", "2"}});
  }
}

TEST_CASE("parse_query refuses a name given twice", "[unit]") {
  SECTION("the same spelling") {
    auto result = gw::parse_query("a=1&b=2&a=3");
    REQUIRE_FALSE(result);
    CHECK(microlith::is(result.error(), errc::bad_request));
    CHECK(microlith::message_of(result.error()) == "query parameter \"a\" is given more than once");
  }
  SECTION("the same name once decoded") {
    CHECK_FALSE(gw::parse_query("a=1&%61=2"));
  }
  SECTION("twice without values") {
    CHECK_FALSE(gw::parse_query("a&a"));
  }
}

TEST_CASE("parse_query refuses malformed escapes naming the parameter", "[unit]") {
  SECTION("in a value") {
    auto result = gw::parse_query("a=1&amount=%G1");
    REQUIRE_FALSE(result);
    CHECK(microlith::is(result.error(), errc::bad_request));
    CHECK(microlith::message_of(result.error())
          == "query parameter \"amount\": malformed percent escape \"%G1\" in \"%G1\"");
  }
  SECTION("truncated in a value") {
    auto result = gw::parse_query("amount=12%4");
    REQUIRE_FALSE(result);
    CHECK(microlith::message_of(result.error())
          == "query parameter \"amount\": truncated percent escape \"%4\" at the end of \"12%4\"");
  }
  SECTION("in a name") {
    auto result = gw::parse_query("am%zzount=1");
    REQUIRE_FALSE(result);
    CHECK(microlith::message_of(result.error()).rfind("query parameter \"am%zzount\": ", 0) == 0);
  }
  SECTION("an empty name") {
    auto result = gw::parse_query("=5");
    REQUIRE_FALSE(result);
    CHECK(microlith::message_of(result.error()) == "query parameter without a name: \"=5\"");
  }
}

TEST_CASE("query parameters from parse_query bind with '+' as a space", "[unit]") {
  auto query = gw::parse_query("name=Ada+Lovelace&amount=-3");
  REQUIRE(query);
  const auto& request = request_of(bind_parts(*query));
  CHECK(request.name() == "Ada Lovelace");
  CHECK(request.amount() == -3);
}

// ---- Answers -------------------------------------------------------------------------------

TEST_CASE("to_json prints proto names and zero values", "[unit]") {
  SECTION("a default message shows every scalar field") {
    CHECK(gw::to_json(tpb::BindReply{})
          == R"({"balance":"0","account_id":"","closed":false,"color":"COLOR_UNSPECIFIED"})");
  }
  SECTION("set fields, int64 as a string") {
    tpb::BindReply reply;
    reply.set_balance(-1234567890123);
    reply.set_account_id("acc-1");
    reply.set_closed(true);
    reply.set_color(tpb::RED);
    CHECK(gw::to_json(reply)
          == R"({"balance":"-1234567890123","account_id":"acc-1","closed":true,"color":"RED"})");
  }
  SECTION("proto names, not lowerCamel") {
    auto json = gw::to_json(tpb::BindRequest{});
    CHECK(json.find("\"small_count\":0") != std::string::npos);
    CHECK(json.find("\"big_count\":\"0\"") != std::string::npos);
    CHECK(json.find("smallCount") == std::string::npos);
  }
  SECTION("a message JSON cannot show prints as an empty string") {
    google::protobuf::Any any;
    any.set_type_url("type.googleapis.com/microlith.test.gateway.NoSuchType");
    any.set_value(std::string{"\x08\x01"}); // a payload of a type nobody can resolve
    CHECK(gw::to_json(any).empty());
  }
}

TEST_CASE("to_json prints every message exactly as Protobuf's JSON printer does", "[unit]") {
  // to_json prints messages of plain types itself (http_binding.cpp): byte for byte what
  // Protobuf prints with the same options, whatever the values.
  auto protobuf_json = [](const google::protobuf::Message& m) {
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    std::string out;
    REQUIRE(google::protobuf::util::MessageToJsonString(m, &out, options).ok());
    return out;
  };
  using limits64 = std::numeric_limits<std::int64_t>;

  SECTION("integers and enums at their limits, and enum values this build does not know") {
    for (auto balance : {limits64::min(), std::int64_t{-1}, std::int64_t{0}, limits64::max()})
      for (int color : {0, 1, 2, 7, -3}) {
        tpb::BindReply reply;
        reply.set_balance(balance);
        reply.set_color(static_cast<tpb::Color>(color));
        reply.set_closed(color % 2 != 0);
        CHECK(gw::to_json(reply) == protobuf_json(reply));
      }
    microlith::test::PingReply ping;
    ping.set_value(limits64::min());
    ping.set_hops(std::numeric_limits<std::uint32_t>::max());
    ping.set_remaining_ms(-5);
    ping.set_instance(std::numeric_limits<std::uint64_t>::max());
    ping.set_text("t");
    CHECK(gw::to_json(ping) == protobuf_json(ping));
    CHECK(gw::to_json(microlith::test::PingReply{}) == protobuf_json(microlith::test::PingReply{}));
  }
  SECTION("strings with every ASCII character, and beyond") {
    std::vector<std::string> texts{"",
                                   "hello",
                                   "a b",
                                   "x\xc3\xa9y",
                                   "\xe2\x80\xa8",
                                   "\xff",
                                   "<script>&'=`",
                                   std::string("nul\0in", 6)};
    for (int c = 0; c < 128; ++c)
      texts.push_back("[" + std::string(1, static_cast<char>(c)) + "]");
    for (const auto& text : texts) {
      tpb::BindReply reply;
      reply.set_account_id(text);
      INFO("text: " << text);
      CHECK(gw::to_json(reply) == protobuf_json(reply));
    }
  }
  SECTION("messages the printer leaves to Protobuf") {
    tpb::BindRequest request; // floats, bytes, a nested message, repeated and map fields
    request.set_name("n");
    request.set_ratio(0.1f);
    request.set_price(-2.5);
    request.set_data("\x01\x02");
    request.mutable_note()->set_text("inside");
    request.add_tags("t");
    (*request.mutable_labels())["k"] = 1;
    CHECK(gw::to_json(request) == protobuf_json(request));
    google::protobuf::Struct object; // a well-known type
    (*object.mutable_fields())["a"].set_number_value(1);
    CHECK(gw::to_json(object) == protobuf_json(object));
  }
}

// ---- Idempotency keys ----------------------------------------------------------------------

TEST_CASE("parse_idempotency_key reads the bare and the quoted form", "[unit]") {
  SECTION("bare") {
    CHECK(gw::parse_idempotency_key("abc-123").value() == "abc-123");
    CHECK(gw::parse_idempotency_key("  abc-123\t").value() == "abc-123");
  }
  SECTION("quoted, with its escapes") {
    CHECK(gw::parse_idempotency_key(R"("abc-123")").value() == "abc-123");
    CHECK(gw::parse_idempotency_key(R"("a b")").value() == "a b");
    CHECK(gw::parse_idempotency_key(R"("say \"hi\" \\o/")").value() == R"(say "hi" \o/)");
  }
  SECTION("what it refuses, and why") {
    auto why = [](std::string_view value) {
      auto key = gw::parse_idempotency_key(value);
      REQUIRE_FALSE(key);
      CHECK(microlith::is(key.error(), errc::bad_request));
      return microlith::message_of(key.error());
    };
    CHECK_THAT(why(""), Catch::Contains("the key is empty"));
    CHECK_THAT(why(R"("")"), Catch::Contains("the key is empty"));
    CHECK_THAT(why(R"("abc)"), Catch::Contains("no closing quote"));
    CHECK_THAT(why(R"("abc"x)"), Catch::Contains("text follows the quoted key"));
    CHECK_THAT(why(R"("a\x")"), Catch::Contains("escapes only"));
    CHECK_THAT(why("a b"), Catch::Contains("0x20"));
    CHECK_THAT(why(std::string("a\0b", 3)), Catch::Contains("0x00"));
    CHECK_THAT(why("caf\xc3\xa9"), Catch::Contains("0xc3"));
    CHECK_THAT(why(std::string(256, 'k')), Catch::Contains("the key has 256 characters"));
    CHECK(gw::parse_idempotency_key(std::string(255, 'k')));
  }
}

// ---- Errors --------------------------------------------------------------------------------

TEST_CASE("status_of maps every microlith error code to an HTTP status", "[unit]") {
  struct row {
    errc code;
    unsigned status;
  };
  // Google's HTTP mapping of gRPC's canonical codes, and the runtime's own call kinds.
  for (auto [code, status] :
       {row{errc::service_unavailable, 503}, row{errc::timeout, 504}, row{errc::service_down, 503},
        row{errc::bad_request, 400}, row{errc::no_such_method, 404}, row{errc::remote_error, 500},
        row{errc::invalid_argument, 400}, row{errc::failed_precondition, 400},
        row{errc::out_of_range, 400}, row{errc::not_found, 404}, row{errc::already_exists, 409},
        row{errc::aborted, 409}, row{errc::permission_denied, 403}, row{errc::unauthenticated, 401},
        row{errc::resource_exhausted, 429}, row{errc::unimplemented, 501}, row{errc::internal, 500},
        row{errc::data_loss, 500}, row{errc::idempotency_key_reused, 422}}) {
    DYNAMIC_SECTION(microlith::to_string(code)) {
      CHECK(gw::status_of(microlith::make_error(code, "m")) == status);
    }
  }
  SECTION("a code this build does not know") {
    caf::error unknown{std::uint8_t{200}, microlith::error_category()};
    CHECK(gw::status_of(unknown) == 500);
  }
  SECTION("an error of another category") {
    CHECK(gw::status_of(caf::make_error(caf::sec::request_timeout)) == 500);
  }
  SECTION("no error") {
    CHECK(gw::status_of(caf::error{}) == 500);
  }
}

TEST_CASE("error_name names every microlith error and calls the rest internal", "[unit]") {
  for (int value = 1; value <= static_cast<int>(microlith::errc_last); ++value) {
    auto code = static_cast<errc>(value);
    DYNAMIC_SECTION(microlith::to_string(code)) {
      CHECK(microlith::to_string(code) != "unknown");
      CHECK(gw::error_name(microlith::make_error(code)) == microlith::to_string(code));
    }
  }
  SECTION("the stable names") {
    CHECK(gw::error_name(microlith::make_error(errc::service_unavailable))
          == "service_unavailable");
    CHECK(gw::error_name(microlith::make_error(errc::timeout)) == "timeout");
  }
  SECTION("an error of another category") {
    CHECK(gw::error_name(caf::make_error(caf::sec::request_timeout)) == "internal");
  }
  SECTION("a microlith code this build does not know") {
    CHECK(gw::error_name(caf::error{std::uint8_t{200}, microlith::error_category()}) == "internal");
  }
  SECTION("no error") {
    CHECK(gw::error_name(caf::error{}) == "internal");
  }
}

TEST_CASE("error_body is a JSON object with escaped strings", "[unit]") {
  SECTION("without a field") {
    auto body = gw::error_body("timeout", "no answer", "req-1");
    CHECK(body == R"({"error":"timeout","message":"no answer","request_id":"req-1"})");
    auto object = parse_object(body);
    CHECK(object.fields().count("field") == 0);
  }
  SECTION("with a field") {
    auto body = gw::error_body("bad_request", "expected an integer", "r", "amount");
    CHECK(
      body
      == R"({"error":"bad_request","message":"expected an integer","request_id":"r","field":"amount"})");
    CHECK(member(parse_object(body), "field") == "amount");
  }
  SECTION("quotes, backslashes and control characters") {
    const std::string message = "say \"hi\" \\ back\nslash\t\r\b\f \x01\x1f\x7f end";
    auto body = gw::error_body("bad_request", message, "id \"1\"", "a\\b");
    CHECK(body.find("\\u0001") != std::string::npos);
    CHECK(body.find("\\u001f") != std::string::npos);
    CHECK(body.find('\n') == std::string::npos);
    auto object = parse_object(body);
    CHECK(member(object, "error") == "bad_request");
    CHECK(member(object, "message") == message);
    CHECK(member(object, "request_id") == "id \"1\"");
    CHECK(member(object, "field") == "a\\b");
  }
  SECTION("UTF-8 passes through and invalid bytes become U+FFFD") {
    auto body = gw::error_body("bad_request", "caf\xc3\xa9 got \"\xff\"", "r");
    CHECK(body.find("caf\xc3\xa9") != std::string::npos);
    CHECK(member(parse_object(body), "message") == "caf\xc3\xa9 got \"\xef\xbf\xbd\"");
  }
  SECTION("a binding error round-trips into a body") {
    auto result = bind_parts({{"amount", "\"oops\""}});
    const auto& err = error_of(result);
    auto object = parse_object(gw::error_body("bad_request", err.message, "r", err.field));
    CHECK(member(object, "message") == err.message);
    CHECK(member(object, "field") == "amount");
  }
}
