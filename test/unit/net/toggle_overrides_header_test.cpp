// The X-Microlith-Toggles header (net/src/gateway/toggle_overrides_header.cpp and its use in
// http_session.cpp): its grammar and bounds, table-driven; then through a real gateway socket:
// the overrides reach the call, a bad header is 400 naming the problem, a header is ignored and
// counted while the node does not honour overrides, and two clients with opposite overrides in
// parallel each see their own value on every request.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/toggles.hpp>
#include <microlith/net/gateway/toggle_overrides_header.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using namespace unit_net;
using Catch::Matchers::Contains;
using microlith::toggle_overrides;

namespace {

// Toggles "t" and "bank.transfer_fee", both off.
std::shared_ptr<const microlith::toggle_snapshot> declared() {
  std::vector<microlith::toggle_state> all(2);
  all[0].name = "t";
  all[1].name = "bank.transfer_fee";
  return std::make_shared<const microlith::toggle_snapshot>(std::move(all),
                                                            microlith::toggle_groups{});
}

// Echo.Ping: answers "on" or "off" for toggle "t" as its request sees it.
class toggle_reader {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest&) {
    pb::PingReply out;
    out.set_text(ctx.enabled("t") ? "on" : "off");
    return out;
  }
};

// The gateway fixture with toggles declared, a "reader" service and the route GET /toggle.
struct toggles_gateway : gateway_fixture {
  toggles_gateway() {
    node.publish_toggles(declared());
    auto ok = node.spawn(microlith::service<toggle_reader>("reader", "microlith.test.Echo")
                           .handle("Ping", &toggle_reader::ping)
                           .checks_toggles({"t"}));
    if (!ok)
      throw std::runtime_error(microlith::describe(ok.error()));
    auto specs = standard_routes();
    specs.push_back(route("GET /toggle", "reader.Ping"));
    routes->install(must_build(node, specs));
  }

  // GET /toggle with `headers` on `client`: the value seen, or "<status> <message>".
  static std::string get(http_connection& client, header_list headers) {
    auto r = client.request("GET", "/toggle", {}, std::move(headers));
    if (r.status == 200)
      return parse_ping_reply(r.body).text();
    auto body = parse_object(r.body);
    return std::to_string(r.status) + " " + string_field(body, "message")
           + (has_field(body, "field") ? " [" + string_field(body, "field") + "]" : "");
  }
};

} // namespace

TEST_CASE("the X-Microlith-Toggles value is parsed by its grammar and bounds", "[unit]") {
  auto snapshot = declared();
  struct good_case {
    std::string value;
    toggle_overrides expected;
  };
  const std::vector<good_case> good{
    {"t=on", {{"t", true}}},
    {"t=off", {{"t", false}}},
    {"bank.transfer_fee=on, t=off", {{"bank.transfer_fee", true}, {"t", false}}},
    {"  t = on\t,\tbank.transfer_fee =off  ", {{"t", true}, {"bank.transfer_fee", false}}},
  };
  for (const auto& c : good) {
    INFO(c.value);
    auto parsed = microlith::gateway::parse_toggle_overrides_header(c.value, *snapshot);
    REQUIRE(parsed);
    CHECK(*parsed == c.expected);
  }

  struct bad_case {
    std::string value;
    std::string message;
  };
  std::string many;
  for (int i = 0; i < 33; ++i)
    many += (i == 0 ? "" : ",") + std::string("t=on");
  const std::vector<bad_case> bad{
    {"", "X-Microlith-Toggles: item 1 is empty; expected NAME=on or NAME=off"},
    {"t=on,", "X-Microlith-Toggles: item 2 is empty"},
    {"t=on,,bank.transfer_fee=off", "X-Microlith-Toggles: item 2 is empty"},
    {"t", "X-Microlith-Toggles: item \"t\" has no value"},
    {"=on", "X-Microlith-Toggles: item \"=on\" has no name"},
    {"t=yes", "X-Microlith-Toggles: \"t\" has value \"yes\"; expected on or off"},
    {"t=ON", "X-Microlith-Toggles: \"t\" has value \"ON\"; expected on or off"},
    {"t=", "X-Microlith-Toggles: \"t\" has value \"\"; expected on or off"},
    {"foo.bar=on", "X-Microlith-Toggles: \"foo.bar\" is not a declared toggle"},
    {"t=on, t=off", "X-Microlith-Toggles: \"t\" is given more than once"},
    {"t\x01=on", "X-Microlith-Toggles: \"t\\x01\" is not a declared toggle"},
    {many, "X-Microlith-Toggles: 33 items; at most 32"},
    {std::string(1025, 'a'), "X-Microlith-Toggles: 1025 bytes; at most 1024"},
  };
  for (const auto& c : bad) {
    INFO(c.value);
    auto parsed = microlith::gateway::parse_toggle_overrides_header(c.value, *snapshot);
    REQUIRE_FALSE(parsed);
    CHECK(microlith::is(parsed.error(), microlith::errc::bad_request));
    CHECK_THAT(microlith::message_of(parsed.error()), Contains(c.message));
  }
  // 32 items are within the bound (and then refused for the repeated name only).
  many = many.substr(0, many.size() - 5);
  auto at_bound = microlith::gateway::parse_toggle_overrides_header(many, *snapshot);
  REQUIRE_FALSE(at_bound);
  CHECK_THAT(microlith::message_of(at_bound.error()), Contains("given more than once"));
}

TEST_CASE("X-Microlith-Toggles applies to the request while overrides are honoured", "[unit]") {
  toggles_gateway gw;
  gw.node.set_toggle_override_policy({true, false});
  http_connection client{gw.port()};

  CHECK(toggles_gateway::get(client, {}) == "off");
  CHECK(toggles_gateway::get(client, {{"X-Microlith-Toggles", "t=on"}}) == "on");
  CHECK(toggles_gateway::get(client, {{"X-Microlith-Toggles", "bank.transfer_fee=off, t=on"}})
        == "on");
  // The next request on the same connection without the header: the node's value.
  CHECK(toggles_gateway::get(client, {}) == "off");

  SECTION("a bad header is 400 naming the problem, and nothing is called") {
    CHECK(toggles_gateway::get(client, {{"X-Microlith-Toggles", "foo.bar=on"}})
          == "400 X-Microlith-Toggles: \"foo.bar\" is not a declared toggle "
             "[X-Microlith-Toggles]");
    CHECK_THAT(toggles_gateway::get(client, {{"X-Microlith-Toggles", "t=maybe"}}),
               Contains("400 X-Microlith-Toggles: \"t\" has value \"maybe\"; expected on or off"));
    CHECK_THAT(toggles_gateway::get(client, {{"X-Microlith-Toggles", "t=on,,"}}),
               Contains("400 X-Microlith-Toggles: item 2 is empty"));
    std::string many;
    for (int i = 0; i < 40; ++i)
      many += (i == 0 ? "" : ",") + std::string("t=on");
    CHECK_THAT(toggles_gateway::get(client, {{"X-Microlith-Toggles", many}}),
               Contains("400 X-Microlith-Toggles: 40 items; at most 32"));
    CHECK_THAT(toggles_gateway::get(client, {{"X-Microlith-Toggles", std::string(2000, 'x')}}),
               Contains("400 X-Microlith-Toggles: 2000 bytes; at most 1024"));
    CHECK_THAT(toggles_gateway::get(
                 client, {{"X-Microlith-Toggles", "t=on"}, {"X-Microlith-Toggles", "t=off"}}),
               Contains("400 X-Microlith-Toggles: given more than once"));
    // The connection still serves.
    CHECK(toggles_gateway::get(client, {{"X-Microlith-Toggles", "t=on"}}) == "on");
  }
  CHECK(gw.node.override_counts().ignored == 0);
}

TEST_CASE("X-Microlith-Toggles is ignored and counted while overrides are not honoured", "[unit]") {
  toggles_gateway gw;
  REQUIRE_FALSE(gw.node.override_policy().honoured);
  http_connection client{gw.port()};
  CHECK(toggles_gateway::get(client, {{"X-Microlith-Toggles", "t=on"}}) == "off");
  CHECK(gw.node.override_counts().ignored == 1);
  // Not parsed at all: a malformed header is not an error either.
  CHECK(toggles_gateway::get(client, {{"X-Microlith-Toggles", "no such thing,,"}}) == "off");
  CHECK(gw.node.override_counts().ignored == 2);
  CHECK(toggles_gateway::get(client, {}) == "off");
  CHECK(gw.node.override_counts().ignored == 2);
}

TEST_CASE("two clients with opposite X-Microlith-Toggles in parallel each see their own value",
          "[unit]") {
  toggles_gateway gw;
  gw.node.set_toggle_override_policy({true, false});
  // The node's own value is a coin toss on every check (on for 50% of the time): a client that
  // sees its value 100 times in a row sees its override, whichever it is.
  std::vector<microlith::toggle_state> all(2);
  all[0].name = "t";
  all[0].gates.percentage = microlith::percentage_kind::time;
  all[0].gates.percent = 50;
  all[1].name = "bank.transfer_fee";
  gw.node.publish_toggles(
    std::make_shared<const microlith::toggle_snapshot>(std::move(all), microlith::toggle_groups{}));
  std::vector<std::string> seen_on;
  std::vector<std::string> seen_off;
  auto run = [&gw](const std::string& value, std::vector<std::string>& seen) {
    try {
      http_connection client{gw.port()};
      for (int i = 0; i < 100; ++i)
        seen.push_back(toggles_gateway::get(client, {{"X-Microlith-Toggles", "t=" + value}}));
    } catch (const std::exception& e) {
      seen.push_back(std::string("exception: ") + e.what());
    }
  };
  std::thread a{[&] { run("on", seen_on); }};
  std::thread b{[&] { run("off", seen_off); }};
  a.join();
  b.join();
  CHECK(seen_on == std::vector<std::string>(100, "on"));
  CHECK(seen_off == std::vector<std::string>(100, "off"));
}
