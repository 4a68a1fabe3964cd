// The PostgreSQL store of jobs (services/src/jobs/postgres_job_store.cpp, docs/jobs.md,
// "PostgreSQL") against a real server each test starts for itself (test/support/
// postgres_server.hpp: initdb in a temp folder, stopped by pid): the same contract as the SQLite
// store. Enqueue, claim and complete under the epoch's fence; claims from several connections
// at once never sharing a job (FOR UPDATE SKIP LOCKED); one unique key from several connections
// making one job; a batch of writes with an outcome each; failures, discards, rescues of a lost
// holder, cancel and retry; a cron tick enqueued once; a server that cannot be reached named
// without its password.
#include <microlith/actors/error.hpp>
#include <microlith/services/job_store.hpp>

#include "support/free_port.hpp"
#include "support/postgres_server.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using Catch::Matchers::Contains;
using microlith::errc;
using microlith::job_holder;
using microlith::job_state;
using microlith::job_store;
using microlith::job_write;
using microlith::new_job;

namespace {

constexpr std::int64_t t0 = 1'800'000'000'000; // a fixed "now", in ms

std::unique_ptr<job_store> open_on(const test_support::postgres_server& server,
                                   job_holder holder = {}) {
  auto store = job_store::open_database(server.url(), microlith::job_sync::full, std::move(holder));
  if (!store)
    FAIL(microlith::describe(store.error()));
  return std::move(*store);
}

new_job job_of(const std::string& queue, const std::string& bytes = "payload") {
  new_job j;
  j.queue = queue;
  j.message_type = "test.Job";
  j.message = bytes;
  return j;
}

std::int64_t enqueue(job_store& store, const new_job& job, std::int64_t now = t0) {
  auto id = store.enqueue(job, now);
  REQUIRE(id);
  return id->id;
}

microlith::job_record find(job_store& store, std::int64_t id) {
  auto found = store.find(id);
  REQUIRE(found);
  REQUIRE(found->has_value());
  return **found;
}

} // namespace

TEST_CASE("the PostgreSQL store enqueues claims and completes a job under the epoch's fence",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  auto store = open_on(server);
  CHECK(store->where() == server.url());
  // Bytes that are not text survive the trip (the message is a bytea).
  const std::string bytes("a\0b\xff\x01", 5);
  const auto id = enqueue(*store, job_of("q", bytes));
  auto claimed = store->claim("q", 10, t0 + 1);
  REQUIRE(claimed);
  REQUIRE(claimed->size() == 1);
  const auto job = claimed->front();
  CHECK(job.id == id);
  CHECK(job.attempt == 1);
  CHECK(job.message == bytes);
  CHECK(find(*store, id).state == job_state::executing);
  CHECK(microlith::code_of(store->complete(id, job.epoch + 1, t0 + 2))
        == errc::failed_precondition);
  REQUIRE_FALSE(store->complete(id, job.epoch, t0 + 2));
  CHECK(find(*store, id).state == job_state::completed);
  CHECK(microlith::code_of(store->complete(id, job.epoch, t0 + 3)) == errc::failed_precondition);
  CHECK(microlith::code_of(store->complete(id + 1000, 1, t0 + 3)) == errc::not_found);
  // Scheduled jobs wait for their time; claims go by priority, then run_at, then id.
  auto later = job_of("q");
  later.run_at = t0 + 1000;
  const auto scheduled = enqueue(*store, later, t0);
  auto low = job_of("q");
  low.priority = 5;
  const auto low_id = enqueue(*store, low, t0);
  const auto high_id = enqueue(*store, job_of("q"), t0);
  auto order = store->claim("q", 10, t0 + 10);
  REQUIRE(order);
  REQUIRE(order->size() == 2);
  CHECK(order->at(0).id == high_id);
  CHECK(order->at(1).id == low_id);
  CHECK(find(*store, scheduled).state == job_state::scheduled);
  auto next = store->next_run_at("q");
  REQUIRE(next);
  CHECK(*next == std::optional<std::int64_t>{t0 + 1000});
}

TEST_CASE("PostgreSQL stores claiming at once from several connections never share a job",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  auto filler = open_on(server);
  constexpr int jobs = 200;
  for (int i = 0; i < jobs; ++i)
    enqueue(*filler, job_of("q", std::to_string(i)));
  std::mutex mutex;
  std::vector<std::int64_t> claimed;
  std::atomic<bool> failed{false};
  std::vector<std::thread> claimers;
  for (int c = 0; c < 4; ++c)
    claimers.emplace_back([&, c] {
      auto store = job_store::open_database(server.url(), microlith::job_sync::full,
                                            job_holder{"n" + std::to_string(c), "i"});
      if (!store) {
        failed = true;
        return;
      }
      for (;;) {
        auto got = (*store)->claim("q", 3, t0 + 1);
        if (!got) {
          failed = true;
          return;
        }
        if (got->empty())
          return;
        std::lock_guard<std::mutex> guard{mutex};
        for (const auto& j : *got)
          claimed.push_back(j.id);
      }
    });
  for (auto& t : claimers)
    t.join();
  REQUIRE_FALSE(failed);
  CHECK(claimed.size() == jobs);
  CHECK(std::set<std::int64_t>(claimed.begin(), claimed.end()).size() == jobs);
  auto holders = filler->executing_holders();
  REQUIRE(holders);
  CHECK(holders->size() >= 1);
}

TEST_CASE("one unique key enqueued at once from several PostgreSQL connections makes one job",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  constexpr int keys = 25;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::int64_t>> answers;
  std::atomic<bool> failed{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&] {
      auto store = job_store::open_database(server.url());
      if (!store) {
        failed = true;
        return;
      }
      for (int k = 0; k < keys; ++k) {
        auto job = job_of("q");
        job.unique_key = "key-" + std::to_string(k);
        job.unique_period_ms = 60'000;
        auto done = (*store)->enqueue(job, t0);
        if (!done) {
          failed = true;
          return;
        }
        std::lock_guard<std::mutex> guard{mutex};
        answers.emplace_back(job.unique_key, done->id);
      }
    });
  for (auto& t : writers)
    t.join();
  REQUIRE_FALSE(failed);
  REQUIRE(answers.size() == 4 * keys);
  std::map<std::string, std::set<std::int64_t>> ids_by_key;
  for (const auto& [key, id] : answers)
    ids_by_key[key].insert(id);
  CHECK(ids_by_key.size() == keys);
  for (const auto& [key, ids] : ids_by_key) {
    INFO(key);
    CHECK(ids.size() == 1); // every writer of the key got the same job
  }
  auto store = open_on(server);
  auto stats = store->stats();
  REQUIRE(stats);
  CHECK((*stats)["q"][job_state::available] == keys);
  // After its period the key makes a new job.
  auto again = job_of("q");
  again.unique_key = "key-0";
  again.unique_period_ms = 60'000;
  auto fresh = store->enqueue(again, t0 + 60'000);
  REQUIRE(fresh);
  CHECK_FALSE(fresh->duplicate);
}

TEST_CASE("a batch of writes on PostgreSQL commits together with an outcome for each write",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  auto store = open_on(server);
  const auto held = enqueue(*store, job_of("q"));
  auto running = store->claim("q", 1, t0);
  REQUIRE(running);
  REQUIRE(running->size() == 1);
  auto keyed = job_of("q");
  keyed.unique_key = "k";
  keyed.unique_period_ms = 60'000;
  std::vector<job_write> writes;
  writes.push_back(job_write::enqueue_of(keyed));
  writes.push_back(job_write::enqueue_of(keyed));      // a duplicate of the one before
  writes.push_back(job_write::enqueue_of(job_of(""))); // refused: no queue
  writes.push_back(job_write::complete_and_claim_of(held, running->front().epoch, "q"));
  writes.push_back(job_write::complete_and_claim_of(held, running->front().epoch, "q"));
  REQUIRE_FALSE(store->write_batch(writes, t0 + 1));
  CHECK_FALSE(writes[0].error);
  CHECK_FALSE(writes[1].error);
  CHECK(writes[1].enqueued.duplicate);
  CHECK(writes[1].enqueued.id == writes[0].enqueued.id);
  CHECK(microlith::code_of(writes[2].error) == errc::invalid_argument);
  CHECK_FALSE(writes[3].refused);
  REQUIRE(writes[3].claimed.size() == 1);
  CHECK(writes[3].claimed.front().id == writes[0].enqueued.id);
  CHECK(microlith::code_of(writes[4].refused) == errc::failed_precondition);
  CHECK(writes[4].claimed.empty());
  CHECK(find(*store, held).state == job_state::completed);
  auto all = store->list(microlith::job_filter{});
  REQUIRE(all);
  CHECK(all->size() == 2);
}

TEST_CASE("two PostgreSQL batches taking the same unique keys in opposite orders both commit",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  constexpr int keys = 20;
  constexpr int rounds = 30;
  auto first = open_on(server);
  auto second = open_on(server);
  std::atomic<int> failures{0};
  std::atomic<int> created{0};
  std::atomic<int> ready{0}; // both writers start each round together
  auto writer = [&](job_store& store, bool reversed) {
    for (int round = 0; round < rounds; ++round) {
      std::vector<job_write> writes;
      for (int k = 0; k < keys; ++k) {
        auto job = job_of("q");
        job.unique_key = fmt::format("round-{}-key-{}", round, reversed ? keys - 1 - k : k);
        job.unique_period_ms = 60'000;
        writes.push_back(job_write::enqueue_of(std::move(job)));
      }
      ++ready;
      while (ready < 2 * (round + 1))
        std::this_thread::yield();
      if (store.write_batch(writes, t0)) {
        ++failures;
        continue;
      }
      for (const auto& w : writes) {
        if (w.error)
          ++failures;
        else if (!w.enqueued.duplicate)
          ++created;
      }
    }
  };
  std::thread a{writer, std::ref(*first), false};
  std::thread b{writer, std::ref(*second), true};
  a.join();
  b.join();
  CHECK(failures == 0);            // no write lost to a deadlock (nor to anything else)
  CHECK(created == keys * rounds); // each key made one job, the other writer got its id
}

TEST_CASE("failures discards rescues cancel and retry on PostgreSQL keep every error",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  auto a = open_on(server, job_holder{"a", "a1"});
  auto b = open_on(server, job_holder{"b", "b1"});
  auto two = job_of("q");
  two.max_attempts = 2;
  const auto id = enqueue(*a, two);
  auto first = b->claim("q", 1, t0);
  REQUIRE(first);
  REQUIRE(first->size() == 1);
  auto after = b->fail(id, first->front().epoch, "boom 1", t0 + 10, t0);
  REQUIRE(after);
  CHECK(*after == job_state::retryable);
  CHECK(b->claim("q", 1, t0 + 5)->empty()); // not before its retry time
  auto second = b->claim("q", 1, t0 + 10);
  REQUIRE(second);
  REQUIRE(second->size() == 1);
  CHECK(second->front().attempt == 2);
  // Node b is lost: a rescues its attempt, which was its last: discarded with both errors.
  auto rescued = a->rescue_holder(job_holder{"b", "b1"}, t0 + 20, "node b is down: test", t0 + 30);
  REQUIRE(rescued);
  CHECK(*rescued == 1);
  auto record = find(*a, id);
  CHECK(record.state == job_state::discarded);
  REQUIRE(record.errors.size() == 2);
  CHECK(record.errors[0].message == "boom 1");
  CHECK(record.errors[1].message == "node b is down: test");
  // b's late completion is refused.
  CHECK(microlith::code_of(b->complete(id, second->front().epoch, t0 + 40))
        == errc::failed_precondition);
  // Retried by hand: one more attempt; then cancelled.
  REQUIRE_FALSE(a->retry(id, t0 + 50));
  auto third = a->claim("q", 1, t0 + 50);
  REQUIRE(third);
  REQUIRE(third->size() == 1);
  CHECK(third->front().attempt == 3);
  REQUIRE_FALSE(a->cancel(id, t0 + 60));
  CHECK(find(*a, id).state == job_state::cancelled);
  CHECK(microlith::code_of(a->cancel(id, t0 + 61)) == errc::failed_precondition);
  CHECK(microlith::code_of(a->cancel(id + 100, t0 + 61)) == errc::not_found);
  // A claimed attempt given back is due again with its attempt not spent.
  const auto other = enqueue(*a, job_of("q"));
  auto taken = a->claim("q", 1, t0 + 70);
  REQUIRE(taken);
  REQUIRE(taken->size() == 1);
  REQUIRE_FALSE(a->release(other, taken->front().epoch, t0 + 71));
  CHECK(find(*a, other).attempt == 0);
  CHECK(find(*a, other).state == job_state::available);
  // A restarted a rescues the attempts of its previous process only.
  auto mine = a->claim("q", 1, t0 + 80);
  REQUIRE(mine);
  REQUIRE(mine->size() == 1);
  auto a2 = open_on(server, job_holder{"a", "a2"});
  auto previous = a2->rescue_previous_instances(t0 + 90);
  REQUIRE(previous);
  CHECK(*previous == 1);
}

TEST_CASE("a cron tick is enqueued once on PostgreSQL whichever store gets there first",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  auto a = open_on(server);
  auto b = open_on(server);
  auto since = a->cron_seen("nightly", "0 3 * * *", "UTC", t0);
  REQUIRE(since);
  CHECK(*since == t0);
  auto first = a->enqueue_cron_tick("nightly", t0 + 1000, job_of("q"), t0 + 1000);
  REQUIRE(first);
  CHECK_FALSE(first->duplicate);
  auto second = b->enqueue_cron_tick("nightly", t0 + 1000, job_of("q"), t0 + 1001);
  REQUIRE(second);
  CHECK(second->duplicate);
  CHECK(second->id == first->id);
  auto ticks = b->cron_ticks("nightly");
  REQUIRE(ticks);
  REQUIRE(ticks->size() == 1);
  CHECK(ticks->front() == std::make_pair(t0 + 1000, first->id));
  auto seen_again = b->cron_seen("nightly", "0 3 * * *", "UTC", t0 + 5000);
  REQUIRE(seen_again);
  CHECK(*seen_again == t0 + 1000); // counts from its last tick
}

TEST_CASE("PostgreSQL keeps the newest ticks of a schedule and refuses a pruned tick",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  auto store = open_on(server);
  constexpr std::int64_t minute = 60'000;
  REQUIRE(store->cron_seen("minutely", "* * * * *", "UTC", t0));
  constexpr auto kept = job_store::cron_ticks_kept;
  for (std::int64_t i = 1; i <= kept + 3; ++i) {
    auto done = store->enqueue_cron_tick("minutely", t0 + i * minute, job_of("q"), t0);
    REQUIRE(done);
    REQUIRE_FALSE(done->duplicate);
  }
  auto ticks = store->cron_ticks("minutely");
  REQUIRE(ticks);
  REQUIRE(ticks->size() == static_cast<std::size_t>(kept));
  CHECK(ticks->front().first == t0 + 4 * minute);
  auto pruned = store->enqueue_cron_tick("minutely", t0 + minute, job_of("q"), t0);
  REQUIRE(pruned);
  CHECK(pruned->duplicate);
  CHECK(pruned->id == 0);
  auto stats = store->stats();
  REQUIRE(stats);
  CHECK((*stats)["q"][job_state::available] == kept + 3);
}

TEST_CASE("a PostgreSQL server that cannot be reached is named without its password",
          "[unit][jobs][postgres]") {
  const auto port = test_support::free_port(); // nothing listens there
  const auto url =
    "postgresql://someone:s3cret@127.0.0.1:" + std::to_string(port) + "/jobs?connect_timeout=2";
  auto store = job_store::open_database(url);
  REQUIRE_FALSE(store);
  CHECK(microlith::code_of(store.error()) == errc::service_unavailable);
  const auto message = microlith::describe(store.error());
  CHECK_THAT(message, Contains("127.0.0.1:" + std::to_string(port)));
  CHECK_THAT(message, Contains("someone:***@"));
  CHECK_THAT(message, !Contains("s3cret"));
  // A password among the URL's parameters is hidden too.
  const auto in_query = "postgresql://127.0.0.1:" + std::to_string(port)
                        + "/jobs?user=someone&password=s3cret&connect_timeout=2";
  auto refused = job_store::open_database(in_query);
  REQUIRE_FALSE(refused);
  const auto query_message = microlith::describe(refused.error());
  CHECK_THAT(query_message, Contains("password=***&connect_timeout=2"));
  CHECK_THAT(query_message, !Contains("s3cret"));
  // A URL libpq cannot read: its message quotes the URL's text, never the password.
  for (const std::string bad : {"postgresql://someone:s3cr%zzet@127.0.0.1/jobs",
                                "postgresql://127.0.0.1/jobs?password=s3cret&bogus_key=1"}) {
    auto unreadable = job_store::open_database(bad);
    REQUIRE_FALSE(unreadable);
    INFO(microlith::describe(unreadable.error()));
    CHECK_THAT(microlith::describe(unreadable.error()), !Contains("s3cr"));
  }
}
