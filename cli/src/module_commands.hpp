// `microlith package BUILD_DIR NAME [-o FILE]` and `microlith check FILE.mlm`: making a module
// archive from what the build of a loadable module left in BUILD_DIR, and checking one offline
// (module_manifest.hpp). Neither loads the module's library.
#pragma once

#include <string>

namespace microlith::cli {

/// Reads BUILD_DIR/microlith-modules/NAME.module.toml and the files it names, and writes the
/// archive to `output` (NAME-VERSION.mlm in the current folder when empty). Prints what it wrote
/// and answers 0, or prints why not and answers 1.
int package_module(const std::string& build_dir, const std::string& name,
                   const std::string& output);

/// Opens the archive at `path` (open_package), compares its ABI with this process's, builds its
/// contracts in a fresh descriptor pool and parses its routes. Prints a summary and answers 0,
/// or prints every problem and answers 1.
int check_module_archive(const std::string& path);

} // namespace microlith::cli
