// Enqueueing a job inside a transaction of one's own (the outbox pattern, docs/jobs.md): a
// handler that keeps its tables in the job store's SQLite file writes its rows and the job's
// in one transaction, so the job exists exactly when its change does. The same statements and
// unique-key rule as job_store::enqueue, on the caller's connection, with no BEGIN or COMMIT of
// its own: the caller's COMMIT makes the job, its ROLLBACK leaves none.
#pragma once

#include "microlith/actors/call_context.hpp"
#include "microlith/actors/job_options.hpp"
#include "microlith/services/job_store.hpp"

#include <caf/expected.hpp>

#include <cstdint>
#include <string>

struct sqlite3;

namespace microlith {

/// Inserts `job` on `db`, a connection to the job store's file (whose tables job_store::open
/// made) with a write transaction open (errc::failed_precondition when none is). A job whose
/// unique key is held answers the holder's id and duplicate = true and inserts nothing (a
/// savepoint undoes its rows; the caller's own writes stay). Errors as job_store::enqueue; on
/// an error the caller should roll back.
caf::expected<enqueued_job> enqueue_in_transaction(sqlite3* db, const new_job& job,
                                                   std::int64_t now);

/// After the COMMIT of a transaction that enqueued on `queue`: has the idle workers of `queue`
/// claim now rather than at their next poll (`poll_interval`). A cast to the built-in `jobs`
/// service's Wake in the name of the request `ctx` serves; nothing is answered, not even for a
/// queue the system file does not declare.
void wake_job_workers(const call_context& ctx, const std::string& queue);

} // namespace microlith
