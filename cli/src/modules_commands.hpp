// `microlith modules install|list|activate|remove URL ...`: the modules installed in a running
// system, through its gateway's admin endpoints (docs/admin.md, "Modules"). Each bears
// MICROLITH_ADMIN_TOKEN, prints what happened and answers the exit code: 0 done, 1 refused or
// unreachable (with the server's message, and after 401, 403 or 429 what to do), 2 bad usage (a
// malformed URL; a missing or unreadable archive).
#pragma once

#include <string>

namespace microlith::cli {

/// What `microlith modules install` sends besides the archive.
struct install_options {
  std::string route_prefix; ///< "" = the archive's own
  bool activate = false;
  std::string node; ///< in a cluster, the node that runs its groups; "" = the receiving node
};

/// POST URL/_microlith/modules with the archive's bytes; prints
/// "installed NAME VERSION (sha256 ...), active, served under PREFIX".
int install_module(const std::string& url, const std::string& archive,
                   const install_options& options);

/// GET URL/_microlith/modules; prints the installed modules as a table.
int list_installed_modules(const std::string& url);

/// POST URL/_microlith/modules/NAME/activate?version=VERSION[&node=NODE].
int activate_module(const std::string& url, const std::string& name, const std::string& version,
                    const std::string& node = {});

/// DELETE URL/_microlith/modules/NAME.
int remove_module(const std::string& url, const std::string& name);

} // namespace microlith::cli
