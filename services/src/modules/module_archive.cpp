// A module archive is a POSIX ustar file: for each entry a 512-byte header (name, octal mode,
// size and checksum, type '0') and its bytes padded to 512, then two zero blocks. Written
// reproducibly (owner 0, mode 0644, time 0); read strictly (module_archive.hpp).
#include "microlith/services/module_archive.hpp"

#include "microlith/actors/error.hpp"

#include <fmt/format.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <set>

namespace microlith {

namespace {

constexpr std::size_t block = 512;
constexpr std::size_t name_field = 100;

// Header fields: offset and width (POSIX.1-1988 ustar).
struct field {
  std::size_t offset;
  std::size_t width;
};
constexpr field f_name{0, 100};
constexpr field f_mode{100, 8};
constexpr field f_uid{108, 8};
constexpr field f_gid{116, 8};
constexpr field f_size{124, 12};
constexpr field f_mtime{136, 12};
constexpr field f_checksum{148, 8};
constexpr field f_type{156, 1};
constexpr field f_magic{257, 6};
constexpr field f_version{263, 2};
constexpr field f_prefix{345, 155};

std::string shown_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '\0')
      out += "\\0";
    else if (c == '"' || c == '\\')
      out += {'\\', c};
    else
      out += c;
  }
  return fmt::format("\"{}\"", out);
}

// Why `name` cannot be an entry's name, or nothing.
std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty())
    return "an empty name";
  if (name.find('\0') != std::string_view::npos)
    return "a NUL character in its name";
  if (name.find('\\') != std::string_view::npos)
    return "a backslash in its name";
  if (name.front() == '/')
    return "an absolute name (entries are relative to the archive)";
  std::size_t start = 0;
  for (;;) {
    auto end = name.find('/', start);
    auto segment = name.substr(start, end == std::string_view::npos ? end : end - start);
    if (segment.empty())
      return "an empty path segment in its name";
    if (segment == "." || segment == "..")
      return fmt::format("a \"{}\" segment in its name (entries stay inside the archive)", segment);
    if (end == std::string_view::npos)
      return std::nullopt;
    start = end + 1;
  }
}

caf::error refuse(std::string message) {
  return make_error(errc::invalid_argument, std::move(message));
}

void put(std::string& header, field f, std::string_view value) {
  std::copy(value.begin(), value.begin() + std::min(value.size(), f.width),
            header.begin() + static_cast<std::ptrdiff_t>(f.offset));
}

// `value` as `width - 1` octal digits and a NUL.
void put_octal(std::string& header, field f, std::uint64_t value) {
  put(header, f, fmt::format("{:0{}o}", value, f.width - 1));
}

std::uint32_t checksum_of(std::string_view header) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i < block; ++i) {
    bool in_checksum = i >= f_checksum.offset && i < f_checksum.offset + f_checksum.width;
    sum += in_checksum ? static_cast<unsigned char>(' ') : static_cast<unsigned char>(header[i]);
  }
  return sum;
}

// An octal number field (leading spaces, digits, then NULs or spaces), or nothing.
std::optional<std::uint64_t> read_octal(std::string_view header, field f) {
  auto text = header.substr(f.offset, f.width);
  std::size_t i = 0;
  while (i < text.size() && text[i] == ' ')
    ++i;
  std::uint64_t value = 0;
  std::size_t digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '7'; ++i, ++digits) {
    if (value > (UINT64_MAX >> 3))
      return std::nullopt;
    value = value * 8 + static_cast<std::uint64_t>(text[i] - '0');
  }
  for (; i < text.size(); ++i)
    if (text[i] != '\0' && text[i] != ' ')
      return std::nullopt;
  if (digits == 0)
    return std::nullopt;
  return value;
}

// A NUL-terminated string field (the whole field when it has no NUL).
std::string_view read_string(std::string_view header, field f) {
  auto text = header.substr(f.offset, f.width);
  return text.substr(0, text.find('\0'));
}

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

std::size_t padded(std::size_t size) {
  return (size + block - 1) / block * block;
}

} // namespace

caf::expected<std::string> write_archive(const std::vector<archive_entry>& entries) {
  std::set<std::string_view> seen;
  std::string out;
  for (const auto& e : entries) {
    if (auto problem = name_problem(e.name))
      return refuse(fmt::format("entry {}: {}", shown_name(e.name), *problem));
    if (e.name.size() > name_field)
      return refuse(fmt::format("entry {}: a name of {} characters (at most {})",
                                shown_name(e.name), e.name.size(), name_field));
    if (!seen.insert(e.name).second)
      return refuse(fmt::format("entry {}: a second entry of that name", shown_name(e.name)));
    std::string header(block, '\0');
    put(header, f_name, e.name);
    put_octal(header, f_mode, 0644);
    put_octal(header, f_uid, 0);
    put_octal(header, f_gid, 0);
    put_octal(header, f_size, e.bytes.size());
    put_octal(header, f_mtime, 0);
    put(header, f_type, "0");
    put(header, f_magic, std::string_view{"ustar\0", 6});
    put(header, f_version, "00");
    // Six octal digits, a NUL and a space, as tar writes it.
    put(header, f_checksum, fmt::format("{:06o}", checksum_of(header)));
    header[f_checksum.offset + 6] = '\0';
    header[f_checksum.offset + 7] = ' ';
    out += header;
    out += e.bytes;
    out.append(padded(e.bytes.size()) - e.bytes.size(), '\0');
  }
  out.append(2 * block, '\0');
  return out;
}

caf::expected<std::vector<archive_entry>> read_archive(std::string_view bytes,
                                                       const archive_limits& limits) {
  if (bytes.size() > limits.max_bytes)
    return refuse(
      fmt::format("the archive is {} bytes, over the limit of {}", bytes.size(), limits.max_bytes));
  std::vector<archive_entry> entries;
  std::set<std::string> seen;
  std::size_t at = 0;
  for (;;) {
    if (bytes.size() - at < block) {
      if (entries.empty() && bytes.empty())
        return refuse("the archive is empty (not a tar file)");
      return refuse(fmt::format(
        "the archive is truncated: it ends at byte {} without the two "
        "zero blocks that close a tar file{}",
        bytes.size(),
        entries.empty() ? std::string{}
                        : fmt::format(" (after entry {})", shown_name(entries.back().name))));
    }
    auto header = bytes.substr(at, block);
    if (all_zero(header)) {
      // The end: a second zero block, then nothing but zeros (tar pads to its record size).
      auto rest = bytes.substr(at + block);
      if (rest.size() < block)
        return refuse(fmt::format("the archive is truncated: it ends after one of the two zero "
                                  "blocks that close a tar file (at byte {})",
                                  bytes.size()));
      if (!all_zero(rest))
        return refuse(fmt::format("the archive has data after its end (byte {}): only zero "
                                  "blocks may follow the last entry",
                                  at + block));
      break;
    }
    std::string name{read_string(header, f_name)};
    auto magic = read_string(header, f_magic);
    if (magic.substr(0, 5) == "ustar") {
      auto prefix = read_string(header, f_prefix);
      if (!prefix.empty())
        name = fmt::format("{}/{}", prefix, name);
    }
    auto what = name.empty() ? fmt::format("the entry at byte {}", at)
                             : fmt::format("entry {}", shown_name(name));
    auto expected_sum = read_octal(header, f_checksum);
    auto sum = checksum_of(header);
    if (!expected_sum)
      return refuse(fmt::format("{}: the header's checksum field is not an octal number (not a "
                                "tar header?)",
                                what));
    if (*expected_sum != sum)
      return refuse(fmt::format("{}: bad header checksum: the header says {:o}, its bytes sum "
                                "to {:o} (the archive is damaged)",
                                what, *expected_sum, sum));
    if (auto problem = name_problem(name))
      return refuse(fmt::format("{}: {}", what, *problem));
    char type = header[f_type.offset];
    if (type != '0' && type != '\0')
      return refuse(fmt::format("{}: type '{}' ({}): only regular files may be in a module "
                                "archive",
                                what, type,
                                type == '5'   ? "a directory"
                                : type == '2' ? "a symbolic link"
                                : type == '1' ? "a hard link"
                                              : "not a regular file"));
    auto size = read_octal(header, f_size);
    if (!size)
      return refuse(fmt::format("{}: the size field is not an octal number", what));
    if (!seen.insert(name).second)
      return refuse(fmt::format("{}: a second entry of that name", what));
    if (entries.size() == limits.max_entries)
      return refuse(
        fmt::format("{}: more than {} entries in the archive", what, limits.max_entries));
    at += block;
    if (*size > bytes.size() - at)
      return refuse(fmt::format("the archive is truncated: {} says {} bytes, {} remain", what,
                                *size, bytes.size() - at));
    auto data = bytes.substr(at, static_cast<std::size_t>(*size));
    auto next = at + padded(data.size());
    if (next > bytes.size())
      return refuse(fmt::format("the archive is truncated: {}'s last block is incomplete", what));
    entries.push_back(archive_entry{std::move(name), std::string{data}});
    at = next;
  }
  return entries;
}

std::string sha256_hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("sha256: OpenSSL's EVP_Digest failed");
  std::string out;
  out.reserve(2 * length);
  for (unsigned i = 0; i < length; ++i)
    out += fmt::format("{:02x}", digest[i]);
  return out;
}

} // namespace microlith
