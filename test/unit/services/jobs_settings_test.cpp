// The system file's job tables (jobs_config.hpp, docs/jobs.md): [jobs] read into
// system_config::jobs, a group's [groups.NAME.jobs.QUEUE] tables into group_config::job_queues
// whatever the group's module, each mistake reported with the file, line, column and key; and
// the backoff formula between attempts.
#include <microlith/services/jobs_config.hpp>
#include <microlith/services/system_file.hpp>

#include "system_file_checks.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using namespace system_file_checks;
using namespace std::chrono_literals;

namespace {

// Four lines; a table appended starts on line 5.
const std::string base = "[system]\nname = \"bank\"\n[groups.ledger]\nmodule = \"bank.ledger\"\n";

} // namespace

TEST_CASE("the [jobs] table is read into system_config::jobs", "[unit]") {
  SECTION("every key") {
    auto config = microlith::parse_system_file(
      base
        + "[jobs]\ndatabase = \"/var/lib/bank/jobs.sqlite\"\nsynchronous = \"normal\"\n"
          "poll_interval = \"250ms\"\n",
      "bank.toml");
    CHECK(config.jobs.database == "/var/lib/bank/jobs.sqlite");
    CHECK_FALSE(config.jobs.synchronous_full);
    CHECK(config.jobs.poll_interval == 250ms);
    CHECK(config.jobs.line == 5);
  }
  SECTION("absent: no store") {
    auto config = microlith::parse_system_file(base, "bank.toml");
    CHECK(config.jobs.database.empty());
    CHECK(config.jobs.line == 0);
  }
  SECTION("the defaults and a relative database resolved against the file's folder") {
    auto config = microlith::parse_system_file(base + "[jobs]\ndatabase = \"state/jobs.sqlite\"\n",
                                               "/etc/bank/bank.toml");
    CHECK(config.jobs.database == "/etc/bank/state/jobs.sqlite");
    CHECK(config.jobs.synchronous_full);
    CHECK(config.jobs.poll_interval == 1s);
  }
  SECTION("a PostgreSQL URL kept as written, not a path in the data folder") {
    for (const std::string url :
         {"postgresql://jobs@db.internal:5432/bank", "postgres://db/jobs"}) {
      auto config = microlith::parse_system_file(base + "[jobs]\ndatabase = \"" + url + "\"\n",
                                                 "/etc/bank/bank.toml");
      CHECK(config.jobs.database == url);
    }
  }
}

TEST_CASE("mistakes in [jobs] are reported with line column and key", "[unit]") {
  SECTION("no database") {
    check_single(base + "[jobs]\nsynchronous = \"full\"\n", 5, "jobs.database",
                 "missing required key \"database\"");
  }
  SECTION("a database that is not a string") {
    auto error = single_error(base + "[jobs]\ndatabase = 3\n");
    check_error(error, 6, "jobs.database",
                "expected the job store as a string: a SQLite file, or a PostgreSQL URL");
    CHECK(error.column == 12);
  }
  SECTION("a PostgreSQL address that is not a URL") {
    check_single(base + "[jobs]\ndatabase = \"postgresql:db/jobs\"\n", 6, "jobs.database",
                 "expected a PostgreSQL URL of the form postgresql://USER@HOST:PORT/DATABASE, got "
                 "\"postgresql:db/jobs\"");
  }
  SECTION("an empty database") {
    check_single(base + "[jobs]\ndatabase = \"\"\n", 6, "jobs.database",
                 "expected the job store as a string: a SQLite file, or a PostgreSQL URL "
                 "(postgresql://USER@HOST:PORT/DATABASE), got \"\"");
  }
  SECTION("an unknown key") {
    auto error = single_error(base + "[jobs]\ndatabase = \"j\"\npool = 3\n");
    check_error(error, 7, "jobs.pool",
                "unknown key \"pool\"; expected one of database, synchronous, poll_interval");
    CHECK(error.column == 1);
  }
  SECTION("a synchronous that is neither full nor normal") {
    check_single(base + "[jobs]\ndatabase = \"j\"\nsynchronous = \"off\"\n", 7, "jobs.synchronous",
                 "expected \"full\" or \"normal\", got \"off\"");
  }
  SECTION("a poll interval of 0") {
    check_single(base + "[jobs]\ndatabase = \"j\"\npoll_interval = \"0ms\"\n", 7,
                 "jobs.poll_interval", "expected a duration greater than 0");
  }
}

TEST_CASE("a group's jobs tables are read into its queues whatever its module", "[unit]") {
  auto config = microlith::parse_system_file(
    base
      + "[groups.ledger.jobs.deposits]\nmethod = \"ledger.Deposit\"\nconcurrency = 4\n"
        "max_attempts = 5\ntimeout = \"2s\"\nbackoff_base = \"0ms\"\nbackoff_unit = \"10ms\"\n"
        "backoff_max = \"1s\"\nbackoff_jitter = 0\n"
        "[groups.ledger.jobs.audit]\nmethod = \"bank.audit.Record\"\n"
        "[jobs]\ndatabase = \"jobs.sqlite\"\n",
    "bank.toml");
  const auto* ledger = config.find_group("ledger");
  REQUIRE(ledger != nullptr);
  REQUIRE(ledger->job_queues.size() == 2);
  const auto& deposits = ledger->job_queues[0];
  CHECK(deposits.name == "deposits");
  CHECK(deposits.service == "ledger");
  CHECK(deposits.method == "Deposit");
  CHECK(deposits.concurrency == 4);
  CHECK(deposits.max_attempts == 5);
  CHECK(deposits.timeout == 2s);
  CHECK(deposits.backoff.base == 0ms);
  CHECK(deposits.backoff.unit == 10ms);
  CHECK(deposits.backoff.max == 1s);
  CHECK(deposits.backoff.jitter == 0.0);
  CHECK(deposits.line == 5);
  const auto& audit = ledger->job_queues[1];
  CHECK(audit.service == "bank.audit");
  CHECK(audit.method == "Record");
  CHECK(audit.concurrency == 10);
  CHECK(audit.max_attempts == 20);
  CHECK(audit.backoff.base == 15s);
  CHECK(audit.backoff.unit == 1s);
}

TEST_CASE("mistakes in a group's jobs tables are reported with line column and key", "[unit]") {
  const std::string store = "[jobs]\ndatabase = \"jobs.sqlite\"\n"; // lines 5 and 6
  SECTION("no method") {
    check_single(base + store + "[groups.ledger.jobs.q]\nconcurrency = 2\n", 7,
                 "groups.ledger.jobs.q.method", "missing required key \"method\"");
  }
  SECTION("a method without a service") {
    check_single(base + store + "[groups.ledger.jobs.q]\nmethod = \"Deposit\"\n", 8,
                 "groups.ledger.jobs.q.method", "\"SERVICE.METHOD\", got \"Deposit\"");
  }
  SECTION("an unknown key") {
    auto error =
      single_error(base + store + "[groups.ledger.jobs.q]\nmethod = \"l.D\"\nworkers = 2\n");
    check_error(error, 9, "groups.ledger.jobs.q.workers", "unknown key \"workers\"");
    CHECK(error.column == 1);
  }
  SECTION("a concurrency out of range") {
    check_single(base + store + "[groups.ledger.jobs.q]\nmethod = \"l.D\"\nconcurrency = 0\n", 9,
                 "groups.ledger.jobs.q.concurrency", "expected an integer from 1 to 1000, got 0");
  }
  SECTION("a jitter above 1") {
    check_single(base + store + "[groups.ledger.jobs.q]\nmethod = \"l.D\"\nbackoff_jitter = 1.5\n",
                 9, "groups.ledger.jobs.q.backoff_jitter", "expected a number from 0 to 1");
  }
  SECTION("a bad duration") {
    check_single(base + store + "[groups.ledger.jobs.q]\nmethod = \"l.D\"\ntimeout = \"soon\"\n", 9,
                 "groups.ledger.jobs.q.timeout", "got \"soon\"");
  }
  SECTION("a queue that is not a table") {
    check_single(base + store + "[groups.ledger.jobs]\nq = 1\n", 8, "groups.ledger.jobs.q",
                 "expected a queue's table");
  }
  SECTION("a queue without the job store") {
    check_single(base + "[groups.ledger.jobs.q]\nmethod = \"l.D\"\n", 5, "groups.ledger.jobs.q",
                 "queue \"q\" needs the job store: set [jobs] database");
  }
  SECTION("one queue name in two groups") {
    check_single(base + store
                   + "[groups.ledger.jobs.q]\nmethod = \"l.D\"\n[groups.audit]\nmodule = "
                     "\"bank.audit\"\n[groups.audit.jobs.q]\nmethod = \"a.R\"\n",
                 11, "groups.audit.jobs.q", "queue \"q\" is declared by group \"ledger\" already");
  }
}

TEST_CASE("the backoff grows as base plus unit times 2 to the attempt within its jitter",
          "[unit]") {
  const microlith::job_backoff oban; // the defaults: 15 s + 2^n s, jitter 10 %
  CHECK(microlith::backoff_delay(oban, 1, 0.5) == 17s);
  CHECK(microlith::backoff_delay(oban, 5, 0.5) == 47s);
  CHECK(microlith::backoff_delay(oban, 5, 0.0) == std::chrono::milliseconds{42300});
  CHECK(microlith::backoff_delay(oban, 5, 1.0) == std::chrono::milliseconds{51700});
  CHECK(microlith::backoff_delay(oban, 30, 0.5) == 24h); // capped at max
  microlith::job_backoff quick;
  quick.base = 0ms;
  quick.unit = 10ms;
  quick.max = 1s;
  quick.jitter = 0.0;
  CHECK(microlith::backoff_delay(quick, 1, 0.9) == 20ms);
  CHECK(microlith::backoff_delay(quick, 3, 0.1) == 80ms);
  CHECK(microlith::backoff_delay(quick, 10, 0.5) == 1s);
}

namespace {

// base, a queue "reports" (lines 5-6) and [jobs] (lines 7-8): a [jobs.cron.NAME] table appended
// starts on line 9.
const std::string with_queue = base
                               + "[groups.ledger.jobs.reports]\nmethod = \"ledger.Report\"\n"
                                 "[jobs]\ndatabase = \"jobs.sqlite\"\n";

} // namespace

TEST_CASE("the [jobs.cron.NAME] tables are read into system_config::jobs cron", "[unit]") {
  SECTION("every key") {
    auto config = microlith::parse_system_file(
      with_queue
        + "[jobs.cron.nightly]\nschedule = \"30 2 * * MON-FRI\"\nqueue = \"reports\"\n"
          "message = '{\"text\": \"nightly\"}'\ntimezone = \"Europe/Paris\"\n"
          "missed = \"catch_up\"\nmax_catch_up = 5\npriority = 3\nmax_attempts = 2\n"
          "[jobs.cron.hourly]\nschedule = \"@hourly\"\nqueue = \"reports\"\n",
      "bank.toml");
    REQUIRE(config.jobs.cron.size() == 2);
    const auto& nightly = config.jobs.cron[0];
    CHECK(nightly.name == "nightly");
    CHECK(nightly.line == 9);
    CHECK(nightly.schedule == "30 2 * * MON-FRI");
    CHECK(nightly.queue == "reports");
    CHECK(nightly.message == "{\"text\": \"nightly\"}");
    CHECK(nightly.timezone == "Europe/Paris");
    CHECK(nightly.catch_up);
    CHECK(nightly.max_catch_up == 5);
    CHECK(nightly.priority == 3);
    CHECK(nightly.max_attempts == 2);
    const auto& hourly = config.jobs.cron[1];
    CHECK(hourly.name == "hourly");
    CHECK(hourly.message.empty());
    CHECK(hourly.timezone == "UTC");
    CHECK_FALSE(hourly.catch_up);
    CHECK(hourly.max_catch_up == 100);
    CHECK(hourly.max_attempts == 0);
  }
}

TEST_CASE("mistakes in [jobs.cron.NAME] are reported with line column and key", "[unit]") {
  SECTION("a bad expression names its field") {
    auto error = single_error(
      with_queue + "[jobs.cron.bad]\nschedule = \"61 * * * *\"\nqueue = \"reports\"\n");
    check_error(error, 10, "jobs.cron.bad.schedule",
                "\"61 * * * *\": minute 61 is out of range 0-59");
    CHECK(error.column == 12);
  }
  SECTION("an unknown time zone is named") {
    check_single(with_queue
                   + "[jobs.cron.bad]\nschedule = \"@daily\"\nqueue = \"reports\"\n"
                     "timezone = \"Europe/Pariss\"\n",
                 12, "jobs.cron.bad.timezone", "unknown time zone \"Europe/Pariss\"");
  }
  SECTION("a queue no group declares") {
    check_single(with_queue + "[jobs.cron.bad]\nschedule = \"@daily\"\nqueue = \"mails\"\n", 9,
                 "jobs.cron.bad.queue",
                 "queue \"mails\" is not declared by any group; expected one of \"reports\"");
  }
  SECTION("missed is skip or catch_up") {
    check_single(with_queue
                   + "[jobs.cron.bad]\nschedule = \"@daily\"\nqueue = \"reports\"\n"
                     "missed = \"all\"\n",
                 12, "jobs.cron.bad.missed", "expected \"skip\" or \"catch_up\", got \"all\"");
  }
  SECTION("an unknown key") {
    check_single(with_queue
                   + "[jobs.cron.bad]\nschedule = \"@daily\"\nqueue = \"reports\"\n"
                     "every = \"5m\"\n",
                 12, "jobs.cron.bad.every", "unknown key \"every\"; expected one of schedule");
  }
  SECTION("no schedule") {
    check_single(with_queue + "[jobs.cron.bad]\nqueue = \"reports\"\n", 9, "jobs.cron.bad.schedule",
                 "missing required key \"schedule\"");
  }
}
