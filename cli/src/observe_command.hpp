// `microlith observe URL [--watch] [--json]` (docs/observer.md): the system view of a running
// system's gateway (GET /_microlith/observer), as tables and trees in a terminal, redrawn every
// second with --watch, or as JSON for scripts.
#pragma once

#include <string>

namespace microlith::cli {

/// What `microlith observe` was asked.
struct observe_options {
  bool watch = false;     ///< redraw every second until interrupted
  bool json = false;      ///< print the view as one JSON document (one per line with watch)
  unsigned requests = 10; ///< how many requests of the log to show
};

/// Runs `microlith observe URL`; answers the exit code (0, 1 refused or unreachable, 2 a
/// malformed URL).
int observe(const std::string& url, const observe_options& options);

} // namespace microlith::cli
