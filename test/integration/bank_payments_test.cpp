// The bank.payments example end to end in one process: the bank from bank.toml (its ledger and
// its jobs in SQLite files in a temp folder), a payment provider stood in for by the HTTP
// client's test server (test/unit/http/test_server.hpp) on 127.0.0.1, the webhook driven over
// HTTP through the real gateway. A webhook is answered 202 with its job's id (a duplicate with
// the same id), the job deposits once and confirms to the provider, retrying while the provider
// fails; bad notices are 400 naming the field; a bad provider_url stops the start naming the key.
#include "bank_system.hpp"
#include "http_client.hpp"
#include "unit/http/test_server.hpp"

#include "proto/microlith_jobs.pb.h"
#include "proto/payments.pb.h"

#include <google/protobuf/util/json_util.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using bank_test::http_client;
using Catch::Matchers::Contains;
using verb = boost::beast::http::verb;
using namespace std::chrono_literals;
namespace jobs_pb = microlith::jobs::v1;

namespace {

/// A payment provider stand-in: answers the first `failures` confirmations of each payment 503,
/// then 200, and keeps every request it received.
class provider {
public:
  explicit provider(int failures)
    : failures_(failures), server_([this](const http_test::seen_request& r) { return on(r); }) {}

  /// The provider's base URL, for [groups.payments.config] provider_url.
  std::string base_url() const { return server_.url("/v1"); }

  /// The requests received so far.
  std::vector<http_test::seen_request> received() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return received_;
  }

  /// How many requests had `target`.
  int count(const std::string& target) const {
    int n = 0;
    for (const auto& r : received())
      if (r.target == target)
        ++n;
    return n;
  }

private:
  http_test::answer on(const http_test::seen_request& r) {
    std::lock_guard<std::mutex> guard{mutex_};
    received_.push_back(r);
    if (++seen_[r.target] <= failures_) {
      http_test::answer a;
      a.status = 503;
      a.body = R"({"error":"try later"})";
      return a;
    }
    return http_test::answer::ok(R"({"confirmed":true})");
  }

  mutable std::mutex mutex_;
  int failures_;
  std::map<std::string, int> seen_;
  std::vector<http_test::seen_request> received_;
  http_test::test_server server_; // last: stopped (and its threads joined) first
};

/// The bank confirming payments to `provider_url`, its payments queue retrying at once (no
/// backoff) and its workers looking for due jobs every 50 ms.
void point_at(microlith::system_config& config, const std::string& provider_url) {
  config.jobs.poll_interval = 50ms;
  for (auto& g : config.groups) {
    if (g.name != "payments")
      continue;
    g.config["provider_url"] = provider_url;
    for (auto& q : g.job_queues) {
      q.backoff.base = 0ms;
      q.backoff.unit = 10ms;
      q.backoff.max = 100ms;
      q.backoff.jitter = 0;
    }
  }
}

/// The job `id` as the jobs service lists it; fails the test when it is not listed.
jobs_pb::Job job(bank_test::bank_system& bank, std::int64_t id) {
  jobs_pb::ListRequest req;
  req.set_queue("payments");
  req.set_limit(1000);
  auto list = bank.node.call<jobs_pb::JobList>("jobs", "List", req);
  REQUIRE(list);
  for (const auto& j : list->jobs())
    if (j.id() == id)
      return j;
  FAIL("job " << id << " is not listed");
  return {};
}

/// Waits up to 20 s until job `id` is in `state`.
bool reaches(bank_test::bank_system& bank, std::int64_t id, const std::string& state) {
  auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    if (job(bank, id).state() == state)
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

bank::PaymentAccepted accepted(const bank_test::http_answer& answer) {
  INFO(answer.status << " " << answer.body);
  bank::PaymentAccepted out;
  REQUIRE(google::protobuf::util::JsonStringToMessage(answer.body, &out).ok());
  return out;
}

} // namespace

TEST_CASE("a payment webhook is answered 202 with its job and the job deposits once and confirms "
          "after the provider failed twice",
          "[integration]") {
  provider stand_in{2};
  bank_test::bank_system bank{[&](auto& config) { point_at(config, stand_in.base_url()); }};
  http_client client{bank_test::gateway_port(bank.config)};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":100})").status
          == 200);

  const std::string notice = R"({"payment_id":"p1","account_id":"ada","amount":500})";
  auto first = client.request(verb::post, "/webhooks/payments", notice);
  REQUIRE(first.status == 202);
  auto queued = accepted(first);
  CHECK(queued.job_id() > 0);
  CHECK_FALSE(queued.duplicate());
  auto again = client.request(verb::post, "/webhooks/payments", notice);
  REQUIRE(again.status == 202);
  CHECK(accepted(again).job_id() == queued.job_id());
  CHECK(accepted(again).duplicate());

  REQUIRE(reaches(bank, queued.job_id(), "completed"));
  auto done = job(bank, queued.job_id());
  CHECK(done.attempt() == 3);
  REQUIRE(done.errors_size() == 2);
  for (const auto& e : done.errors())
    CHECK_THAT(e.message(), Contains("the provider answered 503"));

  // Three confirmations, each naming the payment; the deposit applied once.
  CHECK(stand_in.count("/v1/payments/p1/confirm") == 3);
  for (const auto& r : stand_in.received()) {
    CHECK(r.method == "POST");
    CHECK(r.header("Idempotency-Key") == "payment:p1");
    CHECK(r.header("Content-Type") == "application/json");
    CHECK(r.body == R"({"payment_id":"p1","account_id":"ada","amount":500})");
  }
  CHECK(bank.balance("ada") == 600);
  int deposits = 0;
  auto history = bank.history("ada");
  for (const auto& entry : history.entries())
    if (entry.kind() == "deposit") {
      ++deposits;
      CHECK(entry.idempotency_key() == "payment:p1");
      CHECK(entry.delta() == 500);
    }
  CHECK(deposits == 1);

  // A delivery after the job completed still answers the same job, and deposits nothing.
  auto late = client.request(verb::post, "/webhooks/payments", notice);
  REQUIRE(late.status == 202);
  CHECK(accepted(late).job_id() == queued.job_id());
  CHECK(bank.balance("ada") == 600);
}

TEST_CASE("payment webhooks of several payments each deposit once", "[integration]") {
  provider stand_in{1};
  bank_test::bank_system bank{[&](auto& config) { point_at(config, stand_in.base_url()); }};
  http_client client{bank_test::gateway_port(bank.config)};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"bob","initial_balance":0})").status
          == 200);
  std::vector<std::int64_t> ids;
  for (int i = 1; i <= 5; ++i) {
    auto r = client.request(verb::post, "/webhooks/payments",
                            R"({"payment_id":"multi-)" + std::to_string(i)
                              + R"(","account_id":"bob","amount":)" + std::to_string(i * 10) + "}");
    REQUIRE(r.status == 202);
    ids.push_back(accepted(r).job_id());
  }
  for (auto id : ids) {
    REQUIRE(reaches(bank, id, "completed"));
    CHECK(job(bank, id).attempt() == 2);
  }
  CHECK(bank.balance("bob") == 150);
  CHECK(bank.history("bob").entries_size() == 6); // the opening and five deposits
}

TEST_CASE("a bad payment notice is 400 naming the field", "[integration]") {
  provider stand_in{0};
  bank_test::bank_system bank{[&](auto& config) { point_at(config, stand_in.base_url()); }};
  http_client client{bank_test::gateway_port(bank.config)};
  auto refused = [&](const std::string& body) {
    auto r = client.request(verb::post, "/webhooks/payments", body);
    INFO(body << " -> " << r.status << " " << r.body);
    CHECK(r.status == 400);
    return r.body;
  };
  CHECK_THAT(refused(R"({"account_id":"ada","amount":5})"),
             Contains("invalid_argument") && Contains("payment_id: must not be empty"));
  CHECK_THAT(refused(R"({"payment_id":"p/1","account_id":"ada","amount":5})"),
             Contains("payment_id: expected 1 to 128 characters"));
  CHECK_THAT(
    refused(R"({"payment_id":")" + std::string(129, 'x') + R"(","account_id":"ada","amount":5})"),
    Contains("payment_id: expected 1 to 128 characters"));
  CHECK_THAT(refused(R"({"payment_id":"p2","amount":5})"),
             Contains("account_id: must not be empty"));
  CHECK_THAT(refused(R"({"payment_id":"p2","account_id":"ada","amount":0})"),
             Contains("amount: must be a positive number of cents, got 0"));
  CHECK_THAT(refused(R"({"payment_id":"p2","account_id":"ada","amount":-3})"), Contains("got -3"));
  CHECK_THAT(refused(R"({"payment_id":"p2","account_id":"ada","amount":"lots"})"),
             Contains("\"field\":\"amount\""));
  CHECK_THAT(refused(R"({"payment":"p2"})"), Contains("\"field\":\"payment\""));
  // Nothing was enqueued.
  jobs_pb::ListRequest req;
  req.set_queue("payments");
  auto list = bank.node.call<jobs_pb::JobList>("jobs", "List", req);
  REQUIRE(list);
  CHECK(list->jobs_size() == 0);
}

TEST_CASE("a bad or missing provider_url stops the bank's start naming the key", "[integration]") {
  auto start_error = [](const std::function<void(microlith::system_config&)>& adjust) {
    bank_test::temp_folder folder;
    auto config = bank_test::load_bank(folder.path() / "ledger.db");
    adjust(config);
    microlith::node node{microlith::node_options_for(config)};
    microlith::host host{node, config};
    auto err = host.start();
    host.stop();
    node.shutdown();
    REQUIRE(err);
    return microlith::describe(err);
  };
  auto payments = [](microlith::system_config& config) -> microlith::group_config& {
    for (auto& g : config.groups)
      if (g.name == "payments")
        return g;
    FAIL("no payments group");
    throw std::logic_error("unreachable");
  };
  CHECK_THAT(start_error([&](auto& c) { payments(c).config.erase("provider_url"); }),
             Contains("groups.payments.config.provider_url: missing"));
  CHECK_THAT(start_error([&](auto& c) { payments(c).config["provider_url"] = std::int64_t{8090}; }),
             Contains("groups.payments.config.provider_url: expected a string"));
  CHECK_THAT(start_error([&](auto& c) {
               payments(c).config["provider_url"] = std::string{"ftp://x.example"};
             }),
             Contains("groups.payments.config.provider_url:") && Contains("ftp"));
  CHECK_THAT(start_error([&](auto& c) {
               payments(c).config["provider_url"] = std::string{"http://x.example/v1?a=b"};
             }),
             Contains("groups.payments.config.provider_url:") && Contains("query"));
}
