// The job runner in a running host (services/src/jobs/, docs/jobs.md): real actors, a real
// SQLite file in a temp folder. Jobs enqueued from a handler (ctx.enqueue) and from a plain
// thread (enqueue_job) run with job_id and attempt in the call context; failures retried with
// the queue's backoff and discarded with every error kept; a crashing handler's job retried at
// once; the concurrency of a queue honoured; unique keys under concurrent enqueues; scheduled
// jobs not run early; the admin routes behind the token; a store that does not open stops the
// start.
#include "integration/http_client.hpp"
#include "proto/microlith_jobs.pb.h"
#include "proto/test.pb.h"
#include "support/free_port.hpp"
#include "support/log_capture.hpp"
#include "support/postgres_server.hpp"
#include "support/temp_folder.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/job_outbox.hpp>
#include <microlith/services/job_store.hpp>
#include <microlith/services/jobs_client.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sqlite3.h>

namespace {

namespace pb = microlith::jobs::v1;
namespace tpb = microlith::test;
namespace http = boost::beast::http;
using Catch::Matchers::Contains;

const std::string admin_token = "jobs-test-admin-token-0123456789";

bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// One attempt as the job's handler saw it.
struct attempt_seen {
  std::int64_t job_id = 0;
  std::int32_t attempt = 0;
  std::string text;
  std::int64_t at_ms = 0;
};

// What the handlers of one test saw (one per test: the host's services reach it by pointer).
struct recorder {
  std::mutex mutex;
  std::vector<attempt_seen> attempts;
  int running = 0;
  int max_running = 0;
  std::string store_file; // the SQLite job store's file, for the outbox's handler

  std::vector<attempt_seen> of(const std::string& text) {
    std::lock_guard<std::mutex> guard{mutex};
    std::vector<attempt_seen> out;
    for (const auto& a : attempts)
      if (a.text == text)
        out.push_back(a);
    return out;
  }
};

// The queues' method: worker.Ping. By the request's text: "fail..." fails every attempt,
// "crash..." throws on the first attempt (the instance crashes) and answers on the next,
// "slow..." answers after delay_ms (a timer casting Wake to the instance), counting how many
// run at once; anything else answers at once.
class worker_state {
public:
  explicit worker_state(recorder* seen) : seen_(seen) {}

  microlith::reply<tpb::PingReply> ping(microlith::call_context& ctx, const tpb::PingRequest& req) {
    {
      std::lock_guard<std::mutex> guard{seen_->mutex};
      seen_->attempts.push_back({ctx.job_id(), ctx.attempt(), req.text(), now_ms()});
    }
    tpb::PingReply out;
    out.set_text(req.text());
    out.set_value(ctx.job_id());
    const auto& text = req.text();
    if (text.rfind("fail", 0) == 0)
      return microlith::fail("refused: " + text + " attempt " + std::to_string(ctx.attempt()));
    if (text.rfind("crash", 0) == 0 && ctx.attempt() == 1)
      throw std::runtime_error("crash on attempt 1 of job " + std::to_string(ctx.job_id()));
    if (text.rfind("slow", 0) != 0)
      return out;
    {
      std::lock_guard<std::mutex> guard{seen_->mutex};
      seen_->max_running = std::max(seen_->max_running, ++seen_->running);
    }
    auto promise = ctx.make_promise<tpb::PingReply>();
    auto token = next_token_++;
    delayed_.emplace(token, std::make_pair(promise, std::move(out)));
    microlith::envelope wake;
    wake.kind = microlith::envelope_kind::cast;
    wake.service = ctx.name();
    wake.method = "Wake";
    tpb::WakeRequest body;
    body.set_token(token);
    wake.body = std::make_shared<const tpb::WakeRequest>(std::move(body));
    wake.meta.caller = ctx.name();
    ctx.self()->delayed_send(ctx.self(), std::chrono::milliseconds{req.delay_ms()},
                             std::move(wake));
    return promise;
  }

  microlith::reply<tpb::Empty> wake(microlith::call_context&, const tpb::WakeRequest& req) {
    auto i = delayed_.find(req.token());
    if (i != delayed_.end()) {
      {
        std::lock_guard<std::mutex> guard{seen_->mutex};
        --seen_->running;
      }
      i->second.first.deliver(std::move(i->second.second));
      delayed_.erase(i);
    }
    return tpb::Empty{};
  }

private:
  recorder* seen_;
  std::uint64_t next_token_ = 1;
  std::map<std::uint64_t, std::pair<microlith::promise<tpb::PingReply>, tpb::PingReply>> delayed_;
};

// front.Ping: enqueues a job on queue "q" from the handler (ctx.enqueue) with the request's
// text, and answers the job's id (value) once the job is committed.
struct front_state {
  microlith::reply<tpb::PingReply> ping(microlith::call_context& ctx, const tpb::PingRequest& req) {
    auto promise = ctx.make_promise<tpb::PingReply>();
    tpb::PingRequest job;
    job.set_text(req.text());
    ctx.enqueue("q", job).then(
      [promise](const microlith::enqueued_job& done) mutable {
        tpb::PingReply out;
        out.set_value(done.id);
        promise.deliver(std::move(out));
      },
      [promise](const caf::error& err) mutable { promise.deliver(err); });
    return promise;
  }
};

// outbox.Ping: the outbox pattern. On a connection of its own to the job store's file, in one
// transaction, enqueues a job on queue "q" with the request's text (enqueue_in_transaction),
// commits, then wakes the queue's workers (wake_job_workers); answers the job's id.
class outbox_state {
public:
  explicit outbox_state(recorder* seen) : seen_(seen) {}

  microlith::reply<tpb::PingReply> ping(microlith::call_context& ctx, const tpb::PingRequest& req) {
    sqlite3* db = nullptr;
    if (sqlite3_open(seen_->store_file.c_str(), &db) != SQLITE_OK) {
      sqlite3_close(db);
      return microlith::fail("cannot open " + seen_->store_file);
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    tpb::PingRequest payload;
    payload.set_text(req.text());
    microlith::new_job job;
    job.queue = "q";
    job.message_type = payload.GetDescriptor()->full_name();
    job.message = payload.SerializeAsString();
    auto done = microlith::enqueue_in_transaction(db, job, microlith::job_clock_now());
    const bool committed =
      done && sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
    if (!committed)
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    if (!done)
      return std::move(done.error());
    if (!committed)
      return microlith::fail("the outbox's transaction did not commit");
    microlith::wake_job_workers(ctx, "q");
    tpb::PingReply out;
    out.set_value(done->id);
    return out;
  }

private:
  recorder* seen_;
};

void fill(microlith::module_catalogue& cat, recorder* seen) {
  microlith::detail::add_builtin_modules(cat);
  cat.add(
    microlith::module_definition{"test.jobs"}.group("work", [seen](microlith::group_context& g) {
      return microlith::children{
        g.service(microlith::service<worker_state>("worker", "microlith.test.Echo", seen)
                    .handle("Ping", &worker_state::ping)
                    .handle("Wake", &worker_state::wake)),
        g.service(microlith::service<front_state>("front", "microlith.test.Echo")
                    .handle("Ping", &front_state::ping)),
        g.service(microlith::service<outbox_state>("outbox", "microlith.test.Echo", seen)
                    .handle("Ping", &outbox_state::ping))};
    }));
}

// Queue "q": 2 workers, 3 attempts, retries 40 ms then 80 ms after attempts 1 and 2 (no
// jitter). Queue "patient": retries only after an hour (so a run soon after a failure can only
// be a rescue).
std::string system_text(const std::string& database = "jobs.sqlite",
                        const std::string& poll = "50ms") {
  return "[system]\nname = \"jobs-test\"\nthreads = 2\n[admin]\ntoken = \"" + admin_token
         + "\"\n[jobs]\ndatabase = \"" + database + "\"\npoll_interval = \"" + poll
         + "\"\n"
           "[groups.work]\nmodule = \"test.jobs\"\n"
           "[groups.work.jobs.q]\nmethod = \"worker.Ping\"\nconcurrency = 2\nmax_attempts = 3\n"
           "backoff_base = \"0ms\"\nbackoff_unit = \"20ms\"\nbackoff_max = \"1s\"\n"
           "backoff_jitter = 0\n"
           "[groups.work.jobs.patient]\nmethod = \"worker.Ping\"\nconcurrency = 1\n"
           "backoff_base = \"1h\"\n"
           "[groups.web]\nmodule = \"microlith.gateway\"\nneeds = [\"work\"]\n"
           "[groups.web.http]\nadmin = true\nlisten = \"127.0.0.1:0\"\n";
}

struct running {
  explicit running(const std::string& database = "jobs.sqlite", const std::string& poll = "50ms")
    : config([&] {
        fill(cat, &seen);
        seen.store_file = (dir.path() / "jobs.sqlite").string();
        return microlith::parse_system_file(system_text(database, poll),
                                            (dir.path() / "system.toml").string(), cat);
      }()),
      h(n, config, cat) {}

  tpb::PingRequest job(const std::string& text, std::int64_t delay_ms = 0) {
    tpb::PingRequest r;
    r.set_text(text);
    r.set_delay_ms(delay_ms);
    return r;
  }

  std::int64_t enqueue(const std::string& queue, const std::string& text,
                       microlith::job_options options = {}, std::int64_t delay_ms = 0) {
    auto done = microlith::enqueue_job(n, queue, job(text, delay_ms), options);
    REQUIRE(done);
    return done->id;
  }

  pb::Job find(std::int64_t id) {
    pb::ListRequest req;
    req.set_limit(100000);
    auto all = n.call<pb::JobList>("jobs", "List", req);
    REQUIRE(all);
    for (const auto& j : all->jobs())
      if (j.id() == id)
        return j;
    FAIL("no job " << id);
    return {};
  }

  bool in_state(std::int64_t id, const std::string& state) { return find(id).state() == state; }

  std::uint16_t port() {
    REQUIRE(eventually([&] { return h.http_port("web") != 0; }));
    return h.http_port("web");
  }

  test_support::temp_folder dir{"jobs-runner"};
  recorder seen;
  microlith::module_catalogue cat;
  microlith::system_config config;
  microlith::node n{microlith::node_options{}};
  microlith::host h;
};

} // namespace

TEST_CASE("a job enqueued from a handler or a plain thread runs with its job id and attempt 1 "
          "and completes",
          "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  auto from_handler = r.n.call<tpb::PingReply>("front", "Ping", r.job("from a handler"));
  REQUIRE(from_handler);
  auto handler_job = from_handler->value();
  auto thread_job = r.enqueue("q", "from a thread");
  CHECK(handler_job != thread_job);
  REQUIRE(eventually(
    [&] { return r.in_state(handler_job, "completed") && r.in_state(thread_job, "completed"); }));
  auto a = r.seen.of("from a handler");
  auto b = r.seen.of("from a thread");
  REQUIRE(a.size() == 1);
  REQUIRE(b.size() == 1);
  CHECK(a[0].job_id == handler_job);
  CHECK(a[0].attempt == 1);
  CHECK(b[0].job_id == thread_job);
  CHECK(b[0].attempt == 1);
  CHECK(r.find(thread_job).errors_size() == 0);
}

TEST_CASE("a host whose jobs database is a PostgreSQL URL runs jobs and retries a failing one",
          "[unit][jobs][postgres]") {
  test_support::postgres_server server;
  // The server trusts its user whatever the password: one in the URL must never be printed.
  auto url = server.url();
  url.replace(url.find("microlith@"), 10, "microlith:pw-never-shown@");
  test_support::log_capture log;
  running r{url};
  REQUIRE_FALSE(r.h.start());
  CHECK_THAT(log.text(), Contains("jobs: store postgresql://microlith:***@127.0.0.1"));
  CHECK_THAT(log.text(), !Contains("pw-never-shown"));
  auto from_handler = r.n.call<tpb::PingReply>("front", "Ping", r.job("from a handler"));
  REQUIRE(from_handler);
  const auto handler_job = from_handler->value();
  const auto thread_job = r.enqueue("q", "from a thread");
  const auto failing = r.enqueue("q", "fail on postgres");
  REQUIRE(eventually(
    [&] { return r.in_state(handler_job, "completed") && r.in_state(thread_job, "completed"); }));
  REQUIRE(eventually([&] { return r.in_state(failing, "discarded"); }));
  CHECK(r.seen.of("from a handler").at(0).job_id == handler_job);
  CHECK(r.seen.of("from a thread").at(0).attempt == 1);
  auto attempts = r.seen.of("fail on postgres");
  REQUIRE(attempts.size() == 3);
  CHECK(attempts[2].attempt == 3);
  CHECK(r.find(failing).errors_size() == 3);
  // The jobs are in the server's database, where another node sharing it would see them.
  auto store = microlith::job_store::open_database(server.url());
  REQUIRE(store);
  auto stats = (*store)->stats();
  REQUIRE(stats);
  CHECK((*stats)["q"][microlith::job_state::completed] == 2);
  CHECK((*stats)["q"][microlith::job_state::discarded] == 1);
}

TEST_CASE("a PostgreSQL jobs database that cannot be reached stops the start naming it",
          "[unit][jobs][postgres]") {
  const auto url = "postgresql://jobs:hidden@127.0.0.1:" + std::to_string(test_support::free_port())
                   + "/bank?connect_timeout=2";
  running r{url};
  auto err = r.h.start();
  REQUIRE(err);
  const auto message = microlith::describe(err);
  CHECK_THAT(message, Contains("the jobs did not open"));
  CHECK_THAT(message, Contains("cannot connect"));
  CHECK_THAT(message, Contains("jobs:***@127.0.0.1"));
  CHECK_THAT(message, !Contains("hidden"));
}

TEST_CASE("a job enqueued in a handler's own transaction runs at once when the handler wakes "
          "its queue",
          "[unit][jobs]") {
  running r{"jobs.sqlite", "1h"}; // idle workers look again only after an hour
  REQUIRE_FALSE(r.h.start());
  // A job through the jobs service first: once it is completed, its worker's next claim (in the
  // completion's transaction) has found nothing, and both workers wait for an hour. The
  // outbox's job, committed after, is claimed only if the wake reaches them.
  const auto warm_up = r.enqueue("q", "warm up");
  REQUIRE(eventually([&] { return r.in_state(warm_up, "completed"); }));
  auto first = r.n.call<tpb::PingReply>("outbox", "Ping", r.job("through the outbox"));
  REQUIRE(first);
  REQUIRE(eventually([&] { return r.in_state(first->value(), "completed"); }));
  auto seen = r.seen.of("through the outbox");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].job_id == first->value());
  CHECK(seen[0].attempt == 1);
}

TEST_CASE("an enqueue on a queue the system file does not declare is refused naming the queues",
          "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  auto done = microlith::enqueue_job(r.n, "nowhere", r.job("x"));
  REQUIRE_FALSE(done);
  CHECK(microlith::is(done.error(), microlith::errc::not_found));
  CHECK_THAT(microlith::message_of(done.error()), Contains("nowhere") && Contains("q, patient"));
}

TEST_CASE("a failing job is retried after the queue's backoff and discarded after its last "
          "attempt with every error kept",
          "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  auto id = r.enqueue("q", "fail always");
  REQUIRE(eventually([&] { return r.in_state(id, "discarded"); }));
  auto job = r.find(id);
  CHECK(job.attempt() == 3);
  REQUIRE(job.errors_size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(job.errors(i).attempt() == i + 1);
    CHECK_THAT(job.errors(i).message(),
               Contains("refused: fail always attempt " + std::to_string(i + 1)));
  }
  auto seen = r.seen.of("fail always");
  REQUIRE(seen.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(seen[i].job_id == id);
    CHECK(seen[i].attempt == i + 1);
  }
  // delay(n) = 0 + 20 ms * 2^n, no jitter: 40 ms after attempt 1, 80 ms after attempt 2.
  CHECK(seen[1].at_ms - seen[0].at_ms >= 40);
  CHECK(seen[2].at_ms - seen[1].at_ms >= 80);
}

TEST_CASE("a job whose handler crashes is retried at once with attempt plus one", "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  // Queue "patient" retries a failure only after an hour: the second attempt comes from the
  // crash being noticed (the call's monitor), not from a backoff or a lease running out.
  auto id = r.enqueue("patient", "crash once");
  REQUIRE(eventually([&] { return r.in_state(id, "completed"); }));
  auto seen = r.seen.of("crash once");
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].attempt == 1);
  CHECK(seen[1].attempt == 2);
  CHECK(seen[1].job_id == id);
  auto job = r.find(id);
  REQUIRE(job.errors_size() == 1);
  CHECK(job.errors(0).attempt() == 1);
  CHECK_THAT(job.errors(0).message(), Contains("worker.Ping threw: crash on attempt 1"));
}

TEST_CASE("no more jobs of a queue run at once than its concurrency", "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 6; ++i)
    ids.push_back(r.enqueue("q", "slow " + std::to_string(i), {}, 200));
  REQUIRE(eventually([&] {
    return std::all_of(ids.begin(), ids.end(),
                       [&](auto id) { return r.in_state(id, "completed"); });
  }));
  std::lock_guard<std::mutex> guard{r.seen.mutex};
  CHECK(r.seen.max_running == 2); // concurrency = 2: reached, never passed
  CHECK(r.seen.running == 0);
}

TEST_CASE("one unique key enqueued from several threads at once makes one job", "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  microlith::job_options options;
  options.unique_key = "payment-p1";
  options.unique_period = std::chrono::minutes(10);
  std::mutex mutex;
  std::vector<microlith::enqueued_job> answers;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto done = microlith::enqueue_job(r.n, "patient", r.job("unique"), options);
        std::lock_guard<std::mutex> guard{mutex};
        if (done)
          answers.push_back(*done);
        else
          failures.push_back(microlith::describe(done.error()));
      }
    });
  for (auto& t : threads)
    t.join();
  REQUIRE(failures.empty());
  REQUIRE(answers.size() == 40);
  std::set<std::int64_t> ids;
  int fresh = 0;
  for (const auto& a : answers) {
    ids.insert(a.id);
    fresh += a.duplicate ? 0 : 1;
  }
  CHECK(ids.size() == 1);
  CHECK(fresh == 1);
  pb::ListRequest req;
  req.set_queue("patient");
  auto all = r.n.call<pb::JobList>("jobs", "List", req);
  REQUIRE(all);
  CHECK(all->jobs_size() == 1);
}

TEST_CASE("a job scheduled to run later does not run before its time", "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  microlith::job_options options;
  auto run_at = std::chrono::system_clock::now() + std::chrono::milliseconds(400);
  options.run_at = run_at;
  auto id = r.enqueue("q", "later", options);
  CHECK(r.find(id).state() == "scheduled");
  REQUIRE(eventually([&] { return r.in_state(id, "completed"); }));
  auto seen = r.seen.of("later");
  REQUIRE(seen.size() == 1);
  auto due =
    std::chrono::duration_cast<std::chrono::milliseconds>(run_at.time_since_epoch()).count();
  CHECK(seen[0].at_ms >= due);
}

TEST_CASE("the jobs admin routes need the admin token and answer stats lists retries and "
          "cancels",
          "[unit][jobs]") {
  running r;
  REQUIRE_FALSE(r.h.start());
  auto failed = r.enqueue("q", "fail for the admin");
  REQUIRE(eventually([&] { return r.in_state(failed, "discarded"); }));
  microlith::job_options later;
  later.delay = std::chrono::hours(1);
  auto waiting = r.enqueue("patient", "waits", later);
  bank_test::http_client c{r.port()};
  auto auth =
    std::vector<std::pair<std::string, std::string>>{{"Authorization", "Bearer " + admin_token}};
  SECTION("no token: 401") {
    CHECK(c.request(http::verb::get, "/_microlith/jobs").status == 401);
    CHECK(c.request(http::verb::post, "/_microlith/jobs/1/cancel").status == 401);
  }
  SECTION("stats count by queue and state") {
    auto a = c.request(http::verb::get, "/_microlith/jobs", {}, auth);
    REQUIRE(a.status == 200);
    CHECK_THAT(a.body, Contains("\"queue\":\"q\"") && Contains("\"discarded\":\"1\"")
                         && Contains("\"scheduled\":\"1\""));
  }
  SECTION("list by state answers the errors of discarded jobs") {
    auto a = c.request(http::verb::get, "/_microlith/jobs/list?state=discarded", {}, auth);
    REQUIRE(a.status == 200);
    CHECK_THAT(a.body, Contains("refused: fail for the admin attempt 3"));
    CHECK(a.body.find("waits") == std::string::npos);
  }
  SECTION("cancel then retry") {
    auto a = c.request(http::verb::post, "/_microlith/jobs/" + std::to_string(waiting) + "/cancel",
                       {}, auth);
    REQUIRE(a.status == 200);
    CHECK(r.find(waiting).state() == "cancelled");
    auto b = c.request(http::verb::post, "/_microlith/jobs/" + std::to_string(failed) + "/retry",
                       {}, auth);
    REQUIRE(b.status == 200);
    // One more attempt, which fails too: discarded again with a fourth error.
    REQUIRE(eventually([&] { return r.find(failed).errors_size() == 4; }));
  }
  SECTION("a bad path answers 400 naming the routes") {
    auto a = c.request(http::verb::post, "/_microlith/jobs/seven/cancel", {}, auth);
    CHECK(a.status == 400);
    CHECK_THAT(a.body, Contains("/ID/retry"));
  }
}

TEST_CASE("a job store that is not a database stops the start naming the file", "[unit][jobs]") {
  running r;
  {
    std::ofstream garbage{r.dir.path() / "jobs.sqlite", std::ios::binary};
    garbage << std::string(4096, 'x');
  }
  auto err = r.h.start();
  REQUIRE(err);
  CHECK_THAT(microlith::message_of(err),
             Contains((r.dir.path() / "jobs.sqlite").string()) && Contains("not a database"));
  CHECK(r.h.running_groups().empty());
}
