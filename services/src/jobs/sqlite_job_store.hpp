// The SQLite store of jobs (job_store.hpp): one file in WAL mode, one connection and one mutex
// per store; several stores, in one process or several, may share the file.
#pragma once

#include "microlith/services/job_store.hpp"

#include <filesystem>
#include <memory>
#include <string>

namespace microlith {

class sqlite_job_store final : public job_store {
public:
  /// As job_store::open.
  static caf::expected<std::unique_ptr<sqlite_job_store>> open(const std::filesystem::path& file,
                                                               job_sync sync, job_holder holder);

  ~sqlite_job_store() override;

  /// The store's file.
  const std::filesystem::path& file() const noexcept;

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
  sqlite_job_store(std::unique_ptr<impl> p, job_holder holder);
  std::unique_ptr<impl> impl_;
};

} // namespace microlith
