// `microlith jobs stats|list|retry|cancel URL ...`: a running system's background jobs, through
// its gateway's admin endpoints (docs/jobs.md, docs/admin.md "Jobs"). Each bears
// MICROLITH_ADMIN_TOKEN, prints what happened and answers the exit code: 0 done, 1 refused or
// unreachable (with the server's message, and after 401, 403 or 429 what to do), 2 bad usage.
#pragma once

#include <cstdint>
#include <string>

namespace microlith::cli {

/// GET URL/_microlith/jobs; prints the jobs of each queue by state.
int job_stats(const std::string& url);

/// GET URL/_microlith/jobs/list?queue=Q&state=S&limit=N; prints the jobs, newest first, with
/// the errors of their failed attempts.
int list_jobs(const std::string& url, const std::string& queue, const std::string& state,
              unsigned limit);

/// POST URL/_microlith/jobs/ID/retry; prints the job as it is now.
int retry_job(const std::string& url, std::int64_t id);

/// POST URL/_microlith/jobs/ID/cancel; prints the job as it is now.
int cancel_job(const std::string& url, std::int64_t id);

} // namespace microlith::cli
