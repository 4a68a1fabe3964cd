// `microlith routes reload URL`: asks a running gateway's admin endpoint to reread the system
// file and swap its routes, and prints the outcome.
#pragma once

#include <string>

namespace microlith::cli {

/// POSTs to URL/_microlith/reload (URL as "http://host:port"), bearing MICROLITH_ADMIN_TOKEN
/// when it is set (Authorization: Bearer); prints the answer, and after 401, 403 or 429 the
/// server's message and what to do. Answers the
/// exit code: 0 reloaded, 1 refused or unreachable, 2 a malformed URL.
int reload_routes(const std::string& url);

} // namespace microlith::cli
