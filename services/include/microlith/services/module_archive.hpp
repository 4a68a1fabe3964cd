// A module archive (`NAME-VERSION.mlm`): one uncompressed POSIX tar (ustar) file holding a
// loadable module's library, its contracts and its manifest (module_manifest.hpp). Reading
// checks everything an uploaded file could get wrong before any of it is used: the size, the
// number of entries, that every entry is a regular file whose name stays inside the archive's
// folder (relative, no `..`, no empty or `.` segment, no backslash, no duplicate), and the
// tar checksums. The error says what was wrong and with which entry.
#pragma once

#include <caf/expected.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace microlith {

/// One file of an archive: its path inside the archive ("lib/libacme_statements.so") and bytes.
struct archive_entry {
  std::string name;
  std::string bytes;
};

/// What an archive may hold.
struct archive_limits {
  std::size_t max_bytes = 64u * 1024u * 1024u; ///< the whole archive
  std::size_t max_entries = 64;                ///< files in it
};

/// The archive holding `entries`, in that order. Refuses a name reading_archive() would refuse.
caf::expected<std::string> write_archive(const std::vector<archive_entry>& entries);

/// The entries of the archive `bytes`, in archive order, or an error (errc::invalid_argument)
/// saying what is wrong, naming the entry.
caf::expected<std::vector<archive_entry>> read_archive(std::string_view bytes,
                                                       const archive_limits& limits = {});

/// The SHA-256 digest of `bytes`, as 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

} // namespace microlith
