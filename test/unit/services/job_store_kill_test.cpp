// The job store (job_store.hpp, docs/jobs.md) of a process killed with SIGKILL while it
// enqueues and claims: a forked child enqueues jobs (writing each id to a pipe once enqueue()
// has returned: the job is acknowledged), claims some and completes some, and is killed at a
// varied moment. Opened again, the store has every acknowledged job; rescue_executing() makes
// the ones left executing due again, and claiming until none is left runs each of them with
// attempt + 1 and every other unfinished job, so none is lost.
#include <microlith/actors/error.hpp>
#include <microlith/services/job_store.hpp>

#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;
using microlith::job_state;
using microlith::job_store;

namespace {

/// The child's loop: enqueue, write the id, claim one job now and then, complete every other
/// claim; never returns. Exits 2 if the store fails.
[[noreturn]] void enqueue_and_claim(const fs::path& file, int out) {
  try {
    auto store = job_store::open(file, microlith::job_sync::normal);
    if (!store)
      ::_exit(2);
    for (std::int64_t i = 0;; ++i) {
      microlith::new_job job;
      job.queue = "q";
      job.message_type = "test.Job";
      job.message = std::to_string(i);
      auto id = (*store)->enqueue(job, microlith::job_clock_now());
      if (!id)
        ::_exit(2);
      if (::write(out, &id->id, sizeof id->id) != sizeof id->id)
        ::_exit(2);
      if (i % 3 == 0) {
        auto claimed = (*store)->claim("q", 1, microlith::job_clock_now());
        if (!claimed)
          ::_exit(2);
        if (i % 2 == 0) {
          for (const auto& c : *claimed)
            if ((*store)->complete(c.id, c.epoch, microlith::job_clock_now()))
              ::_exit(2);
        }
      }
    }
  } catch (...) {
    ::_exit(3);
  }
}

/// Reads every id the child wrote (the pipe's write end closed).
void read_ids(int in, std::vector<std::int64_t>& ids) {
  std::int64_t id = 0;
  ssize_t n = 0;
  while ((n = ::read(in, &id, sizeof id)) == sizeof id || (n < 0 && errno == EINTR)) {
    if (n == sizeof id)
      ids.push_back(id);
  }
}

} // namespace

TEST_CASE("a job store killed with SIGKILL loses no acknowledged job and each is run again",
          "[unit]") {
  test_support::temp_folder temp{"jobs-kill"};
  const fs::path file = temp.path() / "jobs.sqlite";
  std::mt19937 random{std::random_device{}()};
  std::set<std::int64_t> acknowledged;
  for (int round = 0; round < 5; ++round) {
    INFO("round " << round);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      enqueue_and_claim(file, fds[1]); // never returns
    }
    ::close(fds[1]);
    // Until the child has acknowledged a varied number of jobs (bounded), then kill it.
    const std::size_t target = 20 + random() % 200;
    std::vector<std::int64_t> ids;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::int64_t id = 0;
    while (ids.size() < target && std::chrono::steady_clock::now() < deadline) {
      pollfd readable{fds[0], POLLIN, 0};
      if (::poll(&readable, 1, 100) <= 0)
        continue; // bounded by the deadline, whatever the child does
      const ssize_t n = ::read(fds[0], &id, sizeof id);
      if (n == sizeof id)
        ids.push_back(id);
      else if (n == 0 || (n < 0 && errno != EINTR))
        break; // the child stopped on its own
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    read_ids(fds[0], ids); // what it acknowledged before the kill
    ::close(fds[0]);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    REQUIRE(ids.size() >= target);
    acknowledged.insert(ids.begin(), ids.end());
  }

  auto opened = job_store::open(file);
  REQUIRE(opened);
  auto& store = **opened;
  auto all = store.list({"q", std::nullopt, 1'000'000});
  REQUIRE(all);
  std::map<std::int64_t, microlith::job_record> by_id;
  for (auto& r : *all)
    by_id.emplace(r.id, r);
  for (const auto id : acknowledged)
    CHECK(by_id.count(id) == 1);

  std::map<std::int64_t, int> in_flight; // executing at the kill: id -> its attempt
  for (const auto& [job_id, r] : by_id)
    if (r.state == job_state::executing)
      in_flight.emplace(job_id, r.attempt);
  auto rescued = store.rescue_executing(microlith::job_clock_now());
  REQUIRE(rescued);
  CHECK(*rescued == in_flight.size());

  std::set<std::int64_t> run;
  for (;;) {
    auto claimed = store.claim("q", 100, microlith::job_clock_now());
    REQUIRE(claimed);
    if (claimed->empty())
      break;
    for (const auto& c : *claimed) {
      if (auto it = in_flight.find(c.id); it != in_flight.end())
        CHECK(c.attempt == it->second + 1);
      run.insert(c.id);
      REQUIRE_FALSE(store.complete(c.id, c.epoch, microlith::job_clock_now()));
    }
  }
  for (const auto id : acknowledged) {
    INFO("job " << id);
    CHECK((run.count(id) == 1 || by_id.at(id).state == job_state::completed));
  }
  auto stats = store.stats();
  REQUIRE(stats);
  CHECK((*stats)["q"].size() == 1); // completed only
  CHECK((*stats)["q"][job_state::completed] == static_cast<std::int64_t>(by_id.size()));
}
