// The PostgreSQL store of jobs (job_store.hpp), for systems whose job-running nodes are on
// several machines and share one database: `[jobs] database = "postgresql://USER@HOST/DB"`.
// Tables in the schema `microlith` (made on first use, under an advisory lock so that nodes
// starting at once make them once); claims take the due rows with FOR UPDATE SKIP LOCKED, so
// nodes claiming at once never wait for each other nor get the same job; unique keys and cron
// ticks are decided by primary keys inside the writer's transaction, as with SQLite. One libpq
// connection and one mutex per store; a connection the server closed is reset on the next use.
#pragma once

#include "microlith/services/job_store.hpp"

#include <memory>
#include <string>

namespace microlith {

class postgres_job_store final : public job_store {
public:
  /// Connects to `url` (libpq's URI form, `postgresql://` or `postgres://`) and makes the
  /// schema when missing. errc::service_unavailable naming the server (without its password) when
  /// it cannot be reached or refuses the connection.
  static caf::expected<std::unique_ptr<postgres_job_store>> open(const std::string& url,
                                                                 job_holder holder);

  ~postgres_job_store() override;

  caf::expected<enqueued_job> enqueue(const new_job& job, std::int64_t now) override;
  caf::expected<std::vector<claimed_job>> claim(const std::string& queue, std::size_t limit,
                                                std::int64_t now) override;
  caf::error complete(std::int64_t id, std::int64_t epoch, std::int64_t now) override;
  caf::expected<std::vector<claimed_job>> complete_and_claim(std::int64_t id, std::int64_t epoch,
                                                             const std::string& queue,
                                                             std::int64_t now,
                                                             caf::error& refused) override;
  caf::error write_batch(std::vector<job_write>& writes, std::int64_t now) override;
  caf::expected<job_state> fail(std::int64_t id, std::int64_t epoch, const std::string& message,
                                std::int64_t retry_at, std::int64_t now) override;
  caf::expected<job_state> rescue(std::int64_t id, std::int64_t epoch, const std::string& message,
                                  std::int64_t now) override;
  caf::error release(std::int64_t id, std::int64_t epoch, std::int64_t now) override;
  caf::expected<std::size_t> rescue_executing(std::int64_t now) override;
  caf::expected<std::size_t> rescue_previous_instances(std::int64_t now) override;
  caf::expected<std::size_t> rescue_holder(const job_holder& lost, std::int64_t claimed_until,
                                           const std::string& reason, std::int64_t now) override;
  caf::expected<std::vector<job_holder>> executing_holders() override;
  caf::error cancel(std::int64_t id, std::int64_t now) override;
  caf::error retry(std::int64_t id, std::int64_t now) override;
  caf::expected<std::optional<job_record>> find(std::int64_t id) override;
  caf::expected<std::vector<job_record>> list(const job_filter& filter) override;
  caf::expected<std::map<std::string, std::map<job_state, std::int64_t>>> stats() override;
  caf::expected<std::optional<std::int64_t>> next_run_at(const std::string& queue) override;
  std::string where() const override;
  caf::expected<std::int64_t> cron_seen(const std::string& name, const std::string& expression,
                                        const std::string& zone, std::int64_t now) override;
  caf::expected<enqueued_job> enqueue_cron_tick(const std::string& name, std::int64_t tick_at,
                                                const new_job& job, std::int64_t now) override;
  caf::expected<std::vector<std::pair<std::int64_t, std::int64_t>>>
  cron_ticks(const std::string& name) override;

private:
  struct impl;
  postgres_job_store(std::unique_ptr<impl> p, job_holder holder);
  std::unique_ptr<impl> impl_;
};

/// `url` with its password (if any) replaced by "***", for messages and logs.
std::string without_password(const std::string& url);

} // namespace microlith
