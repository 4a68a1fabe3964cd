// The HTTP client from a service's handler on a real node: the handler answers its caller with
// the outside response through a promise, the actor goes on serving while the request is slow,
// and the calling request's deadline bounds the HTTP request.
#include "test_server.hpp"

#include "proto/test.pb.h"
#include "support/two_threads.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/net/http/http_client.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using http_test::answer;
using http_test::seen_request;
using http_test::test_server;
using microlith::call_context;
using microlith::errc;
using microlith::reply;
namespace mh = microlith::http;
namespace pb = microlith::test;

namespace {

template <class F>
bool eventually(F condition, std::chrono::milliseconds limit = 5000ms) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// The HTTP errors the fetcher's handlers met, as the test reads them.
struct error_log {
  std::mutex mutex;
  std::vector<caf::error> errors; // requires mutex

  std::size_t size() {
    std::lock_guard<std::mutex> guard{mutex};
    return errors.size();
  }
};

/// Echo's contract: Ping GETs the URL in `text` and answers the body in `text` and the status
/// in `value`; Count answers at once.
class fetcher {
public:
  fetcher(std::shared_ptr<mh::http_client> client, std::shared_ptr<error_log> log)
    : client_(std::move(client)), log_(std::move(log)) {}

  reply<pb::PingReply> fetch(call_context& ctx, const pb::PingRequest& req) {
    auto answer = ctx.make_promise<pb::PingReply>();
    client_->request(ctx, mh::http_request::get(req.text()))
      .then(
        [answer](mh::http_response response) mutable {
          pb::PingReply out;
          out.set_text(response.body);
          out.set_value(response.status);
          answer.deliver(std::move(out));
        },
        [answer, log = log_](const caf::error& err) mutable {
          {
            std::lock_guard<std::mutex> guard{log->mutex};
            log->errors.push_back(err);
          }
          answer.deliver(err);
        });
    return answer;
  }

  reply<pb::CountReply> count(call_context&, const pb::Empty&) {
    pb::CountReply out;
    out.set_handled(++handled_);
    return out;
  }

private:
  std::shared_ptr<mh::http_client> client_;
  std::shared_ptr<error_log> log_;
  std::uint64_t handled_ = 0;
};

struct service_fixture {
  service_fixture() : node(test_support::two_threads()) {
    auto started =
      node.spawn(microlith::service<fetcher>("fetcher", "microlith.test.Echo", client, log)
                   .handle("Ping", &fetcher::fetch)
                   .handle("Count", &fetcher::count));
    if (!started)
      throw std::runtime_error("cannot start fetcher: " + microlith::describe(started.error()));
  }

  pb::PingRequest fetch(const std::string& url) {
    pb::PingRequest req;
    req.set_text(url);
    return req;
  }

  std::shared_ptr<mh::http_client> client = std::make_shared<mh::http_client>();
  std::shared_ptr<error_log> log = std::make_shared<error_log>();
  microlith::node node;
};

} // namespace

TEST_CASE_METHOD(service_fixture, "a handler answers its caller with the outside response",
                 "[unit][http]") {
  test_server server{[](const seen_request& r) {
    auto a = answer::ok("rate for " + r.target);
    a.status = 201;
    return a;
  }};
  auto r = node.call<pb::PingReply>("fetcher", "Ping", fetch(server.url("/rates/eur")));
  REQUIRE(r);
  CHECK(r->text() == "rate for /rates/eur");
  CHECK(r->value() == 201);
}

TEST_CASE_METHOD(service_fixture, "a handler's HTTP failure reaches its continuation as an error",
                 "[unit][http]") {
  test_server server{[](const seen_request&) { return answer::with(answer::kind::reset); }};
  auto r = node.call<pb::PingReply>("fetcher", "Ping", fetch(server.url("/reset")));
  REQUIRE_FALSE(r);
  CHECK(microlith::is(r.error(), errc::service_unavailable));
  CHECK_THAT(microlith::message_of(r.error()), Contains("GET " + server.url("/reset")));
}

TEST_CASE_METHOD(service_fixture, "the actor serves other calls while its HTTP request is slow",
                 "[unit][http]") {
  test_server server{[](const seen_request&) {
    auto a = answer::with(answer::kind::hold);
    a.body = "finally";
    return a;
  }};
  auto slow = std::async(std::launch::async, [this, &server] {
    return node.call<pb::PingReply>("fetcher", "Ping", fetch(server.url("/slow")));
  });
  REQUIRE(eventually([&] { return server.held() == 1; }));
  // The fetcher's only instance answers while its HTTP request waits on the server.
  auto counted = node.call<pb::CountReply>("fetcher", "Count", pb::Empty{});
  REQUIRE(counted);
  CHECK(counted->handled() == 1);
  CHECK(server.held() == 1);
  server.release();
  auto r = slow.get();
  REQUIRE(r);
  CHECK(r->text() == "finally");
}

TEST_CASE_METHOD(service_fixture, "the calling request's deadline bounds the HTTP request",
                 "[unit][http]") {
  test_server server{[](const seen_request&) { return answer::with(answer::kind::hang); }};
  microlith::blocking_call_options options;
  options.timeout = 400ms;
  auto r = node.call<pb::PingReply>("fetcher", "Ping", fetch(server.url("/never")), options);
  REQUIRE_FALSE(r);
  CHECK(microlith::is(r.error(), errc::timeout));
  // The client's default timeout is 30 s: the HTTP request ended with the call's deadline.
  REQUIRE(eventually([&] { return log->size() == 1; }));
  std::lock_guard<std::mutex> guard{log->mutex};
  CHECK(microlith::is(log->errors.front(), errc::timeout));
  CHECK_THAT(microlith::message_of(log->errors.front()),
             Contains("GET " + server.url("/never") + " did not complete within"));
}
