// Reading the system file's job tables: the system-wide [jobs] table (system_config::jobs) and
// a group's [groups.NAME.jobs] table of queues (group_config::job_queues). Called by the parser
// (system_file.cpp); reports mistakes the way the parser does, with the file, line, column and
// dotted key.
#pragma once

#include "microlith/services/system_file.hpp"

#include <string>
#include <vector>

#include <toml++/toml.h>

namespace microlith::detail {

/// The [jobs] table `table` of the system file at `path`; a relative database is resolved
/// against `data_folder` (data_folder.hpp). Each mistake is appended to `errors`; what is wrong
/// keeps its default.
jobs_config read_jobs_settings(const toml::table& table, const std::string& path,
                               const std::string& data_folder,
                               std::vector<system_file_error>& errors);

/// The queues of a group's jobs table `table`, whose dotted key is `key`
/// ("groups.payments.jobs"): one sub-table per queue.
std::vector<job_queue_config> read_job_queues(const toml::table& table, const std::string& key,
                                              const std::string& path,
                                              std::vector<system_file_error>& errors);

} // namespace microlith::detail
