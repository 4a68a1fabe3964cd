// `microlith toggle set|get|list|history URL ...`: a running system's feature toggles, through
// its gateway's admin endpoints (docs/toggles.md, docs/admin.md "Toggles"). Each bears
// MICROLITH_ADMIN_TOKEN, prints what happened and answers the exit code: 0 done, 1 refused or
// unreachable (with the server's message, and after 401, 403 or 429 what to do), 2 bad usage.
#pragma once

#include <optional>
#include <string>

namespace microlith::cli {

/// What `microlith toggle set` changes; what is not given stays.
struct toggle_change {
  std::string boolean;                    ///< "on", "off" or "" (unchanged)
  std::optional<std::string> actors;      ///< --actors a,b: these keys on, no other
  std::optional<std::string> groups;      ///< --groups g,h: these groups on, no other
  std::optional<unsigned> percent_actors; ///< --percent-actors N
  std::optional<unsigned> percent_time;   ///< --percent-time N
};

/// POST URL/_microlith/toggles/NAME?...; prints the toggle as it is now.
int set_toggle(const std::string& url, const std::string& name, const toggle_change& change);

/// GET URL/_microlith/toggles/NAME; prints the toggle.
int get_toggle(const std::string& url, const std::string& name);

/// GET URL/_microlith/toggles; prints every toggle as a table, then the groups.
int list_toggles(const std::string& url);

/// GET URL/_microlith/toggles/_history[?name=NAME]; prints the changes, newest first.
int toggle_history(const std::string& url, const std::string& name);

/// POST URL/_microlith/toggles/_groups/GROUP?keys=a,b; prints the group's members.
int set_toggle_group(const std::string& url, const std::string& group, const std::string& keys);

} // namespace microlith::cli
