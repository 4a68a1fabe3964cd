// What every job store shares (job_store.hpp): the states' names, the clock, the writes of a
// batch, and the choice of a store by the `[jobs] database` setting.
#include "microlith/services/job_store.hpp"

#include "jobs/postgres_job_store.hpp"
#include "jobs/sqlite_job_store.hpp"

#include <chrono>
#include <iterator>
#include <utility>

namespace microlith {

namespace {

constexpr const char* state_names[] = {"available", "scheduled", "executing", "retryable",
                                       "completed", "discarded", "cancelled"};

} // namespace

const char* to_string(job_state state) {
  return state_names[static_cast<int>(state)];
}

std::optional<job_state> job_state_named(const std::string& text) {
  for (int i = 0; i < static_cast<int>(std::size(state_names)); ++i)
    if (text == state_names[i])
      return static_cast<job_state>(i);
  return std::nullopt;
}

std::int64_t job_clock_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

job_write job_write::enqueue_of(new_job job) {
  job_write w;
  w.what = kind::enqueue;
  w.job = std::move(job);
  return w;
}

job_write job_write::complete_and_claim_of(std::int64_t id, std::int64_t epoch, std::string queue,
                                           std::size_t limit) {
  job_write w;
  w.what = kind::complete_and_claim;
  w.id = id;
  w.epoch = epoch;
  w.queue = std::move(queue);
  w.claim_limit = limit;
  return w;
}

job_store::job_store(job_holder holder) : holder_(std::move(holder)) {}

job_store::~job_store() = default;

const job_holder& job_store::holder() const noexcept {
  return holder_;
}

caf::expected<std::unique_ptr<job_store>> job_store::open(const std::filesystem::path& file,
                                                          job_sync sync, job_holder holder) {
  auto store = sqlite_job_store::open(file, sync, std::move(holder));
  if (!store)
    return std::move(store.error());
  return std::unique_ptr<job_store>(std::move(*store));
}

bool is_postgres_url(const std::string& database) {
  return database.rfind("postgresql://", 0) == 0 || database.rfind("postgres://", 0) == 0;
}

caf::expected<std::unique_ptr<job_store>>
job_store::open_database(const std::string& database, job_sync sync, job_holder holder) {
  if (!is_postgres_url(database))
    return open(database, sync, std::move(holder));
  auto store = postgres_job_store::open(database, std::move(holder));
  if (!store)
    return std::move(store.error());
  return std::unique_ptr<job_store>(std::move(*store));
}

} // namespace microlith
