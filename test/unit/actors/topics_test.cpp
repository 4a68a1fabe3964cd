// Publish/subscribe inside one node (actors/src/topics.cpp, endpoint_actor.cpp): every current
// subscriber gets each message once, with the publisher's correlation id; subscriptions end with
// unsubscribe() and with the subscriber's exit; a message of the wrong type is dropped and the
// subscriber keeps running.
#include "test_services.hpp"

#include <microlith/actors/exit.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/topics.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_actors;

namespace {

/// Subscribes to "news" (PingRequest) when it starts; records each message it gets under
/// "<name>.news" as "<text>/<value>/<correlation id>", counts them under "<name>.count", and
/// notes each one, in the order it got them, as "<name> <text>/<value>/<correlation id>".
/// A SetRequest published to "control" with key "unsubscribe" ends its "news" subscription.
class listener {
public:
  explicit listener(microlith::call_context& ctx) {
    ctx.subscribe<pb::PingRequest>(
      "news", [this](microlith::call_context& c, const pb::PingRequest& msg) {
        ++received_;
        auto text = msg.text() + "/" + std::to_string(msg.value()) + "/" + c.correlation_id();
        the_probe().note(c.name() + " " + text);
        the_probe().record(c.name() + ".news", text);
        the_probe().record(c.name() + ".count", std::to_string(received_));
      });
    ctx.subscribe<pb::SetRequest>("control",
                                  [](microlith::call_context& c, const pb::SetRequest& msg) {
                                    if (msg.key() == "unsubscribe") {
                                      c.unsubscribe("news");
                                      the_probe().record(c.name() + ".unsubscribed", "yes");
                                    }
                                  });
  }

private:
  int received_ = 0;
};

microlith::service_definition listener_worker(std::string name) {
  return microlith::worker<listener>(std::move(name));
}

/// An Echo-contract service whose Ping publishes the request to "news" and answers with the
/// number of subscribers it reached (in `value`).
class announcer {
public:
  microlith::reply<pb::PingReply> ping(microlith::call_context& ctx, const pb::PingRequest& req) {
    pb::PingReply out;
    out.set_value(static_cast<std::int64_t>(ctx.publish("news", req)));
    return out;
  }
};

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto until = steady::now() + limit;
  while (!done()) {
    if (steady::now() > until)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

/// The messages `name` noted so far, in the order it got them ("<text>/<value>/<corr>").
std::vector<std::string> got_by(const std::string& name) {
  std::vector<std::string> out;
  auto prefix = name + " ";
  for (const auto& x : the_probe().notes())
    if (x.compare(0, prefix.size(), prefix) == 0)
      out.push_back(x.substr(prefix.size()));
  return out;
}

/// Waits until `name` got `text`, at most `limit`.
bool wait_got(const std::string& name, const std::string& text, std::chrono::milliseconds limit) {
  return wait_until(
    [&] {
      auto got = got_by(name);
      return std::find(got.begin(), got.end(), text) != got.end();
    },
    limit);
}

} // namespace

TEST_CASE_METHOD(node_fixture, "a published message reaches every current subscriber once",
                 "[unit]") {
  must_spawn(node, listener_worker("a"));
  must_spawn(node, listener_worker("b"));
  REQUIRE(node.topics().subscriber_count("news") == 2);

  SECTION("from a plain thread, with its correlation id") {
    CHECK(node.publish("news", ping("hello", 1), "corr-1") == 2);
    auto a = the_probe().wait_for("a.news", 2s);
    auto b = the_probe().wait_for("b.news", 2s);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->text == "hello/1/corr-1");
    CHECK(b->text == "hello/1/corr-1");
  }

  SECTION("from a handler, with the request's correlation id") {
    must_spawn(node, microlith::service<announcer>("announcer", "microlith.test.Echo")
                       .handle("Ping", &announcer::ping));
    auto r = node.call<pb::PingReply>("announcer", "Ping", ping("news", 7), with(2s, "corr-2"));
    REQUIRE(r);
    CHECK(r->value() == 2);
    auto a = the_probe().wait_for("a.news", 2s);
    REQUIRE(a);
    CHECK(a->text == "news/7/corr-2");
  }

  SECTION("in publish order, each once") {
    std::vector<std::string> published;
    for (int i = 1; i <= 100; ++i) {
      node.publish("news", ping("n", i));
      published.push_back("n/" + std::to_string(i) + "/");
    }
    // A last message: once it arrived, every earlier one has (in publish order), and a
    // duplicate of any of them would have arrived before it.
    node.publish("news", ping("end"));
    published.push_back("end/0/");
    for (const std::string name : {"a", "b"}) {
      REQUIRE(wait_got(name, "end/0/", 5s));
      CHECK(got_by(name) == published);
    }
  }

  SECTION("a topic nobody subscribes to drops the message") {
    CHECK(node.publish("nobody-listens", ping("lost")) == 0);
  }
}

TEST_CASE_METHOD(node_fixture, "subscriptions end with unsubscribe and with the subscriber's exit",
                 "[unit]") {
  auto a = must_spawn(node, listener_worker("a"));
  must_spawn(node, listener_worker("b"));

  SECTION("unsubscribe") {
    pb::SetRequest stop;
    stop.set_key("unsubscribe");
    node.publish("control", stop);
    REQUIRE(the_probe().wait_for("a.unsubscribed", 2s));
    REQUIRE(the_probe().wait_for("b.unsubscribed", 2s));
    CHECK(node.topics().subscriber_count("news") == 0);
    CHECK(node.topics().subscriber_count("control") == 2);
    CHECK(node.publish("news", ping("late")) == 0);
  }

  SECTION("exit") {
    microlith::signal_exit(a, caf::exit_reason::user_shutdown);
    REQUIRE(wait_down(node, a, 2s));
    CHECK(node.topics().subscriber_count("news") == 1);
    CHECK(node.topics().subscriber_count("control") == 1);
    CHECK(node.publish("news", ping("after")) == 1);
    auto b = the_probe().wait_for("b.news", 2s);
    REQUIRE(b);
    CHECK(b->text == "after/0/");
    CHECK_FALSE(the_probe().wait_for("a.news", 0ms));
  }
}

TEST_CASE_METHOD(node_fixture, "a published message of the wrong type is dropped", "[unit]") {
  must_spawn(node, listener_worker("a"));
  pb::SetRequest wrong;
  wrong.set_key("x");
  CHECK(node.publish("news", wrong) == 1);
  CHECK(node.publish("news", ping("right", 3)) == 1);
  // Messages arrive in publish order: once the right one arrived, the wrong one was handled
  // before it, by the same instance, which kept running.
  REQUIRE(wait_got("a", "right/3/", 5s));
  CHECK(got_by("a") == std::vector<std::string>{"right/3/"});
  CHECK(node.topics().subscriber_count("news") == 1);
}
