// What a WebSocket client sends to the gateway (net/src/gateway/topic_command.cpp): subscribe
// and unsubscribe commands, and the notice each kind of mistake gets.
#include "gateway/topic_command.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <variant>

using namespace microlith::gateway;

namespace {

topic_command command_of(std::string_view message) {
  auto parsed = parse_topic_command(message);
  REQUIRE(std::holds_alternative<topic_command>(parsed));
  return std::get<topic_command>(parsed);
}

std::string problem_of(std::string_view message) {
  auto parsed = parse_topic_command(message);
  REQUIRE(std::holds_alternative<std::string>(parsed));
  return std::get<std::string>(parsed);
}

} // namespace

TEST_CASE("a WebSocket client subscribes and unsubscribes by topic name", "[unit]") {
  auto subscribe = command_of(R"({"subscribe": "balances"})");
  CHECK(subscribe.subscribe);
  CHECK(subscribe.topic == "balances");
  auto unsubscribe = command_of(R"({"unsubscribe":"balances"})");
  CHECK_FALSE(unsubscribe.subscribe);
  CHECK(unsubscribe.topic == "balances");
  // Both verbs in one object: subscribe is read first.
  CHECK(command_of(R"({"unsubscribe": "a", "subscribe": "b"})").topic == "b");
  // Escapes are JSON's: the topic is the decoded text.
  CHECK(command_of(R"({"subscribe": "caf\u00e9"})").topic == "caf\xc3\xa9");
}

TEST_CASE("a WebSocket client's mistakes are named in the notice it gets back", "[unit]") {
  using Catch::Matchers::Contains;
  CHECK_THAT(problem_of("subscribe balances"), Contains("expected a JSON object"));
  CHECK_THAT(problem_of(""), Contains("expected a JSON object"));
  CHECK_THAT(problem_of(R"(["subscribe", "balances"])"), Contains("expected a JSON object"));
  CHECK(problem_of(R"({"subscribe": ""})")
        == R"("subscribe" expects a topic name (a non-empty string))");
  CHECK(problem_of(R"({"unsubscribe": 3})")
        == R"("unsubscribe" expects a topic name (a non-empty string))");
  CHECK(problem_of(R"({"subscribe": {"topic": "a"}})")
        == R"("subscribe" expects a topic name (a non-empty string))");
  CHECK(problem_of(R"({"publish": "balances"})")
        == R"(expected {"subscribe": "topic"} or {"unsubscribe": "topic"})");
}
