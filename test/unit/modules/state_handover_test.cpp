// State handover on a replace (service<State>::hand_over, handover.hpp, docs/modules.md "State
// handover"): the counter test modules (test/modules/counter.cpp), installed into a real host and
// called over HTTP at their routes, hand their total from one version to the next; a version that
// refuses the state is rolled back with the old version still serving its state; and replaces under
// continuous calls — each Add with a promise outstanding on a nested call — lose no update and fail
// no call.
#include "microlith/actors/error.hpp"
#include "microlith/actors/registry.hpp"

#include "module_test_system.hpp"
#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using Catch::Matchers::Contains;
using namespace module_tests;

namespace {

const std::string counter_v1 = test_modules::counter_v1.package;
const std::string counter_v2 = test_modules::counter_v2.package;
const std::string counter_refuses = test_modules::counter_refuses.package;

// What the counter answered (its Total as JSON: {"total":"12","version":"1.0.0"}).
struct total_seen {
  bool ok = false;
  long total = 0;
  std::string version;
  std::string answer; // status and body, for messages
};

total_seen read_total(const bank_test::http_answer& a) {
  total_seen t;
  t.answer = std::to_string(a.status) + " " + a.body;
  if (a.status != 200)
    return t;
  t.ok = true;
  // proto3 JSON: int64 as a string, omitted when 0.
  if (auto at = a.body.find("\"total\":\""); at != std::string::npos)
    t.total = std::stol(a.body.substr(at + 9));
  if (auto at = a.body.find("\"version\":\""); at != std::string::npos)
    t.version = a.body.substr(at + 11, a.body.find('"', at + 11) - (at + 11));
  return t;
}

total_seen add(bank_test::http_client& c, long amount) {
  return read_total(
    c.request(http::verb::post, "/c/count", "{\"amount\":" + std::to_string(amount) + "}", {}));
}

total_seen add(running_system& sys, long amount) {
  bank_test::http_client c{sys.port};
  return add(c, amount);
}

total_seen total(running_system& sys) {
  auto t = read_total(sys.get("/c/count"));
  if (!t.ok)
    FAIL("GET /c/count failed: " << t.answer);
  return t;
}

bank_test::http_answer activate(running_system& sys, const std::string& version) {
  return sys.admin(http::verb::post,
                   "/_microlith/modules/test.counter/activate?version=" + version);
}

// Installs the three counter versions, 1.0.0 active.
void install_counters(running_system& sys) {
  for (const auto& [archive, on] :
       {std::pair{counter_v1, true}, {counter_v2, false}, {counter_refuses, false}}) {
    auto answer = sys.admin(http::verb::post, install_target("/c", on), read_bytes(archive));
    INFO(answer.body);
    REQUIRE(answer.status == 200);
  }
}

} // namespace

TEST_CASE("a replace hands the counter's total to the new version before it serves",
          "[modules][handover]") {
  test_support::temp_folder dir{"handover"};
  running_system sys{dir.path()};
  install_counters(sys);
  REQUIRE(add(sys, 5).ok);
  REQUIRE(add(sys, 7).ok);
  REQUIRE(total(sys).version == "1.0.0");

  REQUIRE(activate(sys, "2.0.0").status == 200);
  auto after = total(sys);
  CHECK(after.version == "2.0.0");
  CHECK(after.total == 12);

  // And back: a rollback hands it over too.
  REQUIRE(add(sys, 1).ok);
  REQUIRE(activate(sys, "1.0.0").status == 200);
  auto back = total(sys);
  CHECK(back.version == "1.0.0");
  CHECK(back.total == 13);
}

TEST_CASE("a rolled back version's service that the running version lacks answers every call "
          "it took before it stops",
          "[modules][handover]") {
  test_support::temp_folder dir{"handover"};
  running_system sys{dir.path()};
  install_counters(sys);
  // Callers of counter_extra, which only the refusing version 3.0.0 runs: it exists from the
  // moment that version's group starts until the rollback takes it away. "No instance" answers
  // (service_unavailable) are expected outside that window; any other error is a call cut.
  std::atomic<bool> stop{false};
  std::atomic<long> answered{0};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  std::vector<std::thread> callers;
  // The program links no counter code: the request is made from the contract the code server
  // loaded (its generated code, in the contracts library).
  const auto* request_type =
    google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
      "microlith.test.counter.AddRequest");
  REQUIRE(request_type != nullptr);
  microlith::message_ptr request{
    google::protobuf::MessageFactory::generated_factory()->GetPrototype(request_type)->New()};
  for (int i = 0; i < 3; ++i)
    callers.emplace_back([&] {
      microlith::blocking_call_options options;
      options.timeout = std::chrono::seconds(10);
      while (!stop) {
        auto noted = sys.n.call_shared("counter_extra", "Note", request, options);
        if (noted) {
          ++answered;
          continue;
        }
        if (microlith::code_of(noted.error()) == microlith::errc::service_unavailable)
          continue;
        std::lock_guard<std::mutex> guard{failures_mutex};
        failures.push_back(microlith::describe(noted.error()));
      }
    });
  // Rolled back until the callers got some calls in (each rollback gives them a few ms).
  int rollbacks = 0;
  while (rollbacks < 50 && (rollbacks < 5 || answered < 20)) {
    auto refused = activate(sys, "3.0.0");
    INFO(refused.body);
    REQUIRE(refused.status == 400);
    ++rollbacks;
  }
  stop = true;
  for (auto& t : callers)
    t.join();
  INFO(rollbacks << " rollbacks; " << answered << " calls answered by counter_extra");
  CHECK(answered > 0);
  CHECK(failures.empty());
  if (!failures.empty())
    FAIL_CHECK(failures.size() << " calls cut, the first: " << failures.front());
  // It is gone; 1.0.0 serves.
  CHECK(sys.n.registry().snapshot()->instances("counter_extra").empty());
  CHECK(total(sys).version == "1.0.0");
}

TEST_CASE("a version that refuses the state is rolled back and the old one keeps its state",
          "[modules][handover]") {
  test_support::temp_folder dir{"handover"};
  running_system sys{dir.path()};
  install_counters(sys);
  REQUIRE(add(sys, 41).ok);

  auto refused = activate(sys, "3.0.0");
  INFO(refused.body);
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body, Contains("counter refused the state"));
  CHECK_THAT(refused.body, Contains("refuses a total of 41"));
  CHECK_THAT(refused.body, Contains("test.counter 1.0.0 keeps serving"));

  auto still = total(sys);
  CHECK(still.version == "1.0.0");
  CHECK(still.total == 41);
  auto more = add(sys, 1);
  REQUIRE(more.ok);
  CHECK(more.total == 42);
  // The store still says 1.0.0 is the active version, and it runs.
  auto all = listed(sys.n);
  bool one_active = false;
  for (const auto& m : all.modules())
    if (m.version() == "1.0.0")
      one_active = m.active() && m.loaded();
    else
      CHECK_FALSE(m.active());
  CHECK(one_active);
  // The refused version's instances are gone: one counter serves.
  CHECK(sys.n.registry().snapshot()->instances("counter").size() == 1);
}

TEST_CASE("replaces under continuous calls with promises outstanding lose no update and fail "
          "no call",
          "[modules][handover][load]") {
  test_support::temp_folder dir{"handover"};
  running_system sys{dir.path()};
  install_counters(sys);
  std::atomic<bool> stop{false};
  std::atomic<long> added{0};
  std::atomic<long> failed{0};
  std::atomic<long> refused_replaces{0};
  std::string last_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i)
    clients.emplace_back([&] {
      bank_test::http_client c{sys.port};
      while (!stop) {
        auto t = add(c, 1);
        if (t.ok) {
          ++added;
        } else {
          ++failed;
          std::lock_guard<std::mutex> guard{failure_mutex};
          last_failure = t.answer;
        }
      }
    });
  REQUIRE(eventually([&] { return added > 50; }));
  for (int i = 0; i < 10; ++i) {
    REQUIRE(activate(sys, "2.0.0").status == 200);
    // A refused replace in the middle of the load: rolled back, nothing lost either.
    if (activate(sys, "3.0.0").status == 400)
      ++refused_replaces;
    REQUIRE(activate(sys, "1.0.0").status == 200);
  }
  stop = true;
  for (auto& t : clients)
    t.join();
  INFO(last_failure);
  CHECK(failed == 0);
  CHECK(refused_replaces == 10);
  auto end = total(sys);
  CHECK(end.version == "1.0.0");
  CHECK(end.total == added.load());
}
