// Admin feeds (gateway_options::admin_feeds) over real sockets: a WebSocket upgrade on a feed
// path under the admin rules, with the token as a header or as a subprotocol (the handshake
// then selects microlith.feed), frames that are the operation's answers, the operation run with
// GET, its prefix and the upgrade's query; refusals before the upgrade.
#include "gateway_fixture.hpp"
#include "test_clients.hpp"

#include <microlith/actors/async_caller.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/net/gateway/admin_operation.hpp>

#include <catch2/catch.hpp>

#include <boost/beast/http/field.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

using namespace unit_net;
using Catch::Matchers::Contains;

namespace {

const std::string admin_token = "test-admin-token-0123456789";
constexpr const char* observer = "/_microlith/observer";
constexpr const char* feed_path = "/_microlith/observer/live";

/// A stand-in for the observer's operation: each run answers a new body and records it.
struct fake_view {
  std::mutex mutex;
  std::vector<std::string> answers;        // requires mutex
  std::vector<gw::admin_request> requests; // requires mutex

  bool answered(const std::string& body) {
    std::lock_guard<std::mutex> guard{mutex};
    return std::find(answers.begin(), answers.end(), body) != answers.end();
  }
  gw::admin_request last() {
    std::lock_guard<std::mutex> guard{mutex};
    return requests.back();
  }
};

gw::gateway_options feed_options(const std::shared_ptr<fake_view>& view) {
  auto options = test_options();
  options.admin_token = admin_token;
  options.admin_operations[observer] = [view](gw::admin_request request,
                                              std::function<void(gw::admin_response)> done) {
    std::string body;
    {
      std::lock_guard<std::mutex> guard{view->mutex};
      body = "{\"view\":" + std::to_string(view->answers.size() + 1) + "}";
      view->answers.push_back(body);
      view->requests.push_back(std::move(request));
    }
    done(gw::admin_response{200, body});
  };
  options.admin_feeds[feed_path] = gw::admin_feed{observer, std::chrono::milliseconds(30)};
  return options;
}

/// `text` in base64url without padding.
std::string base64url(const std::string& text) {
  static constexpr char digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int held = 0;
  for (unsigned char c : text) {
    bits = (bits << 8) | c;
    held += 8;
    while (held >= 6) {
      held -= 6;
      out.push_back(digits[(bits >> held) & 0x3f]);
    }
  }
  if (held > 0)
    out.push_back(digits[(bits << (6 - held)) & 0x3f]);
  return out;
}

/// The headers of a WebSocket upgrade sent as a plain HTTP request.
header_list upgrade_headers(header_list extra = {}) {
  header_list h{{"Connection", "Upgrade"},
                {"Upgrade", "websocket"},
                {"Sec-WebSocket-Version", "13"},
                {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
  for (auto& e : extra)
    h.push_back(std::move(e));
  return h;
}

/// Reads frames until `count` came; each must be one of the operation's answers.
void expect_frames(ws_connection& ws, fake_view& view, int count) {
  std::vector<std::string> seen;
  for (int i = 0; i < count; ++i) {
    auto frame = ws.read();
    REQUIRE(frame);
    INFO(*frame);
    CHECK(view.answered(*frame));
    CHECK(std::find(seen.begin(), seen.end(), *frame) == seen.end());
    seen.push_back(*frame);
  }
}

} // namespace

TEST_CASE("base64url without padding encodes as the feed subprotocol expects", "[unit]") {
  CHECK(base64url("f") == "Zg");
  CHECK(base64url("fo") == "Zm8");
  CHECK(base64url("foo") == "Zm9v");
  CHECK(base64url("\xfb\xff") == "-_8");
}

TEST_CASE("an admin feed sends the operation's answers to a bearer of the token", "[unit]") {
  auto view = std::make_shared<fake_view>();
  auto options = feed_options(view);
  options.io_threads = GENERATE(1, 2);
  INFO("io_threads: " << options.io_threads);
  gateway_fixture gw{options};
  ws_connection ws{gw.port(), std::string(feed_path) + "?node=n1",
                   header_list{{"Authorization", "Bearer " + admin_token}}};
  CHECK(ws.handshake_answer()[boost::beast::http::field::sec_websocket_protocol].empty());
  expect_frames(ws, *view, 3);
  auto request = view->last();
  CHECK(request.verb == "GET");
  CHECK(request.path == observer);
  CHECK(request.query == "node=n1");
  // What the client sends is ignored; frames keep coming.
  ws.send("{\"subscribe\":\"x\"}");
  expect_frames(ws, *view, 2);
  ws.close();
  CHECK(gateway_fixture::eventually([&] { return gw.stats().open_connections == 0; }));
}

TEST_CASE("an admin feed takes the token as a subprotocol and selects microlith.feed", "[unit]") {
  auto view = std::make_shared<fake_view>();
  gateway_fixture gw{feed_options(view)};
  ws_connection ws{
    gw.port(), feed_path,
    header_list{{"Sec-WebSocket-Protocol",
                 "microlith.feed, base64url.bearer.microlith." + base64url(admin_token)}}};
  CHECK(ws.handshake_answer()[boost::beast::http::field::sec_websocket_protocol]
        == "microlith.feed");
  expect_frames(ws, *view, 2);
}

TEST_CASE("an admin feed refuses an upgrade without the admin token", "[unit]") {
  auto view = std::make_shared<fake_view>();
  gateway_fixture gw{feed_options(view)};
  http_connection client{gw.port()};

  auto none = client.request("GET", feed_path, {}, upgrade_headers());
  CHECK(none.status == 401);
  CHECK(none.header("WWW-Authenticate") == "Bearer realm=\"microlith\"");
  CHECK_THAT(none.body, Contains("base64url.bearer.microlith."));

  auto wrong_header = client.request(
    "GET", feed_path, {}, upgrade_headers({{"Authorization", "Bearer wrong-token-xyz"}}));
  CHECK(wrong_header.status == 403);

  auto wrong_protocol = client.request(
    "GET", feed_path, {},
    upgrade_headers({{"Sec-WebSocket-Protocol",
                      "microlith.feed, base64url.bearer.microlith." + base64url("wrong-token")}}));
  CHECK(wrong_protocol.status == 403);
  CHECK_THAT(wrong_protocol.body, Contains("permission_denied"));

  auto malformed = client.request(
    "GET", feed_path, {},
    upgrade_headers({{"Sec-WebSocket-Protocol", "base64url.bearer.microlith.not*base64"}}));
  CHECK(malformed.status == 401);

  // With the token but no upgrade: not a feed.
  auto plain = client.request("GET", feed_path, {}, {{"Authorization", "Bearer " + admin_token}});
  CHECK(plain.status == 400);
  CHECK_THAT(plain.body, Contains("open it as a WebSocket"));

  std::lock_guard<std::mutex> guard{view->mutex};
  CHECK(view->answers.empty());
}

TEST_CASE("an admin feed path is reserved and checked at start", "[unit]") {
  auto view = std::make_shared<fake_view>();
  auto options = feed_options(view);
  auto reserved = gw::reserved_paths(options);
  CHECK(std::count(reserved.begin(), reserved.end(), feed_path) == 1);

  gateway_fixture gw;
  auto unknown = options;
  unknown.admin_feeds[feed_path].operation = "/_microlith/nothing";
  auto started = gw::gateway_server::start(gw.node, unknown, nullptr, microlith::async_caller{});
  REQUIRE_FALSE(started);
  CHECK_THAT(microlith::message_of(started.error()), Contains("/_microlith/nothing"));
  auto stopped = options;
  stopped.admin_feeds[feed_path].interval = std::chrono::milliseconds(0);
  started = gw::gateway_server::start(gw.node, stopped, nullptr, microlith::async_caller{});
  REQUIRE_FALSE(started);
  CHECK_THAT(microlith::message_of(started.error()), Contains("interval"));
}

TEST_CASE("the topic WebSocket still serves beside an admin feed", "[unit]") {
  auto view = std::make_shared<fake_view>();
  gateway_fixture gw{feed_options(view)};
  ws_connection topics{gw.port()};
  topics.send("{\"subscribe\":\"balances\"}");
  auto answer = topics.read();
  REQUIRE(answer);
  CHECK(*answer == "{\"subscribed\":\"balances\"}");
}

TEST_CASE("an admin feed ends when the gateway stops", "[unit]") {
  auto view = std::make_shared<fake_view>();
  auto gw = std::make_unique<gateway_fixture>(feed_options(view));
  ws_connection ws{gw->port(), feed_path, header_list{{"Authorization", "Bearer " + admin_token}}};
  expect_frames(ws, *view, 1);
  gw.reset();
  CHECK(ws.closed_within(3000ms));
}

TEST_CASE("an admin feed runs one operation at a time", "[unit]") {
  // An operation that never answers is run once, however many ticks pass.
  auto held = std::make_shared<std::vector<std::function<void(gw::admin_response)>>>();
  auto mutex = std::make_shared<std::mutex>();
  auto options = test_options();
  options.admin_token = admin_token;
  options.admin_operations[observer] = [held, mutex](gw::admin_request,
                                                     std::function<void(gw::admin_response)> done) {
    std::lock_guard<std::mutex> guard{*mutex};
    held->push_back(std::move(done));
  };
  options.admin_feeds[feed_path] = gw::admin_feed{observer, std::chrono::milliseconds(5)};
  gateway_fixture gw{options};
  ws_connection ws{gw.port(), feed_path, header_list{{"Authorization", "Bearer " + admin_token}}};
  auto runs = [&] {
    std::lock_guard<std::mutex> guard{*mutex};
    return held->size();
  };
  REQUIRE(gateway_fixture::eventually([&] { return runs() == 1; }));
  // No frame comes while the run is held (many ticks pass meanwhile), and no second run starts.
  CHECK_FALSE(ws.read(200ms));
  CHECK(runs() == 1);
  std::function<void(gw::admin_response)> done;
  {
    std::lock_guard<std::mutex> guard{*mutex};
    done = std::move(held->front());
  }
  done(gw::admin_response{200, "{\"late\":true}"});
  auto frame = ws.read();
  REQUIRE(frame);
  CHECK(*frame == "{\"late\":true}");
  CHECK(gateway_fixture::eventually([&] { return runs() == 2; }));
}

TEST_CASE("an admin feed skips ticks while a slow client has a frame in flight", "[unit]") {
  // Answers of 4 MiB each to a client that reads nothing: the first frame cannot be written
  // whole, and no run starts while it is being written.
  auto runs = std::make_shared<std::atomic<int>>(0);
  auto options = test_options();
  options.admin_token = admin_token;
  options.admin_operations[observer] = [runs](gw::admin_request,
                                              std::function<void(gw::admin_response)> done) {
    ++*runs;
    done(gw::admin_response{200, std::string(4 * 1024 * 1024, 'x')});
  };
  options.admin_feeds[feed_path] = gw::admin_feed{observer, std::chrono::milliseconds(5)};
  gateway_fixture gw{options};
  ws_connection ws{gw.port(), feed_path, header_list{{"Authorization", "Bearer " + admin_token}}};
  REQUIRE(gateway_fixture::eventually([&] { return runs->load() >= 1; }));
  // Many ticks pass while the client reads nothing: still the one run.
  CHECK_FALSE(gateway_fixture::eventually([&] { return runs->load() > 1; }, 300ms));
}
