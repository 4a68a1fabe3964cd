#include "jobs_commands.hpp"

#include "admin_client.hpp"

#include "proto/microlith_jobs.pb.h"

#include <google/protobuf/util/json_util.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <vector>

namespace microlith::cli {

namespace {

namespace pb = microlith::jobs::v1;

constexpr std::string_view endpoint_hint =
  "its gateway group needs admin = true in its [http] table, and the system a [jobs] database";

void print_job(const pb::Job& job) {
  fmt::print("job {} ({}): {}, attempt {} of {}, runs at {}\n", job.id(), job.queue(), job.state(),
             job.attempt(), job.max_attempts(), utc(job.run_at_ms()));
  for (const auto& e : job.errors())
    fmt::print("  attempt {} at {}: {}\n", e.attempt(), utc(e.at_ms()), e.message());
}

constexpr const char* states[] = {"available", "scheduled", "executing", "retryable",
                                  "completed", "discarded", "cancelled"};

} // namespace

int job_stats(const std::string& url) {
  admin_call call;
  call.verb = "GET";
  call.target = "/_microlith/jobs";
  pb::JobStats stats;
  if (int code = call_admin_json("microlith jobs stats", url, call, endpoint_hint, stats);
      code != 0)
    return code;
  if (stats.queues_size() == 0) {
    fmt::print("no job queues\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"QUEUE"}};
  for (const auto* s : states)
    rows.front().push_back(s);
  for (const auto& q : stats.queues()) {
    std::vector<std::string> row{q.queue()};
    for (const auto* s : states) {
      auto i = q.states().find(s);
      row.push_back(std::to_string(i == q.states().end() ? 0 : i->second));
    }
    rows.push_back(std::move(row));
  }
  print_table(rows);
  return 0;
}

int list_jobs(const std::string& url, const std::string& queue, const std::string& state,
              unsigned limit) {
  admin_call call;
  call.verb = "GET";
  call.target = "/_microlith/jobs/list";
  std::vector<std::string> query;
  if (!queue.empty())
    query.push_back("queue=" + url_encode(queue));
  if (!state.empty())
    query.push_back("state=" + url_encode(state));
  if (limit > 0)
    query.push_back(fmt::format("limit={}", limit));
  for (std::size_t i = 0; i < query.size(); ++i)
    call.target += (i == 0 ? "?" : "&") + query[i];
  pb::JobList list;
  if (int code = call_admin_json("microlith jobs list", url, call, endpoint_hint, list); code != 0)
    return code;
  if (list.jobs_size() == 0) {
    fmt::print("no jobs\n");
    return 0;
  }
  for (const auto& job : list.jobs())
    print_job(job);
  return 0;
}

int retry_job(const std::string& url, std::int64_t id) {
  admin_call call;
  call.target = fmt::format("/_microlith/jobs/{}/retry", id);
  pb::Job job;
  if (int code = call_admin_json("microlith jobs retry", url, call, endpoint_hint, job); code != 0)
    return code;
  print_job(job);
  return 0;
}

int cancel_job(const std::string& url, std::int64_t id) {
  admin_call call;
  call.target = fmt::format("/_microlith/jobs/{}/cancel", id);
  pb::Job job;
  if (int code = call_admin_json("microlith jobs cancel", url, call, endpoint_hint, job); code != 0)
    return code;
  print_job(job);
  return 0;
}

} // namespace microlith::cli
