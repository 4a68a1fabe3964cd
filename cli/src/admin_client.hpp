// `microlith routes reload URL`: asks a running gateway's admin endpoint to reread the system
// file and swap its routes, and prints the outcome.
#pragma once

#include <string>

namespace microlith::cli {

/// POSTs to URL/_microlith/reload (URL as "http://host:port"); prints the answer. Answers the
/// exit code: 0 reloaded, 1 refused or unreachable, 2 a malformed URL.
int reload_routes(const std::string& url);

} // namespace microlith::cli
