// The bank's crash scenario, started from its system file in one process: a deposit carrying the
// memo "poison" makes the accounts handler throw (the example's deliberate crash trigger). The
// caller gets remote_error with the exception's message, the accounts group restarts the service,
// the new instance rebuilds its balances from the ledger, and the next request succeeds with every
// balance as it was. Calls in flight during the crash fail fast with a crash error, never a
// timeout; more crashes than the group's restart intensity make the group give up, and with the
// group's policy `permanent` the host stops the node with exit code 1.
#include "integration/bank_system.hpp"
#include "integration/http_client.hpp"

#include <microlith/actors/envelope.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/system_file.hpp>
#include <microlith/supervision/snapshot.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using microlith::errc;

namespace {

using steady = std::chrono::steady_clock;

// The memo that makes a deposit crash its handler (see DepositRequest.memo in bank.proto).
constexpr const char* poison = "poison";

// True when `err` is one of the errors a caller may see while the instance serving it crashes.
bool is_crash_error(const caf::error& err) {
  return microlith::is(err, errc::remote_error) || microlith::is(err, errc::service_down)
         || microlith::is(err, errc::service_unavailable);
}

// The bank with the helpers of the crash scenario.
struct crash_bank : bank_test::bank_system {
  // The balance of every account in `ids`; fails the test when one cannot be read.
  std::map<std::string, std::int64_t> balances(const std::vector<std::string>& ids) {
    std::map<std::string, std::int64_t> out;
    for (const auto& id : ids) {
      auto acct = balance_of(id);
      if (!acct)
        FAIL("Balance of " << id << " failed: " << microlith::describe(acct.error()));
      out[id] = acct->balance();
    }
    return out;
  }

  // The registered instance of accounts (null while there is none).
  caf::actor accounts_instance() { return instance_of("accounts"); }

  // Waits up to `limit` for an accounts instance other than `old` to be registered; answers it,
  // or null when none came.
  caf::actor wait_for_replacement(const caf::actor& old, std::chrono::milliseconds limit = 5s) {
    auto deadline = steady::now() + limit;
    for (;;) {
      auto now_registered = accounts_instance();
      if (now_registered && now_registered != old)
        return now_registered;
      if (steady::now() > deadline)
        return {};
      std::this_thread::sleep_for(1ms);
    }
  }

  // How often the accounts group's supervisor has restarted its accounts child (-1 if unknown).
  std::int64_t accounts_restarts() {
    auto tree = host.snapshot();
    for (const auto& group : tree.children)
      if (group.id == "accounts")
        for (const auto& child : group.children)
          if (child.id == "accounts")
            return child.restarts;
    return -1;
  }
};

} // namespace

TEST_CASE("a poisoned deposit crashes accounts, which restarts with its balances rebuilt from "
          "the ledger",
          "[integration]") {
  crash_bank bank;
  const std::vector<std::string> ids{"alice", "bob", "carol"};
  REQUIRE(bank.open("alice", 1000));
  REQUIRE(bank.open("bob", 250));
  REQUIRE(bank.open("carol", 0));
  REQUIRE(bank.deposit("alice", 75));
  REQUIRE(bank.transfer("alice", "bob", 300));
  REQUIRE(bank.transfer("bob", "carol", 125));
  const auto balances_before = bank.balances(ids);
  CHECK(balances_before
        == std::map<std::string, std::int64_t>{{"alice", 775}, {"bob", 425}, {"carol", 125}});
  const auto history_before = bank.history();
  REQUIRE(history_before.entries_size() == 8); // 3 opens, 1 deposit, 2 transfers of 2 entries
  auto before = bank.accounts_instance();
  REQUIRE(before);
  CHECK(bank.accounts_restarts() == 0);

  auto poisoned = bank.deposit("alice", 5, poison);
  REQUIRE_FALSE(poisoned);
  INFO(microlith::describe(poisoned.error()));
  CHECK(microlith::is(poisoned.error(), errc::remote_error));
  CHECK_THAT(microlith::message_of(poisoned.error()),
             Catch::Contains("accounts.Deposit threw: poisoned deposit")
               && Catch::Contains("alice"));

  // The group's supervisor replaces the instance; callers by name reach the new one.
  auto after = bank.wait_for_replacement(before);
  REQUIRE(after);
  CHECK(after != before);
  CHECK(bank.accounts_restarts() == 1);

  // The next request succeeds, and every balance is what it was: rebuilt from the ledger.
  auto next = bank.balance_of("alice");
  REQUIRE(next);
  CHECK(next->balance() == 775);
  CHECK(bank.balances(ids) == balances_before);
  // The poisoned request changed nothing in the ledger.
  CHECK(bank.history().DebugString() == history_before.DebugString());

  // The rebuilt instance keeps working on the rebuilt balances and continues the ledger's chain.
  auto receipt = bank.transfer("alice", "carol", 775);
  REQUIRE(receipt);
  CHECK(receipt->from().balance() == 0);
  CHECK(receipt->to().balance() == 900);
  auto refused = bank.transfer("alice", "bob", 1);
  REQUIRE_FALSE(refused);
  CHECK_THAT(microlith::message_of(refused.error()), Catch::Contains("insufficient funds"));
  auto all = bank.history();
  REQUIRE(all.entries_size() == 10);
  std::map<std::string, std::int64_t> running;
  for (const auto& entry : all.entries()) {
    INFO("ledger entry " << entry.sequence());
    auto& balance = running[entry.account_id()];
    balance += entry.delta();
    CHECK(balance == entry.balance_after());
  }
  CHECK(running == bank.balances(ids));
  CHECK(bank.host.running_groups()
        == std::vector<std::string>{"ledger", "accounts", "payments", "web"});
}

TEST_CASE("calls in flight while accounts crashes fail at once with a crash error, and succeed "
          "after the restart",
          "[integration]") {
  crash_bank bank;
  REQUIRE(bank.open("alice", 500));
  auto before = bank.accounts_instance();
  REQUIRE(before);

  // A backlog in front of the poison keeps the old instance busy for a while: casts that are
  // cheap to send and slow to serve (a Balance of an account whose id is 1 MiB long, refused
  // after hashing and copying it). Calls made once the poison is queued wait behind it: they are
  // in flight when the instance crashes. The backlog is sized to take about 400 ms to serve on
  // this build (optimized or sanitized), measured on a first batch.
  bank::BalanceRequest heavy;
  heavy.set_account_id(std::string(1024 * 1024, 'x'));
  microlith::envelope cast;
  cast.kind = microlith::envelope_kind::cast;
  cast.service = "accounts";
  cast.method = "Balance";
  cast.body = std::make_shared<const bank::BalanceRequest>(heavy);
  // The fastest of at least three growing samples (a first one may be slowed by warm-up).
  auto per_cast = steady::duration::max();
  steady::duration sample_took{};
  for (int sample = 20, round = 1; (round <= 3 || sample_took < 50ms) && sample <= 20000;
       sample *= 2, ++round) {
    const auto sample_sent = steady::now();
    for (int i = 0; i < sample; ++i)
      caf::anon_send(before, cast);
    REQUIRE(bank.balance_of("alice")); // answered once the sample is served
    sample_took = steady::now() - sample_sent;
    per_cast = std::min(per_cast, sample_took / sample);
  }
  const auto backlog = static_cast<int>(
    std::clamp<std::int64_t>(std::chrono::duration_cast<steady::duration>(400ms).count()
                               / std::max<std::int64_t>(per_cast.count(), 1),
                             20, 40000));

  // What the callers saw.
  struct tally {
    int calls = 0;
    int succeeded = 0;
    int crash_errors = 0;
    int calls_after_restart = 0;
    std::vector<std::string> unexpected; // other errors, wrong balances, slow answers
  };
  constexpr int callers = 4;
  constexpr auto call_timeout = 5s;
  std::atomic<bool> restarted{false};
  std::atomic<bool> done{false};
  std::atomic<int> total_calls{0};
  std::atomic<int> total_after_restart{0};
  std::vector<tally> tallies(callers);
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t)
    threads.emplace_back([&, t] {
      auto& mine = tallies[static_cast<std::size_t>(t)];
      while (!done.load()) {
        // A call begun once the new instance is registered must succeed.
        const bool after_restart = restarted.load();
        auto started = steady::now();
        auto result = bank.balance_of("alice", call_timeout);
        auto took = steady::now() - started;
        ++mine.calls;
        ++total_calls;
        if (took >= call_timeout)
          mine.unexpected.push_back(
            "a call took "
            + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count())
            + " ms");
        if (result) {
          ++mine.succeeded;
          if (result->balance() != 500)
            mine.unexpected.push_back("balance " + std::to_string(result->balance()));
        } else if (after_restart) {
          mine.unexpected.push_back("after the restart: " + microlith::describe(result.error()));
        } else if (is_crash_error(result.error())) {
          ++mine.crash_errors;
        } else {
          mine.unexpected.push_back(microlith::describe(result.error()));
        }
        if (after_restart) {
          ++mine.calls_after_restart;
          ++total_after_restart;
        }
      }
    });
  auto stop_callers = [&] {
    done = true;
    for (auto& th : threads)
      if (th.joinable())
        th.join();
  };

  auto wait_for = [](auto pred, std::chrono::milliseconds limit) {
    auto deadline = steady::now() + limit;
    while (!pred() && steady::now() < deadline)
      std::this_thread::sleep_for(1ms);
    return pred();
  };
  if (!wait_for([&] { return total_calls.load() >= 40; }, 5s)) {
    stop_callers();
    FAIL("the callers made no progress before the crash");
  }

  const auto backlog_sent = steady::now();
  for (int i = 0; i < backlog; ++i)
    caf::anon_send(before, cast);
  // The poisoned Deposit is called from a scoped actor rather than through node.call, so that it
  // is certainly queued behind the backlog and before the calls made next.
  caf::scoped_actor poisoner{bank.node.system()};
  bank::DepositRequest poisoned_deposit;
  poisoned_deposit.set_account_id("alice");
  poisoned_deposit.set_amount(1);
  poisoned_deposit.set_memo(poison);
  poisoner->send(
    before,
    microlith::make_call(
      1, "accounts", "Deposit", std::make_shared<const bank::DepositRequest>(poisoned_deposit),
      {"corr-poison", "client", microlith::clock::now() + call_timeout, 0, {}, {}, {}}));

  // Calls that are certainly in flight when the instance crashes: queued behind the poison.
  struct late_result {
    caf::expected<bank::Account> result{caf::error{}};
    steady::duration took{};
  };
  std::vector<std::future<late_result>> late;
  for (int i = 0; i < 4; ++i)
    late.push_back(std::async(std::launch::async, [&] {
      late_result out;
      auto started = steady::now();
      out.result = bank.balance_of("alice", call_timeout);
      out.took = steady::now() - started;
      return out;
    }));

  auto after = bank.wait_for_replacement(before);
  const auto replaced_after = steady::now() - backlog_sent;
  restarted = true;
  bool enough = wait_for([&] { return total_after_restart.load() >= callers * 20; }, 5s);
  stop_callers();
  caf::error poison_result = microlith::make_error(errc::timeout, "no answer to the poison");
  poisoner->receive([&](microlith::envelope& reply) { poison_result = std::move(reply.error); },
                    caf::after(call_timeout) >> [] {});

  INFO(
    "a backlog of " << backlog << " casts; the instance was replaced "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(replaced_after).count()
                    << " ms after it was sent");
  for (auto& f : late) {
    auto x = f.get();
    REQUIRE_FALSE(x.result);
    INFO(microlith::describe(x.result.error()));
    CHECK(microlith::is(x.result.error(), errc::service_down));
    CHECK(x.took < call_timeout);
  }
  INFO(microlith::describe(poison_result));
  CHECK(microlith::is(poison_result, errc::remote_error));
  CHECK_THAT(microlith::message_of(poison_result), Catch::Contains("poisoned deposit"));
  REQUIRE(after);
  CHECK(enough);
  tally sum;
  for (const auto& x : tallies) {
    sum.calls += x.calls;
    sum.succeeded += x.succeeded;
    sum.crash_errors += x.crash_errors;
    sum.calls_after_restart += x.calls_after_restart;
    sum.unexpected.insert(sum.unexpected.end(), x.unexpected.begin(), x.unexpected.end());
  }
  INFO("calls " << sum.calls << ", succeeded " << sum.succeeded << ", crash errors "
                << sum.crash_errors << ", after the restart " << sum.calls_after_restart
                << (sum.unexpected.empty() ? std::string{}
                                           : ", first unexpected: " + sum.unexpected.front()));
  CHECK(sum.unexpected.empty());
  CHECK(sum.succeeded + sum.crash_errors == sum.calls);
  CHECK(sum.calls_after_restart >= callers * 20);
  auto alice = bank.balance_of("alice");
  REQUIRE(alice);
  CHECK(alice->balance() == 500);
  CHECK(bank.history().entries_size() == 1);
}

TEST_CASE("more crashes than the accounts group's intensity stop the node with exit code 1",
          "[integration]") {
  crash_bank bank;
  REQUIRE(bank.open("alice", 100));
  // bank.toml: intensity 3 within 5 s. Three crashes are restarted; the fourth is one too many.
  auto instance = bank.accounts_instance();
  REQUIRE(instance);
  for (int crash = 1; crash <= 4; ++crash) {
    INFO("crash " << crash);
    auto poisoned = bank.deposit("alice", 1, poison);
    REQUIRE_FALSE(poisoned);
    CHECK(microlith::is(poisoned.error(), errc::remote_error));
    if (crash < 4) {
      auto next = bank.wait_for_replacement(instance);
      REQUIRE(next);
      instance = next;
      auto alice = bank.balance_of("alice");
      REQUIRE(alice);
      CHECK(alice->balance() == 100);
    }
  }

  // The group's supervisor gives up; the group is permanent, so the host asks the node to stop.
  auto code = std::async(std::launch::async, [&] { return bank.host.wait(); });
  if (code.wait_for(10s) != std::future_status::ready) {
    bank.host.request_stop(); // unblocks wait() so that the test ends
    FAIL("host.wait() did not return within 10 s of the group giving up");
  }
  CHECK(code.get() == 1);
  CHECK(bank.host.running_groups() == std::vector<std::string>{"ledger", "payments", "web"});
  // The gateway still runs and says the system is not ready: a permanent group is gone.
  auto readiness = bank_test::http_client{bank_test::gateway_port(bank.config)}.request(
    boost::beast::http::verb::get, "/readyz");
  CHECK(readiness.status == 503);
  CHECK_THAT(readiness.body, Catch::Contains(R"("not_running":["accounts"])"));
  CHECK_THAT(readiness.body, Catch::Contains("permanent group accounts is not running"));
  CHECK_FALSE(bank.accounts_instance());
  auto refused = bank.balance_of("alice");
  REQUIRE_FALSE(refused);
  CHECK(microlith::is(refused.error(), errc::service_unavailable));
  // The ledger kept running and recorded nothing for the poisoned deposits.
  CHECK(bank.history().entries_size() == 1);
}
