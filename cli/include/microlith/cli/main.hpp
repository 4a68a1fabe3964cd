// The `microlith` command as a library: a program that links its modules and calls
// microlith::cli::main gets `microlith run FILE`, `microlith check FILE` and
// `microlith modules` for exactly the modules linked into it.
#pragma once

namespace microlith::cli {

/// Runs the command line; answers the process exit code.
int main(int argc, char** argv);

} // namespace microlith::cli
