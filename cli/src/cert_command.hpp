// `microlith cert new DIR [--nodes a,b,c] [--force]` (docs/cluster.md, "Security"): self-signed
// certificates for encrypted, pinned node links, and the system file lines that use them.
#pragma once

#include <string>

namespace microlith::cli {

/// Writes DIR/cluster.pem and DIR/cluster.key, or with `nodes` (comma-separated node names)
/// DIR/NAME.pem and DIR/NAME.key for each; prints each file's fingerprint and the [cluster.tls]
/// or [nodes.NAME.tls] lines to paste. Answers the exit code: 0 written, 1 a file exists
/// (without `force`) or cannot be written, 2 bad arguments.
int new_certificates(const std::string& dir, const std::string& nodes, bool force);

} // namespace microlith::cli
