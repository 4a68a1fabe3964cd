// The gateway's WebSocket sessions over real sockets (net/src/gateway/websocket_session.cpp,
// topic_hub.cpp): the upgrade's Sec-WebSocket-Key, subscribing, delivery of published messages,
// unsubscribing, the end of a session, bad frames, and slow consumers.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"

#include <microlith/actors/topics.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

using namespace unit_net;
using Catch::Matchers::Contains;

namespace {

pb::PingRequest message(std::string text, std::int64_t value = 0) {
  pb::PingRequest out;
  out.set_text(std::move(text));
  out.set_value(value);
  return out;
}

/// The next frame, which must come within the default limit.
std::string next(ws_connection& ws) {
  auto frame = ws.read();
  if (!frame)
    throw std::runtime_error("no WebSocket frame within the time limit");
  return *frame;
}

/// Subscribes `ws` to `topic` and checks the acknowledgement.
void subscribe(ws_connection& ws, const std::string& topic) {
  ws.send("{\"subscribe\": \"" + topic + "\"}");
  auto ack = parse_object(next(ws));
  REQUIRE(string_field(ack, "subscribed") == topic);
}

/// The topic and the message text of a delivered frame.
std::pair<std::string, std::string> delivery(const std::string& frame) {
  auto object = parse_object(frame);
  auto i = object.fields().find("message");
  if (i == object.fields().end() || !i->second.has_struct_value())
    throw std::runtime_error("not a delivery: " + frame);
  return {string_field(object, "topic"), string_field(i->second.struct_value(), "text")};
}

} // namespace

TEST_CASE("a WebSocket client receives what is published to its topics", "[unit]") {
  gateway_fixture gw;
  ws_connection ws{gw.port()};
  subscribe(ws, "prices");
  CHECK(gw.node.topics().subscriber_count("prices") == 1);
  CHECK(gw.stats().websocket_sessions == 1);

  SECTION("a published message arrives as {topic, message}") {
    CHECK(gw.node.publish("prices", message("tick", 7)) == 1);
    auto frame = next(ws);
    auto object = parse_object(frame);
    CHECK(string_field(object, "topic") == "prices");
    CHECK_THAT(frame, Contains(R"("message":{"text":"tick","value":"7")"));
  }
  SECTION("messages arrive in publish order") {
    for (int i = 0; i < 20; ++i)
      gw.node.publish("prices", message("m" + std::to_string(i)));
    for (int i = 0; i < 20; ++i)
      CHECK(delivery(next(ws)) == std::make_pair(std::string("prices"), "m" + std::to_string(i)));
  }
  SECTION("subscribing twice is acknowledged and delivers once") {
    subscribe(ws, "prices");
    gw.node.publish("prices", message("once"));
    CHECK(delivery(next(ws)).second == "once");
    // A second copy would come before the acknowledgement of the next subscription.
    subscribe(ws, "marker");
    gw.node.publish("marker", message("end"));
    CHECK(delivery(next(ws)).second == "end");
  }
  SECTION("two sessions on one topic share one subscription in the node") {
    ws_connection other{gw.port()};
    subscribe(other, "prices");
    CHECK(gw.node.topics().subscriber_count("prices") == 1);
    gw.node.publish("prices", message("both"));
    CHECK(delivery(next(ws)).second == "both");
    CHECK(delivery(next(other)).second == "both");
  }
  SECTION("a session subscribes to at most 64 topics") {
    for (int i = 1; i < 64; ++i)
      subscribe(ws, "t" + std::to_string(i));
    ws.send(R"({"subscribe": "one-too-many"})");
    auto refused = parse_object(next(ws));
    CHECK(string_field(refused, "error") == "bad_request");
    CHECK_THAT(string_field(refused, "message"), Contains("64"));
  }
}

TEST_CASE("unsubscribing stops delivery", "[unit]") {
  gateway_fixture gw;
  ws_connection leaving{gw.port()};
  ws_connection staying{gw.port()};
  subscribe(leaving, "news");
  subscribe(staying, "news");
  gw.node.publish("news", message("one"));
  CHECK(delivery(next(leaving)).second == "one");
  CHECK(delivery(next(staying)).second == "one");

  leaving.send(R"({"unsubscribe": "news"})");
  CHECK(string_field(parse_object(next(leaving)), "unsubscribed") == "news");
  gw.node.publish("news", message("two"));
  CHECK(delivery(next(staying)).second == "two");
  // Anything for "news" would come before the marker.
  subscribe(leaving, "marker");
  gw.node.publish("marker", message("end"));
  CHECK(delivery(next(leaving)) == std::make_pair(std::string("marker"), std::string("end")));

  SECTION("the last session leaving ends the node subscription") {
    staying.send(R"({"unsubscribe": "news"})");
    CHECK(string_field(parse_object(next(staying)), "unsubscribed") == "news");
    CHECK(gw.node.topics().subscriber_count("news") == 0);
    CHECK(gw.node.publish("news", message("nobody")) == 0);
  }
  SECTION("unsubscribing from a topic never subscribed is acknowledged") {
    staying.send(R"({"unsubscribe": "other"})");
    CHECK(string_field(parse_object(next(staying)), "unsubscribed") == "other");
  }
}

TEST_CASE("a session's subscriptions end with its connection", "[unit]") {
  gateway_fixture gw;
  {
    ws_connection ws{gw.port()};
    subscribe(ws, "a");
    subscribe(ws, "b");
    REQUIRE(gw.node.topics().subscriber_count("a") == 1);

    SECTION("closed with a close handshake") {
      ws.close();
    }
    SECTION("dropped without one") {
      ws.drop();
    }
  }
  CHECK(gateway_fixture::eventually([&] {
    return gw.node.topics().subscriber_count("a") == 0
           && gw.node.topics().subscriber_count("b") == 0;
  }));
  CHECK(gateway_fixture::eventually([&] { return gw.stats().open_connections == 0; }));
}

TEST_CASE("bad frames are answered with an error", "[unit]") {
  gateway_fixture gw;
  ws_connection ws{gw.port()};

  SECTION("malformed or unexpected frames, and the session goes on") {
    for (const char* frame : {"not json", "[1, 2]", R"({"subscribe": 5})", R"({"subscribe": ""})",
                              R"({"hello": "world"})", R"({"unsubscribe": null})"}) {
      INFO(frame);
      ws.send(frame);
      auto answer = parse_object(next(ws));
      CHECK(string_field(answer, "error") == "bad_request");
      CHECK_FALSE(string_field(answer, "message").empty());
    }
    subscribe(ws, "still-here");
    gw.node.publish("still-here", message("yes"));
    CHECK(delivery(next(ws)).second == "yes");
  }
  SECTION("a frame over 4 KiB closes the session") {
    subscribe(ws, "big");
    ws.send(R"({"subscribe": ")" + std::string(5000, 'x') + "\"}");
    CHECK(ws.closed_within(2000ms));
    CHECK(
      gateway_fixture::eventually([&] { return gw.node.topics().subscriber_count("big") == 0; }));
  }
}

TEST_CASE("a slow WebSocket consumer loses messages and is told how many", "[unit]") {
  auto options = test_options();
  options.websocket_queue = 4;
  options.idle_timeout = 30000ms; // no keep-alive ping closes the silent client meanwhile
  gateway_fixture gw{options};
  ws_connection ws{gw.port(), "/ws", 4096};
  subscribe(ws, "flood");

  // The client reads nothing while ~12 MB are published: far more than the socket buffers hold.
  constexpr int published = 200;
  auto text = std::string(64 * 1024, 'f');
  for (int i = 0; i < published; ++i)
    REQUIRE(gw.node.publish("flood", message(text, i)) == 1);
  REQUIRE(gateway_fixture::eventually([&] { return gw.stats().websocket_dropped > 0; }, 5000ms));

  // Reading again: every message is either delivered or counted in a {"dropped": N} notice.
  int delivered = 0;
  std::uint64_t dropped = 0;
  while (delivered + static_cast<int>(dropped) < published) {
    auto frame = ws.read();
    if (!frame)
      break;
    auto object = parse_object(*frame);
    if (has_field(object, "dropped"))
      dropped += static_cast<std::uint64_t>(object.fields().at("dropped").number_value());
    else
      ++delivered;
  }
  CHECK(delivered + static_cast<int>(dropped) == published);
  CHECK(dropped > 0);
  CHECK(dropped == gw.stats().websocket_dropped);

  // The session is still served.
  gw.node.publish("flood", message("after", -1));
  auto after = delivery(next(ws));
  CHECK(after.second == "after");
}

TEST_CASE("a slow WebSocket consumer never slows the others", "[unit]") {
  auto options = test_options();
  options.websocket_queue = 4;
  options.idle_timeout = 30000ms; // no keep-alive ping closes the silent client meanwhile
  gateway_fixture gw{options};
  ws_connection slow{gw.port(), "/ws", 4096};
  subscribe(slow, "flood");
  constexpr int readers = 3;
  std::vector<std::unique_ptr<ws_connection>> fast;
  for (int i = 0; i < readers; ++i) {
    fast.push_back(std::make_unique<ws_connection>(gw.port()));
    subscribe(*fast.back(), "flood");
  }

  // One message at a time, the next once every reader has the last: a reader's queue never
  // holds more than one, while the slow client reads nothing and its socket buffers, then its
  // queue, fill (~12 MB are published). Each message must reach each reader within the reading
  // limit (3 s, generous for 64 KB on the loopback): a gateway whose deliveries waited for the
  // slow client would stall them there.
  constexpr int published = 200;
  auto text = std::string(64 * 1024, 'f');
  std::uint64_t dropped_before_last = 0;
  for (int i = 0; i < published; ++i) {
    if (i == published - 1)
      dropped_before_last = gw.stats().websocket_dropped;
    REQUIRE(gw.node.publish("flood", message(text, i)) == 1);
    for (int r = 0; r < readers; ++r) {
      INFO("message " << i << ", reader " << r);
      auto frame = fast[static_cast<std::size_t>(r)]->read();
      REQUIRE(frame);
      auto object = parse_object(*frame);
      REQUIRE_FALSE(has_field(object, "dropped"));
      REQUIRE(string_field(object, "topic") == "flood");
      REQUIRE(string_field(object.fields().at("message").struct_value(), "value")
              == std::to_string(i));
    }
  }
  // The slow client was losing messages while the readers still got every one.
  CHECK(dropped_before_last > 0);

  // Its losses are all its own: what it reads now and the {"dropped": N} notices add up.
  int delivered = 0;
  std::uint64_t dropped = 0;
  while (delivered + static_cast<int>(dropped) < published) {
    auto frame = slow.read();
    if (!frame)
      break;
    auto object = parse_object(*frame);
    if (has_field(object, "dropped"))
      dropped += static_cast<std::uint64_t>(object.fields().at("dropped").number_value());
    else
      ++delivered;
  }
  CHECK(delivered + static_cast<int>(dropped) == published);
  CHECK(dropped == gw.stats().websocket_dropped);
}

TEST_CASE("WebSocket sessions count against max_connections", "[unit]") {
  auto options = test_options();
  options.max_connections = 2;
  gateway_fixture gw{options};
  ws_connection first{gw.port()};
  ws_connection second{gw.port()};
  subscribe(first, "x");
  subscribe(second, "x");
  CHECK(gw.stats().open_connections == 2);
  http_connection third{gw.port()};
  (void)third.write_raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(third.read_reply().status == 503);

  SECTION("and free their place when they end") {
    first.close();
    REQUIRE(gateway_fixture::eventually([&] { return gw.stats().open_connections == 1; }));
    http_connection fourth{gw.port()};
    CHECK(fourth.request("GET", "/healthz").status == 200);
  }
}

TEST_CASE("an upgrade whose Sec-WebSocket-Key is not the base64 of 16 bytes is 400, not 101",
          "[unit]") {
  gateway_fixture gw;
  http_connection client{gw.port()};
  // An upgrade request for /ws with these Sec-WebSocket-Key headers (none when empty).
  auto upgrade = [&](const std::vector<std::string>& keys) {
    header_list headers{
      {"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"}};
    for (const auto& key : keys)
      headers.emplace_back("Sec-WebSocket-Key", key);
    return client.request("GET", "/ws", {}, headers);
  };
  // Checks that `reply` is the gateway's 400 naming the header.
  auto refused = [&](const http_reply& reply) {
    INFO(reply.status << " " << reply.body);
    REQUIRE(reply.status == 400);
    CHECK(reply.header("Content-Type") == "application/json");
    auto body = parse_object(reply.body);
    CHECK(string_field(body, "error") == "bad_request");
    CHECK(string_field(body, "field") == "Sec-WebSocket-Key");
    CHECK(string_field(body, "request_id") == reply.header("X-Request-Id"));
    CHECK_THAT(string_field(body, "message"), Contains("16 bytes"));
  };

  SECTION("not base64") {
    refused(upgrade({"not base64 at all!!!!!=="}));
    refused(upgrade({"dGhlIHNhbXBsZSBub25j*Q=="}));
  }
  SECTION("base64 of other than 16 bytes") {
    refused(upgrade({"AAAAAAAAAAAAAAAAAAAA"}));         // 15 bytes
    refused(upgrade({"AAAAAAAAAAAAAAAAAAAAAAA="}));     // 17 bytes, as long as a good key
    refused(upgrade({"AAAAAAAAAAAAAAAAAAAAAAAAAAA="})); // 20 bytes
    refused(upgrade({"dGhlIHNhbXBsZSBub25jZQ"}));       // 16 bytes without the padding
  }
  SECTION("empty, absent or given twice") {
    refused(upgrade({""}));
    refused(upgrade({}));
    refused(upgrade({"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=="}));
  }
  SECTION("a refused upgrade leaves no session and the connection serves HTTP") {
    refused(upgrade({"short"}));
    CHECK(gw.stats().websocket_sessions == 0);
    CHECK(client.request("GET", "/healthz").status == 200);
  }
  SECTION("a good key still upgrades") {
    // RFC 6455 section 1.3's example key and the accept value it gives.
    auto r = upgrade({"dGhlIHNhbXBsZSBub25jZQ=="});
    REQUIRE(r.status == 101);
    CHECK(r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    REQUIRE(gateway_fixture::eventually([&] { return gw.stats().websocket_sessions == 1; }));
    ws_connection ws{gw.port()}; // and so does Beast's client, with a key of its own
    subscribe(ws, "keys");
  }
}
