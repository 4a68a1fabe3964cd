// Module archives (module_archive.hpp): ustar files written and read back, and every way an
// uploaded file can be wrong refused with a message naming the entry.
#include <microlith/actors/error.hpp>
#include <microlith/services/module_archive.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

using Catch::Matchers::Contains;
using microlith::archive_entry;
using microlith::archive_limits;
using microlith::message_of;
using microlith::read_archive;
using microlith::write_archive;

namespace {

constexpr std::size_t block = 512;

std::vector<archive_entry> sample() {
  return {{"manifest.toml", "name = \"acme.statements\"\n"},
          {"lib/libacme_statements.so", std::string(1500, '\x7f')},
          {"empty", ""},
          {"contracts.desc", std::string(block, 'x')}};
}

std::string written(const std::vector<archive_entry>& entries) {
  auto bytes = write_archive(entries);
  REQUIRE(bytes);
  return *bytes;
}

// The refusal's message for `bytes`; fails the test when they are accepted.
std::string refusal(std::string_view bytes, const archive_limits& limits = {}) {
  auto entries = read_archive(bytes, limits);
  REQUIRE_FALSE(entries);
  CHECK(entries.error() == microlith::make_error(microlith::errc::invalid_argument));
  return message_of(entries.error());
}

// Rewrites the checksum of the header at `offset` after its bytes were changed.
void reseal(std::string& bytes, std::size_t offset) {
  for (std::size_t i = 148; i < 156; ++i)
    bytes[offset + i] = ' ';
  unsigned sum = 0;
  for (std::size_t i = 0; i < block; ++i)
    sum += static_cast<unsigned char>(bytes[offset + i]);
  char field[8];
  std::snprintf(field, sizeof field, "%06o", sum);
  for (std::size_t i = 0; i < 6; ++i)
    bytes[offset + 148 + i] = field[i];
  bytes[offset + 154] = '\0';
}

// An archive of one entry whose header name is `name` (written unchecked, with a valid
// checksum), as another tool could have written it.
std::string with_raw_name(std::string_view name, char type = '0') {
  auto bytes = written({{"placeholder", "data"}});
  for (std::size_t i = 0; i < 100; ++i)
    bytes[i] = i < name.size() ? name[i] : '\0';
  bytes[156] = type;
  reseal(bytes, 0);
  return bytes;
}

} // namespace

TEST_CASE("an archive reads back the entries it was written with, in order", "[unit]") {
  auto bytes = written(sample());
  CHECK(bytes.size() % block == 0);
  // Four headers, 1 + 3 + 0 + 1 data blocks, two zero blocks.
  CHECK(bytes.size() == (4 + 5 + 2) * block);
  auto entries = read_archive(bytes);
  REQUIRE(entries);
  REQUIRE(entries->size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(entries->at(i).name == sample().at(i).name);
    CHECK(entries->at(i).bytes == sample().at(i).bytes);
  }
  SECTION("an archive of no entries is two zero blocks") {
    auto empty = written({});
    CHECK(empty == std::string(2 * block, '\0'));
    auto none = read_archive(empty);
    REQUIRE(none);
    CHECK(none->empty());
  }
  SECTION("zero blocks after the end (tar's record padding) are accepted") {
    auto padded = bytes + std::string(8 * block, '\0');
    auto again = read_archive(padded);
    REQUIRE(again);
    CHECK(again->size() == 4);
  }
}

TEST_CASE("an archive's headers are ustar headers tar can read", "[unit]") {
  auto bytes = written({{"lib/libx.so", "abc"}});
  CHECK(bytes.substr(0, 11) == "lib/libx.so");
  CHECK(bytes.substr(124, 12) == std::string("00000000003\0", 12)); // octal size
  CHECK(bytes[156] == '0');
  CHECK(bytes.substr(257, 8)
        == std::string("ustar\0"
                       "00",
                       8));
  CHECK(bytes.substr(block, 3) == "abc");
}

TEST_CASE("write_archive refuses names read_archive would refuse", "[unit]") {
  auto refused = [](std::string name) {
    auto bytes = write_archive({{name, "x"}});
    REQUIRE_FALSE(bytes);
    return message_of(bytes.error());
  };
  CHECK_THAT(refused("/etc/passwd"), Contains("\"/etc/passwd\"") && Contains("absolute"));
  CHECK_THAT(refused("lib/../x"), Contains("\"lib/../x\"") && Contains("\"..\" segment"));
  CHECK_THAT(refused(std::string(101, 'a')), Contains("101 characters (at most 100)"));
  CHECK_THAT(refused(std::string("a\0b", 3)), Contains("entry \"a\\0b\": a NUL character"));
  CHECK_THAT(refused(""), Contains("entry \"\": an empty name"));
  auto twice = write_archive({{"a", "1"}, {"a", "2"}});
  REQUIRE_FALSE(twice);
  CHECK_THAT(message_of(twice.error()), Contains("entry \"a\": a second entry of that name"));
}

TEST_CASE("read_archive refuses an archive over its limits", "[unit]") {
  auto bytes = written(sample());
  SECTION("more bytes than max_bytes") {
    archive_limits limits;
    limits.max_bytes = bytes.size() - 1;
    CHECK_THAT(refusal(bytes, limits),
               Contains(std::to_string(bytes.size()) + " bytes, over the limit of "
                        + std::to_string(bytes.size() - 1)));
  }
  SECTION("more entries than max_entries") {
    archive_limits limits;
    limits.max_entries = 3;
    CHECK_THAT(refusal(bytes, limits), Contains("entry \"contracts.desc\": more than 3 entries"));
  }
}

TEST_CASE("read_archive refuses a truncated archive", "[unit]") {
  auto bytes = written(sample());
  SECTION("inside an entry's data") {
    CHECK_THAT(refusal(bytes.substr(0, 3 * block + 100)),
               Contains("truncated") && Contains("\"lib/libacme_statements.so\""));
  }
  SECTION("without the zero blocks at the end") {
    CHECK_THAT(refusal(bytes.substr(0, bytes.size() - 2 * block)),
               Contains("truncated") && Contains("after entry \"contracts.desc\""));
  }
  SECTION("after the first of the two zero blocks") {
    CHECK_THAT(refusal(bytes.substr(0, bytes.size() - block)),
               Contains("truncated") && Contains("one of the two zero blocks"));
  }
  SECTION("in the middle of a header") {
    CHECK_THAT(refusal(bytes.substr(0, 300)), Contains("truncated"));
  }
  SECTION("empty") {
    CHECK_THAT(refusal(""), Contains("empty"));
  }
}

TEST_CASE("read_archive refuses a header whose checksum is wrong", "[unit]") {
  auto bytes = written(sample());
  bytes[block * 2 + 4] ^= 1; // the second header's name: "lib/l" -> "lib/m"
  CHECK_THAT(refusal(bytes), Contains("entry \"lib/mibacme_statements.so\": bad header checksum"));
}

TEST_CASE("read_archive refuses entries that are not regular files", "[unit]") {
  CHECK_THAT(refusal(with_raw_name("lib", '5')),
             Contains("entry \"lib\": type '5' (a directory)") && Contains("only regular files"));
  CHECK_THAT(refusal(with_raw_name("link", '2')),
             Contains("entry \"link\": type '2' (a symbolic link)"));
  CHECK_THAT(refusal(with_raw_name("hard", '1')), Contains("entry \"hard\": type '1'"));
  // '\0' is the old tar's regular file.
  auto old_style = read_archive(with_raw_name("old", '\0'));
  REQUIRE(old_style);
  CHECK(old_style->at(0).name == "old");
}

TEST_CASE("read_archive refuses names that leave the archive's folder", "[unit]") {
  CHECK_THAT(refusal(with_raw_name("/etc/passwd")),
             Contains("entry \"/etc/passwd\": an absolute name"));
  CHECK_THAT(refusal(with_raw_name("../evil.so")),
             Contains("entry \"../evil.so\": a \"..\" segment"));
  CHECK_THAT(refusal(with_raw_name("lib/../../evil.so")), Contains("a \"..\" segment"));
  CHECK_THAT(refusal(with_raw_name("./manifest.toml")),
             Contains("entry \"./manifest.toml\": a \".\" segment"));
  CHECK_THAT(refusal(with_raw_name("lib//x.so")),
             Contains("entry \"lib//x.so\": an empty path segment"));
  CHECK_THAT(refusal(with_raw_name("lib/")), Contains("entry \"lib/\": an empty path segment"));
  CHECK_THAT(refusal(with_raw_name("lib\\x.so")), Contains("a backslash"));
}

TEST_CASE("read_archive joins a ustar name prefix to the name, and checks the whole", "[unit]") {
  auto bytes = with_raw_name("x.so");
  bytes[345] = 'l'; // prefix "lib"
  bytes[346] = 'i';
  bytes[347] = 'b';
  reseal(bytes, 0);
  auto entries = read_archive(bytes);
  REQUIRE(entries);
  CHECK(entries->at(0).name == "lib/x.so");
  bytes[345] = '.';
  bytes[346] = '.';
  bytes[347] = '\0';
  reseal(bytes, 0);
  CHECK_THAT(refusal(bytes), Contains("entry \"../x.so\": a \"..\" segment"));
}

TEST_CASE("read_archive refuses two entries of the same name", "[unit]") {
  auto one = written({{"lib/a.so", "1"}});
  auto two = written({{"lib/a.so", "2"}});
  // The first archive's entry, then the second's entry and end.
  auto bytes = one.substr(0, 2 * block) + two;
  CHECK_THAT(refusal(bytes), Contains("entry \"lib/a.so\": a second entry of that name"));
}

TEST_CASE("read_archive refuses data after the end of the archive", "[unit]") {
  auto bytes = written(sample()) + std::string(block, '\0');
  bytes[bytes.size() - 10] = 'x';
  CHECK_THAT(refusal(bytes), Contains("data after its end") && Contains("only zero blocks"));
}

TEST_CASE("sha256_hex gives the digest as 64 lowercase hex digits", "[unit]") {
  CHECK(microlith::sha256_hex("")
        == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(microlith::sha256_hex("abc")
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
