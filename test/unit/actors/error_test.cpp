// Every way a call can fail (actors/include/microlith/actors/error.hpp): each `errc` value, seen
// by a blocking caller and by an actor making a nested call, with the message it carries.
#include "test_services.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <string>

using namespace std::chrono_literals;
using namespace unit_actors;
using Catch::Matchers::Contains;
using Catch::Matchers::Equals;
using Catch::Matchers::Matches;
using Catch::Matchers::StartsWith;
using microlith::errc;

namespace {

// Kills `instance` with `reason` once echo's Hang handler holds its promise.
std::future<void> kill_when_hanging(const caf::actor& instance, caf::exit_reason reason,
                                    const std::string& probe_key = "echo.hang") {
  return std::async(std::launch::async, [instance, reason, probe_key] {
    if (the_probe().wait_for(probe_key, 5s))
      caf::anon_send_exit(instance, reason);
  });
}

} // namespace

TEST_CASE("error values carry a code and a message", "[unit]") {
  SECTION("a microlith error") {
    caf::error err = microlith::make_error(errc::timeout, "svc.M did not answer within 5 ms");
    CHECK(microlith::code_of(err) == errc::timeout);
    CHECK(microlith::is(err, errc::timeout));
    CHECK_FALSE(microlith::is(err, errc::service_down));
    CHECK(err.category() == microlith::error_category());
    CHECK(microlith::message_of(err) == "svc.M did not answer within 5 ms");
    CHECK(microlith::describe(err) == "timeout: svc.M did not answer within 5 ms");
  }

  SECTION("made from the code alone, through ADL") {
    caf::error err = errc::service_down;
    CHECK(microlith::is(err, errc::service_down));
    CHECK(microlith::message_of(err).empty());
    CHECK(microlith::describe(err) == "service_down");
  }

  SECTION("fail() is remote_error") {
    auto err = microlith::fail("insufficient funds");
    CHECK(microlith::is(err, errc::remote_error));
    CHECK(microlith::describe(err) == "remote_error: insufficient funds");
  }

  SECTION("fail(kind, message) is that kind") {
    auto err = microlith::fail(errc::not_found, "no account ada");
    CHECK(microlith::is(err, errc::not_found));
    CHECK(microlith::describe(err) == "not_found: no account ada");
    CHECK(microlith::is_client_kind(errc::not_found));
    CHECK_FALSE(microlith::is_client_kind(errc::remote_error));
    CHECK_FALSE(microlith::is_client_kind(errc::service_down));
  }

  SECTION("the kinds keep their wire values") {
    // Values cross nodes: existing ones never change, new ones are appended.
    CHECK(static_cast<int>(errc::remote_error) == 6);
    CHECK(static_cast<int>(errc::invalid_argument) == 7);
    CHECK(static_cast<int>(errc::data_loss) == 18);
    CHECK(static_cast<int>(errc::idempotency_key_reused) == 19);
  }

  SECTION("every code has a name") {
    CHECK(microlith::to_string(errc::none) == "none");
    CHECK(microlith::to_string(errc::service_unavailable) == "service_unavailable");
    CHECK(microlith::to_string(errc::timeout) == "timeout");
    CHECK(microlith::to_string(errc::service_down) == "service_down");
    CHECK(microlith::to_string(errc::bad_request) == "bad_request");
    CHECK(microlith::to_string(errc::no_such_method) == "no_such_method");
    CHECK(microlith::to_string(errc::remote_error) == "remote_error");
    CHECK(microlith::to_string(errc::invalid_argument) == "invalid_argument");
    CHECK(microlith::to_string(errc::failed_precondition) == "failed_precondition");
    CHECK(microlith::to_string(errc::out_of_range) == "out_of_range");
    CHECK(microlith::to_string(errc::not_found) == "not_found");
    CHECK(microlith::to_string(errc::already_exists) == "already_exists");
    CHECK(microlith::to_string(errc::aborted) == "aborted");
    CHECK(microlith::to_string(errc::permission_denied) == "permission_denied");
    CHECK(microlith::to_string(errc::unauthenticated) == "unauthenticated");
    CHECK(microlith::to_string(errc::resource_exhausted) == "resource_exhausted");
    CHECK(microlith::to_string(errc::unimplemented) == "unimplemented");
    CHECK(microlith::to_string(errc::internal) == "internal");
    CHECK(microlith::to_string(errc::data_loss) == "data_loss");
    CHECK(microlith::to_string(errc::idempotency_key_reused) == "idempotency_key_reused");
  }

  SECTION("an empty error and CAF's own errors are not microlith errors") {
    caf::error none;
    CHECK(microlith::code_of(none) == errc::none);
    CHECK_FALSE(microlith::is(none, errc::none));
    CHECK(microlith::describe(none) == "no error");
    caf::error caf_err = caf::sec::request_timeout;
    CHECK(microlith::code_of(caf_err) == errc::none);
    CHECK(microlith::message_of(caf_err).empty());
    CHECK(microlith::describe(caf_err) == "caf: request_timeout");
  }

  SECTION("a node renders them through CAF's error renderer") {
    microlith::node node{two_threads()};
    auto err = microlith::make_error(errc::no_such_method, "no Foo");
    CHECK_THAT(node.system().render(err), Contains("no_such_method: no Foo"));
  }
}

TEST_CASE_METHOD(node_fixture, "a call to a service with no instance is service_unavailable",
                 "[unit]") {
  SECTION("from a blocking caller") {
    auto r = node.call<pb::PingReply>("nowhere", "Ping", ping("x"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
    CHECK(microlith::message_of(r.error()) == "no instance of service nowhere is running");
  }

  SECTION("from an actor") {
    must_spawn(node, relay_service("relay"));
    auto r = node.call<pb::RelayReply>("relay", "Forward", relay_to("nowhere", "Ping", ping("x")));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
    CHECK(microlith::message_of(r.error()) == "no instance of service nowhere is running");
  }

  SECTION("after the only instance stopped") {
    auto echo = must_spawn(node, echo_service("echo"));
    REQUIRE(node.call<pb::PingReply>("echo", "Ping", ping("x")));
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    REQUIRE(wait_down(node, echo, 2s));
    auto r = node.call<pb::PingReply>("echo", "Ping", ping("x"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_unavailable));
  }
}

TEST_CASE_METHOD(node_fixture, "a call to a method the service lacks is no_such_method", "[unit]") {
  must_spawn(node, echo_service("echo"));
  const std::string expected = "service echo has no method \"Nope\" (it serves: Count, Drop, "
                               "Fail, Hang, Ping, PromiseThenThrow, Recall, Remember, Throw, "
                               "Twice, Wake)";

  SECTION("from a blocking caller") {
    auto r = node.call<pb::PingReply>("echo", "Nope", ping("x"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::no_such_method));
    CHECK(microlith::message_of(r.error()) == expected);
  }

  SECTION("from an actor") {
    must_spawn(node, relay_service("relay"));
    auto r = node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Nope", ping("x")));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::no_such_method));
    CHECK(microlith::message_of(r.error()) == expected);
  }
}

TEST_CASE_METHOD(node_fixture, "a body or reply of the wrong type is bad_request", "[unit]") {
  must_spawn(node, echo_service("echo"));

  SECTION("a request body of another type") {
    auto r = node.call_shared("echo", "Ping", std::make_shared<const pb::PingReply>());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::bad_request));
    CHECK(microlith::message_of(r.error())
          == "echo.Ping expects microlith.test.PingRequest, got microlith.test.PingReply");
  }

  SECTION("no request body") {
    auto r = node.call_shared("echo", "Ping", nullptr);
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::bad_request));
    CHECK(microlith::message_of(r.error())
          == "echo.Ping expects microlith.test.PingRequest, got no body");
  }

  SECTION("a request body of another type, from an actor") {
    must_spawn(node, relay_service("relay"));
    auto r = node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Count", ping("x")));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::bad_request));
    CHECK(microlith::message_of(r.error())
          == "echo.Count expects microlith.test.Empty, got microlith.test.PingRequest");
  }

  SECTION("a reply of another type than the caller expects") {
    auto r = node.call<pb::CountReply>("echo", "Ping", ping("x"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::bad_request));
    CHECK(microlith::message_of(r.error())
          == "expected a reply of type microlith.test.CountReply, got microlith.test.PingReply");
  }
}

TEST_CASE_METHOD(node_fixture, "a handler's failure is remote_error with its message", "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));

  SECTION("an error returned with fail()") {
    auto r = node.call<pb::PingReply>("echo", "Fail", ping("no"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::remote_error));
    CHECK(microlith::message_of(r.error()) == "refused: no");
    // A returned error is an answer, not a crash.
    CHECK(node.call<pb::PingReply>("echo", "Ping", ping("still here")));
  }

  SECTION("an error returned with a kind keeps its kind, also passed on by an actor") {
    auto direct = node.call<pb::PingReply>(
      "echo", "Fail", ping("no", static_cast<std::int64_t>(errc::failed_precondition)));
    REQUIRE_FALSE(direct);
    CHECK(microlith::is(direct.error(), errc::failed_precondition));
    CHECK(microlith::message_of(direct.error()) == "refused: no");
    must_spawn(node, relay_service("relay"));
    auto relayed = node.call<pb::RelayReply>(
      "relay", "Forward",
      relay_to("echo", "Fail", ping("no", static_cast<std::int64_t>(errc::not_found))));
    REQUIRE_FALSE(relayed);
    CHECK(microlith::is(relayed.error(), errc::not_found));
  }

  SECTION("an error returned with fail(), passed on by an actor") {
    must_spawn(node, relay_service("relay"));
    auto r = node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Fail", ping("no")));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::remote_error));
    CHECK(microlith::message_of(r.error()) == "refused: no");
  }

  SECTION("an exception: the caller learns its message and the instance is gone") {
    auto r = node.call<pb::PingReply>("echo", "Throw", ping("bang"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::remote_error));
    CHECK(microlith::message_of(r.error()) == "echo.Throw threw: boom: bang");
    // Not supervised here: nothing replaces the crashed instance.
    REQUIRE(wait_down(node, echo, 2s));
    CHECK(node.registry().snapshot()->instances("echo").empty());
    auto next = node.call<pb::PingReply>("echo", "Ping", ping("x"));
    REQUIRE_FALSE(next);
    CHECK(microlith::is(next.error(), errc::service_unavailable));
  }

  SECTION("a promise dropped without an answer") {
    auto r = node.call<pb::PingReply>("echo", "Drop", ping("x"));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::remote_error));
    CHECK(microlith::message_of(r.error()) == "echo.Drop dropped its promise without answering");
    CHECK(node.call<pb::PingReply>("echo", "Ping", ping("still here")));
  }
}

TEST_CASE_METHOD(node_fixture, "a call that is not answered in time is timeout", "[unit]") {
  must_spawn(node, echo_service("echo"));

  SECTION("with the caller's timeout, never before it") {
    auto started = steady::now();
    auto r = node.call<pb::PingReply>("echo", "Hang", ping("x"), with(300ms));
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK_THAT(microlith::message_of(r.error()),
               Matches(R"(echo\.Hang did not answer within 300 ms( \(\d+ ms late\))?)"));
    CHECK(elapsed >= 300);
    CHECK(elapsed < 4000); // generous (a busy machine); below the node's default of 5 s
  }

  SECTION("with the node's default timeout") {
    microlith::node quick{two_threads(250ms)};
    must_spawn(quick, echo_service("echo"));
    auto started = steady::now();
    auto r = quick.call<pb::PingReply>("echo", "Hang", ping("x"));
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK_THAT(microlith::message_of(r.error()),
               Matches(R"(echo\.Hang did not answer within 250 ms( \(\d+ ms late\))?)"));
    CHECK(elapsed >= 250);
    CHECK(elapsed < 4000); // generous (a busy machine); below node_options' default of 5 s
  }

  SECTION("in a nested call, passed on by the actor that made it") {
    must_spawn(node, relay_service("relay"));
    auto started = steady::now();
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Hang", ping("x"), {}, 250ms), with(5s));
    auto elapsed = millis_between(started, steady::now());
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::timeout));
    CHECK_THAT(microlith::message_of(r.error()),
               Matches(R"(echo\.Hang did not answer within 250 ms( \(\d+ ms late\))?)"));
    CHECK(elapsed >= 250);
    CHECK(elapsed < 4000); // generous (a busy machine); below the outer call's 5 s
  }
}

TEST_CASE_METHOD(node_fixture, "a call whose callee dies in flight is service_down", "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));

  SECTION("killed while a blocking caller waits") {
    auto killer = kill_when_hanging(echo, caf::exit_reason::kill);
    auto started = steady::now();
    auto r = node.call<pb::PingReply>("echo", "Hang", ping("x"), with(5s));
    auto elapsed = millis_between(started, steady::now());
    killer.get();
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_down));
    CHECK_THAT(microlith::message_of(r.error()),
               StartsWith("the instance of echo serving echo.Hang went down ("));
    CHECK(elapsed < 2000); // at once, not at the deadline
  }

  SECTION("stopped while a blocking caller waits") {
    auto killer = kill_when_hanging(echo, caf::exit_reason::user_shutdown);
    auto r = node.call<pb::PingReply>("echo", "Hang", ping("x"), with(5s));
    killer.get();
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_down));
  }

  SECTION("killed while an actor's nested call waits") {
    must_spawn(node, relay_service("relay"));
    auto killer = kill_when_hanging(echo, caf::exit_reason::kill);
    auto started = steady::now();
    auto r = node.call<pb::RelayReply>("relay", "Forward",
                                       relay_to("echo", "Hang", ping("x"), {}, 5s), with(5s));
    auto elapsed = millis_between(started, steady::now());
    killer.get();
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), errc::service_down));
    CHECK_THAT(microlith::message_of(r.error()),
               StartsWith("the instance of echo serving echo.Hang went down ("));
    CHECK(elapsed < 2000);
    // The relay itself lives on.
    must_spawn(node, echo_service("echo"));
    CHECK(node.call<pb::RelayReply>("relay", "Forward", relay_to("echo", "Ping", ping("y"))));
  }
}

// A promise made before the exception is destroyed while the exception unwinds the handler; its
// destructor sees that its handler is still running and leaves the answer to it, so the caller
// gets the exception's message, not "dropped its promise".
TEST_CASE_METHOD(node_fixture,
                 "a handler that throws after making a promise is remote_error with the "
                 "exception's message",
                 "[unit]") {
  auto echo = must_spawn(node, echo_service("echo"));
  auto r = node.call<pb::PingReply>("echo", "PromiseThenThrow", ping("bang"));
  REQUIRE_FALSE(r);
  CHECK(microlith::is(r.error(), errc::remote_error));
  CHECK(microlith::message_of(r.error()) == "echo.PromiseThenThrow threw: boom: bang");
  CHECK(wait_down(node, echo, 2s));
}

// The crash's message is in the exit reason's context, and describe() renders a CAF error with
// its context: callers read "went down (caf: runtime_error: echo crashed: boom: bang)".
TEST_CASE_METHOD(node_fixture,
                 "a callee that crashes while a call waits: service_down names the "
                 "crash",
                 "[unit]") {
  must_spawn(node, echo_service("echo"));
  must_spawn(node, relay_service("relay"));
  auto waiting = std::async(std::launch::async, [&] {
    return node.call<pb::RelayReply>("relay", "Forward",
                                     relay_to("echo", "Hang", ping("x"), {}, 5s), with(5s));
  });
  REQUIRE(the_probe().wait_for("echo.hang", 2s));
  auto crash = node.call<pb::PingReply>("echo", "Throw", ping("bang"));
  REQUIRE_FALSE(crash);
  auto r = waiting.get();
  REQUIRE_FALSE(r);
  CHECK(microlith::is(r.error(), errc::service_down));
  CHECK_THAT(microlith::message_of(r.error()), Contains("boom: bang"));
}
