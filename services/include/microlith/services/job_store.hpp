// The durable store of background jobs, holding every job, its state, its attempts and the
// error of each failed attempt (docs/jobs.md): a SQLite file (`[jobs] database = "PATH"`, WAL;
// services/src/jobs/sqlite_job_store.cpp) or a PostgreSQL database shared by the nodes of a
// system on several machines (`[jobs] database = "postgresql://..."`;
// services/src/jobs/postgres_job_store.cpp). Both keep the same contract.
//
// The contract:
// - enqueue() returns only after the job's row is committed. A job with a unique key is a
//   duplicate while an earlier job with the same key is inside its period; the store decides
//   that itself (a primary key on the key, written in the job's transaction), so two
//   connections enqueueing the same key at once make one job, and the second gets its id.
// - claim() takes the next jobs of a queue in one statement: the due jobs (available,
//   scheduled or retryable, run_at <= now) by priority (lower first), then run_at, then id,
//   each marked executing with its attempt + 1 and a new epoch.
// - The epoch is the fence of an attempt: complete(), fail() and rescue() name the epoch that
//   claim() gave, and are refused (errc::failed_precondition) when the job has moved on since
//   (cancelled, rescued, claimed again), so a late answer never overwrites a newer state.
// - Each claim records who holds the attempt (job_holder: the node's name and the instance of
//   its process). rescue_executing() (a node alone on its file, at start) makes every job left
//   executing available again; in a cluster a node rescues only the attempts of a holder that
//   cannot answer any more: its own previous instances at start (rescue_previous_instances),
//   a node declared down (rescue_holder), one that is no member after the start's bound
//   (executing_holders + rescue_holder). The next claim gives the job attempt + 1.
//
// Times are milliseconds since the Unix epoch, given by the caller, so that tests and the
// runner use the same code with their own clocks. A store is safe to use from several threads
// (one connection, one mutex); several stores (connections) may share a file or a database.
#pragma once

#include "microlith/actors/job_options.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace microlith {

/// Where a job is in its life.
enum class job_state {
  available, ///< due now, waiting for a worker
  scheduled, ///< enqueued to run later (run_at in the future when enqueued)
  executing, ///< claimed by a worker
  retryable, ///< failed an attempt; runs again at run_at
  completed, ///< done
  discarded, ///< failed its last attempt (its errors are kept)
  cancelled, ///< cancelled by hand
};

/// "available", "scheduled", ... as stored and shown.
const char* to_string(job_state state);

/// The state named `text`, or nothing.
std::optional<job_state> job_state_named(const std::string& text);

/// What enqueue() stores: the queue, the message (Protobuf type name and bytes) and options.
struct new_job {
  std::string queue;
  std::string message_type;    ///< full Protobuf name of the message, "payments.ProcessRequest"
  std::string message;         ///< its serialized bytes
  std::int64_t run_at = 0;     ///< when it may run first (ms); <= now: at once
  int priority = 0;            ///< lower runs first among due jobs; 0 .. 9
  int max_attempts = 20;       ///< >= 1
  std::int64_t timeout_ms = 0; ///< per attempt; 0 = the queue's default
  std::string unique_key;      ///< empty = not unique
  std::int64_t unique_period_ms = 0; ///< how long the key stays taken (> 0 with a key)
};

/// The error of one failed attempt.
struct job_error {
  int attempt = 0;
  std::int64_t at = 0; ///< ms
  std::string message;
};

/// Who holds an attempt: the node that claimed it and the instance (incarnation) of that node's
/// process, so that a restarted node with the same name is told apart from the one before.
struct job_holder {
  std::string node;     ///< the node's name; empty for a system run in one process
  std::string instance; ///< the process's id (CAF's node id); differs for each process

  friend bool operator==(const job_holder& a, const job_holder& b) {
    return a.node == b.node && a.instance == b.instance;
  }
  friend bool operator!=(const job_holder& a, const job_holder& b) { return !(a == b); }
};

/// A job as stored.
struct job_record {
  std::int64_t id = 0;
  std::string queue;
  std::string message_type;
  std::string message;
  job_state state = job_state::available;
  int attempt = 0; ///< attempts started so far (the running one included)
  int max_attempts = 0;
  int priority = 0;
  std::int64_t run_at = 0;
  std::int64_t timeout_ms = 0;
  std::string unique_key;
  std::int64_t epoch = 0; ///< the fence of the current or last attempt
  std::int64_t inserted_at = 0;
  std::int64_t attempted_at = 0; ///< 0 = never
  std::int64_t finished_at = 0;  ///< completed, discarded or cancelled; 0 = not yet
  job_holder holder;             ///< who claimed the current or last attempt (empty: nobody)
  std::vector<job_error> errors; ///< by attempt
};

/// A claimed job: what a worker needs to run it and to answer for it.
struct claimed_job {
  std::int64_t id = 0;
  std::string queue;
  std::string message_type;
  std::string message;
  int attempt = 0; ///< 1 for the first attempt
  int max_attempts = 0;
  std::int64_t timeout_ms = 0;
  std::int64_t epoch = 0; ///< give it back to complete(), fail(), rescue()
};

/// Which jobs list() answers.
struct job_filter {
  std::string queue;              ///< empty = every queue
  std::optional<job_state> state; ///< none = every state
  std::size_t limit = 100;
};

/// How the store's commits reach the disk (PRAGMA synchronous).
enum class job_sync {
  normal, ///< a commit survives a crash of the process (kill -9), not always a power loss
  full,   ///< a commit survives a power loss too
};

/// One write of a batch (job_store::write_batch): an enqueue, or a worker's completion of the
/// attempt it ran followed by the claim of its next job. Filled in by the batch with its outcome.
struct job_write {
  enum class kind {
    enqueue,            ///< `job` is stored as job_store::enqueue would
    complete_and_claim, ///< attempt `epoch` of job `id` completed (when id != 0), then a claim
  };
  kind what = kind::enqueue;
  new_job job;                 ///< enqueue: the job
  std::int64_t id = 0;         ///< complete_and_claim: the job completed; 0 = claim only
  std::int64_t epoch = 0;      ///< complete_and_claim: the attempt's fence
  std::string queue;           ///< complete_and_claim: the queue to claim from
  std::size_t claim_limit = 1; ///< complete_and_claim: how many jobs to claim (0: none)

  // The outcome.
  caf::error error;                 ///< this write failed and wrote nothing (others did)
  enqueued_job enqueued;            ///< enqueue: the job's id, or the holder's for a duplicate
  caf::error refused;               ///< complete_and_claim: what complete() would refuse
  std::vector<claimed_job> claimed; ///< complete_and_claim: the jobs claimed

  /// A write that enqueues `job`.
  static job_write enqueue_of(new_job job);
  /// A write that completes attempt `epoch` of job `id` (id 0: nothing to complete) and then
  /// claims up to `limit` jobs of `queue`.
  static job_write complete_and_claim_of(std::int64_t id, std::int64_t epoch, std::string queue,
                                         std::size_t limit = 1);
};

/// The jobs of one system.
class job_store {
public:
  /// Opens (creating when missing) the SQLite store in `file`, in WAL mode, with the schema. A file
  /// that is not a database, is locked by another process past the busy timeout, or cannot be
  /// written is an error naming the file and the reason. A file made before attempts had
  /// holders gets the holder columns (its executing jobs: held by nobody). `holder`: who this
  /// store's claims are recorded for.
  static caf::expected<std::unique_ptr<job_store>>
  open(const std::filesystem::path& file, job_sync sync = job_sync::full, job_holder holder = {});

  /// Opens the store `database` names: a PostgreSQL URL (`postgresql://` or `postgres://`,
  /// libpq's URI form: postgres_job_store.hpp; `sync` is then the server's affair) or else a
  /// SQLite file as open() does. A server that cannot be reached or refuses the connection is
  /// errc::service_unavailable naming the server (never its password).
  static caf::expected<std::unique_ptr<job_store>> open_database(const std::string& database,
                                                                 job_sync sync = job_sync::full,
                                                                 job_holder holder = {});

  virtual ~job_store();
  job_store(const job_store&) = delete;
  job_store& operator=(const job_store&) = delete;

  /// Stores `job` (state available, or scheduled when run_at > now) and returns once committed.
  /// errc::invalid_argument for an empty queue or type, attempts < 1, a key without a period.
  virtual caf::expected<enqueued_job> enqueue(const new_job& job, std::int64_t now) = 0;

  /// Claims up to `limit` due jobs of `queue` (see the contract above); none when none is due.
  virtual caf::expected<std::vector<claimed_job>> claim(const std::string& queue, std::size_t limit,
                                                        std::int64_t now) = 0;

  /// Marks the attempt `epoch` of job `id` completed. errc::failed_precondition when the job
  /// is not executing under that epoch any more (a stale completion), errc::not_found when
  /// there is no such job.
  virtual caf::error complete(std::int64_t id, std::int64_t epoch, std::int64_t now) = 0;

  /// complete() and then claim(queue, 1) in one write transaction: what a worker does between
  /// two jobs, for one commit instead of two. `refused` is what complete() would answer (a stale
  /// or unknown attempt does not stop the claim); an error of the store itself writes nothing.
  virtual caf::expected<std::vector<claimed_job>>
  complete_and_claim(std::int64_t id, std::int64_t epoch, const std::string& queue,
                     std::int64_t now, caf::error& refused) = 0;

  /// Runs `writes` in one write transaction, in order, each as enqueue() or
  /// complete_and_claim() would and in a savepoint of its own: group commit, one commit (and
  /// one WAL sync) for writes that would each have made one. A write that fails gets its
  /// `error` and leaves nothing behind while the others go on; a duplicate unique key inside
  /// the batch is a duplicate of the job enqueued before it. Answers an error of the
  /// transaction itself (no BEGIN, a failed COMMIT): then nothing was written, and every write
  /// has that error.
  virtual caf::error write_batch(std::vector<job_write>& writes, std::int64_t now) = 0;

  /// Records `message` as the error of the attempt `epoch` of job `id` and makes the job
  /// retryable at `retry_at`, or discarded when it was its last attempt. Refused as complete().
  /// Answers the state the job is in afterwards.
  virtual caf::expected<job_state> fail(std::int64_t id, std::int64_t epoch,
                                        const std::string& message, std::int64_t retry_at,
                                        std::int64_t now) = 0;

  /// As fail(), with the job due at once (run_at = now): for an attempt whose worker crashed.
  virtual caf::expected<job_state> rescue(std::int64_t id, std::int64_t epoch,
                                          const std::string& message, std::int64_t now) = 0;

  /// Gives back the attempt `epoch` of job `id`, claimed but never started (its worker exited
  /// before it could run it): the job is due again at once as it was before the claim (its
  /// attempt count back, no error recorded, held by nobody), with a new epoch. Refused as
  /// complete().
  virtual caf::error release(std::int64_t id, std::int64_t epoch, std::int64_t now) = 0;

  /// Makes every executing job available again at once, in its place among the due jobs (each
  /// gets a new epoch, so an answer of the attempt it was in is refused); answers how many.
  /// Called when a node starts, for the jobs a process killed before could not answer for.
  virtual caf::expected<std::size_t> rescue_executing(std::int64_t now) = 0;

  /// For a node of a cluster at start: rescues (as rescue_holder) the executing jobs held by
  /// this store's node name under another instance: its previous process, which cannot be
  /// running them. Answers how many.
  virtual caf::expected<std::size_t> rescue_previous_instances(std::int64_t now) = 0;

  /// Rescues the executing jobs held by `lost` whose attempt was claimed at or before
  /// `claimed_until` (a claim made after the holder was seen lost, by a holder that came back,
  /// is left alone): each attempt counts as failed with `reason` (recorded as its error), and the
  /// job is due at once, or discarded when it was its last attempt; each gets a new epoch, so
  /// the lost attempt's late answer is refused. Idempotent: several nodes may rescue the same
  /// holder at once. Answers how many jobs it rescued.
  virtual caf::expected<std::size_t> rescue_holder(const job_holder& lost,
                                                   std::int64_t claimed_until,
                                                   const std::string& reason, std::int64_t now) = 0;

  /// The holders of the jobs executing now, each once.
  virtual caf::expected<std::vector<job_holder>> executing_holders() = 0;

  /// Who this store's claims are recorded for.
  const job_holder& holder() const noexcept;

  /// Cancels job `id` unless it is completed, discarded or cancelled already
  /// (errc::failed_precondition); an executing one gets a new epoch, so its answer is refused.
  virtual caf::error cancel(std::int64_t id, std::int64_t now) = 0;

  /// Makes a discarded, cancelled or completed job (or a waiting one) available at once, with
  /// room for one more attempt. errc::failed_precondition for an executing job.
  virtual caf::error retry(std::int64_t id, std::int64_t now) = 0;

  /// The job `id` with its errors, or nothing.
  virtual caf::expected<std::optional<job_record>> find(std::int64_t id) = 0;

  /// The jobs matching `filter` with their errors, newest first.
  virtual caf::expected<std::vector<job_record>> list(const job_filter& filter) = 0;

  /// How many jobs each queue has in each state (states with none left out).
  virtual caf::expected<std::map<std::string, std::map<job_state, std::int64_t>>> stats() = 0;

  /// The earliest run_at of the waiting jobs of `queue`, or nothing when none waits.
  virtual caf::expected<std::optional<std::int64_t>> next_run_at(const std::string& queue) = 0;

  /// Where the jobs are, for messages: the SQLite file, or the PostgreSQL server and database
  /// (without a password).
  virtual std::string where() const = 0;

  // Cron schedules (docs/jobs.md, "Cron"). Each tick of a schedule is a row of cron_ticks,
  // (schedule, tick_at) its primary key, inserted in the transaction of its job: a tick is
  // enqueued once, whichever node or restarted process gets there first.

  /// Records that the schedule `name` (expression `expression` in zone `zone`) is in force at
  /// `now`, and answers the instant (ms) after which its missed ticks are counted: its last
  /// recorded tick, or when it was first seen with this expression and zone (a schedule seen
  /// for the first time, or whose expression or zone changed, counts from `now`).
  virtual caf::expected<std::int64_t> cron_seen(const std::string& name,
                                                const std::string& expression,
                                                const std::string& zone, std::int64_t now) = 0;

  /// Enqueues `job` for the tick `tick_at` (ms) of the schedule `name`: the tick's row and the
  /// job's in one transaction. A tick recorded already changes nothing and answers its job's id
  /// with duplicate = true (not an error). Only the newest cron_ticks_kept ticks of a schedule
  /// are kept: the older rows are deleted, and a tick older than the oldest kept one (its
  /// schedule's floor) is refused the same way, with job id 0, so that a pruned tick is never
  /// enqueued again (a node resuming from a long freeze and catching up, say).
  virtual caf::expected<enqueued_job> enqueue_cron_tick(const std::string& name,
                                                        std::int64_t tick_at, const new_job& job,
                                                        std::int64_t now) = 0;

  /// How many ticks of a schedule the store keeps (enqueue_cron_tick).
  static constexpr std::int64_t cron_ticks_kept = 1000;

  /// The ticks recorded for the schedule `name` (tick_at ms, job id), oldest first.
  virtual caf::expected<std::vector<std::pair<std::int64_t, std::int64_t>>>
  cron_ticks(const std::string& name) = 0;

protected:
  explicit job_store(job_holder holder);

private:
  job_holder holder_;
};

/// Whether `database` (the `[jobs] database` setting) names a PostgreSQL server.
bool is_postgres_url(const std::string& database);

/// Milliseconds since the Unix epoch, from the system clock.
std::int64_t job_clock_now();

} // namespace microlith
