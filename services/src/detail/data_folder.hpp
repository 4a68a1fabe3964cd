// The system's data folder: where what must survive a restart is kept (the toggle values, the
// job store, installed modules, and the files modules keep, such as the bank's ledger). It is
// `[system] data` (relative to the system file's folder), or `microlith run --data DIR`, or else
// the system file's folder. Every relative path of such a file is resolved against it, here.
#pragma once

#include <string>
#include <string_view>

namespace microlith::detail {

/// `path` when absolute, else `path` inside `data_folder`; lexically normal.
std::string in_data_folder(std::string_view data_folder, std::string_view path);

/// The data folder when the file says none: the folder of the system file at `system_file`
/// (empty for a file named without a folder: the working directory).
std::string default_data_folder(std::string_view system_file);

} // namespace microlith::detail
