// The store of installed modules (module_store.hpp, docs/modules.md): a real SQLite registry and
// real folders in a temp folder. Versions added, found, listed, activated, deactivated and
// removed; the same archive again answered unchanged, another one refused; names that would
// lead out of the folder refused; what a reopened store reads; and a child process killed with
// SIGKILL in the middle of adds and removes leaving a store that open() makes consistent.
#include <microlith/actors/error.hpp>
#include <microlith/services/module_store.hpp>

#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using microlith::archive_entry;
using microlith::errc;
using microlith::installed_module;
using microlith::module_store;

namespace {

/// A stand-in digest: 64 hex digits made of `seed` (the store compares digests, never computes
/// them).
std::string digest(std::uint64_t seed) {
  return fmt::format("{:016x}{:016x}{:016x}{:016x}", seed, seed * 3, seed * 5, seed * 7);
}

installed_module module_named(const std::string& name, const std::string& version,
                              std::uint64_t seed = 1) {
  installed_module m;
  m.name = name;
  m.version = version;
  m.sha256 = digest(seed);
  return m;
}

/// `size` bytes that depend on `seed` and on each byte's offset.
std::string pattern(std::uint64_t seed, std::size_t size) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    out[i] = static_cast<char>((seed * 131 + i * 7 + (i >> 10)) & 0xff);
  return out;
}

std::vector<archive_entry> small_files(std::uint64_t seed = 1) {
  return {{"manifest.toml", "name = \"x\"\n"},
          {"lib/libx.so", pattern(seed, 4096)},
          {"lib/deep/er/data.bin", pattern(seed + 1, 100)}};
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::unique_ptr<module_store> open_store(const fs::path& dir) {
  auto store = module_store::open(dir);
  INFO((store ? std::string() : microlith::describe(store.error())));
  REQUIRE(store);
  return std::move(*store);
}

/// The versions of `store` as "name version" strings, in list() order.
std::vector<std::string> listed(const module_store& store) {
  std::vector<std::string> out;
  for (const auto& m : store.list())
    out.push_back(m.name + " " + m.version + (m.active ? " active" : ""));
  return out;
}

} // namespace

TEST_CASE("module_store stores a version's files and row, and reads them back", "[unit]") {
  test_support::temp_folder temp{"module-store"};
  const fs::path dir = temp.path() / "modules";
  auto store = open_store(dir);
  CHECK(store->dir() == dir);
  CHECK(fs::is_regular_file(dir / "registry.sqlite"));
  CHECK(fs::is_directory(dir / ".incoming"));
  CHECK(store->list().empty());

  auto m = module_named("acme.statements", "1.2.0");
  m.route_prefix = "/clients/acme";
  m.node = "a";
  m.active = true;    // ignored: a new version is inactive
  m.installed_at = 7; // ignored: the store sets it
  const auto before = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  auto added = store->add(m, small_files());
  INFO((added ? std::string() : microlith::describe(added.error())));
  REQUIRE(added);
  CHECK(added->name == "acme.statements");
  CHECK(added->version == "1.2.0");
  CHECK(added->sha256 == digest(1));
  CHECK_FALSE(added->active);
  CHECK(added->route_prefix == "/clients/acme");
  CHECK(added->node == "a");
  CHECK(added->installed_at >= before);
  CHECK(added->installed_at <= before + 60);

  const fs::path folder = store->folder_of("acme.statements", "1.2.0");
  CHECK(folder == dir / "acme.statements" / "1.2.0");
  for (const auto& file : small_files())
    CHECK(read_file(folder / file.name) == file.bytes);
  CHECK(fs::is_empty(dir / ".incoming"));

  auto found = store->find("acme.statements", "1.2.0");
  REQUIRE(found);
  CHECK(found->sha256 == added->sha256);
  CHECK(found->installed_at == added->installed_at);
  CHECK(found->route_prefix == "/clients/acme");
  CHECK_FALSE(store->find("acme.statements", "1.2.1"));
  CHECK_FALSE(store->find("acme.other", "1.2.0"));
  CHECK_FALSE(store->active("acme.statements"));

  REQUIRE(store->add(module_named("acme.statements", "1.3.0", 2), small_files(2)));
  REQUIRE(store->add(module_named("acme.audit", "2", 3), {}));
  CHECK(fs::is_directory(store->folder_of("acme.audit", "2")));
  CHECK(
    listed(*store)
    == std::vector<std::string>{"acme.audit 2", "acme.statements 1.2.0", "acme.statements 1.3.0"});
}

TEST_CASE("module_store makes a folder whose parents are missing too", "[unit]") {
  test_support::temp_folder temp{"module-store"};
  const fs::path dir = temp.path() / "a" / "b" / "modules";
  {
    auto store = open_store(dir);
    REQUIRE(store->add(module_named("acme.statements", "1.0"), small_files()));
  }
  auto store = open_store(dir); // made already: opened as it is
  CHECK(listed(*store) == std::vector<std::string>{"acme.statements 1.0"});
  SECTION("a relative folder") {
    const auto before = fs::current_path();
    fs::current_path(temp.path());
    auto relative = module_store::open(fs::path{"c"} / "modules");
    fs::current_path(before);
    INFO((relative ? std::string() : microlith::describe(relative.error())));
    REQUIRE(relative);
    CHECK(fs::is_directory(temp.path() / "c" / "modules" / ".incoming"));
  }
}

TEST_CASE("module_store answers the same archive again unchanged and refuses another one",
          "[unit]") {
  test_support::temp_folder temp{"module-store"};
  auto store = open_store(temp.path());
  auto first = store->add(module_named("acme.statements", "1.0", 1), small_files(1));
  REQUIRE(first);
  REQUIRE_FALSE(store->activate("acme.statements", "1.0"));

  SECTION("the same name, version and sha256: the stored row, files untouched") {
    auto again = module_named("acme.statements", "1.0", 1);
    again.route_prefix = "/other";
    auto second = store->add(again, small_files(99));
    REQUIRE(second);
    CHECK(second->installed_at == first->installed_at);
    CHECK(second->route_prefix.empty());
    CHECK(second->active); // the stored row, as activated since
    CHECK(read_file(store->folder_of("acme.statements", "1.0") / "lib/libx.so")
          == pattern(1, 4096));
  }
  SECTION("another sha256: already_exists naming both digests") {
    auto second = store->add(module_named("acme.statements", "1.0", 2), small_files(2));
    REQUIRE_FALSE(second);
    CHECK(microlith::code_of(second.error()) == errc::already_exists);
    CHECK_THAT(microlith::message_of(second.error()), Contains(digest(1)) && Contains(digest(2)));
    CHECK(read_file(store->folder_of("acme.statements", "1.0") / "lib/libx.so")
          == pattern(1, 4096));
  }
  CHECK(store->list().size() == 1);
}

TEST_CASE("module_store activates at most one version of a name", "[unit]") {
  test_support::temp_folder temp{"module-store"};
  auto store = open_store(temp.path());
  for (const char* version : {"1.0", "1.1", "2.0"})
    REQUIRE(store->add(module_named("acme.statements", version), {}));
  REQUIRE(store->add(module_named("acme.audit", "1.0"), {}));
  auto active_count = [&](const std::string& name) {
    int n = 0;
    for (const auto& m : store->list())
      n += m.name == name && m.active ? 1 : 0;
    return n;
  };

  REQUIRE_FALSE(store->activate("acme.statements", "1.1"));
  REQUIRE(store->active("acme.statements"));
  CHECK(store->active("acme.statements")->version == "1.1");
  CHECK(active_count("acme.statements") == 1);

  REQUIRE_FALSE(store->activate("acme.statements", "2.0"));
  CHECK(store->active("acme.statements")->version == "2.0");
  CHECK(active_count("acme.statements") == 1);
  CHECK_FALSE(store->find("acme.statements", "1.1")->active);

  REQUIRE_FALSE(store->activate("acme.statements", "2.0")); // again: no change
  CHECK(active_count("acme.statements") == 1);
  CHECK_FALSE(store->active("acme.audit")); // another name is untouched

  SECTION("a version that is not installed") {
    auto err = store->activate("acme.statements", "3.0");
    CHECK(microlith::code_of(err) == errc::not_found);
    CHECK_THAT(microlith::message_of(err), Contains("3.0") && Contains("1.0, 1.1, 2.0"));
    CHECK(store->active("acme.statements")->version == "2.0");
  }
  SECTION("a name that is not installed") {
    CHECK(microlith::code_of(store->activate("acme.none", "1.0")) == errc::not_found);
  }
  SECTION("deactivate leaves no version active") {
    REQUIRE_FALSE(store->deactivate("acme.statements"));
    CHECK_FALSE(store->active("acme.statements"));
    CHECK(active_count("acme.statements") == 0);
    CHECK(store->list().size() == 4);
    REQUIRE_FALSE(store->deactivate("acme.statements")); // none active: nothing to do
    CHECK(microlith::code_of(store->deactivate("acme.none")) == errc::not_found);
  }
}

TEST_CASE("module_store removes every version of a name, rows and folders", "[unit]") {
  test_support::temp_folder temp{"module-store"};
  auto store = open_store(temp.path());
  REQUIRE(store->add(module_named("acme.statements", "1.0"), small_files()));
  REQUIRE(store->add(module_named("acme.statements", "1.1"), small_files()));
  REQUIRE(store->add(module_named("acme.audit", "1.0"), small_files()));
  REQUIRE_FALSE(store->activate("acme.statements", "1.1"));

  REQUIRE_FALSE(store->remove("acme.statements"));
  CHECK(listed(*store) == std::vector<std::string>{"acme.audit 1.0"});
  CHECK_FALSE(store->active("acme.statements"));
  CHECK_FALSE(fs::exists(temp.path() / "acme.statements"));
  CHECK(fs::is_directory(store->folder_of("acme.audit", "1.0")));

  auto err = store->remove("acme.statements");
  CHECK(microlith::code_of(err) == errc::not_found);
  CHECK_THAT(microlith::message_of(err), Contains("acme.statements"));

  // Installed again after removal, with another archive: a new version, not a conflict.
  REQUIRE(store->add(module_named("acme.statements", "1.0", 5), small_files(5)));
  CHECK(read_file(store->folder_of("acme.statements", "1.0") / "lib/libx.so") == pattern(5, 4096));
}

TEST_CASE("module_store refuses names, versions and entries that would leave its folder",
          "[unit]") {
  test_support::temp_folder temp{"module-store"};
  const fs::path dir = temp.path() / "store";
  auto store = open_store(dir);
  auto refused = [&](const installed_module& m, const std::vector<archive_entry>& files,
                     const std::string& fragment) {
    auto added = store->add(m, files);
    REQUIRE_FALSE(added);
    CHECK(microlith::code_of(added.error()) == errc::invalid_argument);
    CHECK_THAT(microlith::message_of(added.error()), Contains(fragment));
  };
  SECTION("names") {
    for (const std::string& name :
         std::vector<std::string>{"../x", "a/b", "", "..", ".", ".hidden", "a..b", "Acme", "a b",
                                  std::string(129, 'a'), std::string("a\0b", 3)}) {
      INFO(name);
      refused(module_named(name, "1.0"), {}, "invalid module name");
      CHECK(microlith::code_of(store->activate(name, "1.0")) == errc::invalid_argument);
      CHECK(microlith::code_of(store->deactivate(name)) == errc::invalid_argument);
      CHECK(microlith::code_of(store->remove(name)) == errc::invalid_argument);
    }
    refused(module_named("../x", "1.0"), {}, "\"../x\"");
  }
  SECTION("versions") {
    for (const std::string& version : std::vector<std::string>{
           "1.0/../..", "", ".", "..", "1..0", "1.", ".1", "1.0-rc1", "/1", std::string(65, '1')}) {
      INFO(version);
      refused(module_named("acme", version), {}, "invalid module version");
      CHECK(microlith::code_of(store->activate("acme", version)) == errc::invalid_argument);
    }
    refused(module_named("acme", "1.0/../.."), {}, "\"1.0/../..\"");
  }
  SECTION("archive entries") {
    for (const std::string entry :
         {"/etc/passwd", "../x", "lib/../../x", "lib//x", "./x", "", "lib\\x", "lib/.."}) {
      INFO(entry);
      refused(module_named("acme", "1.0"), {{"ok", "1"}, {entry, "2"}}, "archive entry");
    }
    refused(module_named("acme", "1.0"), {{"a", "1"}, {"a", "2"}}, "comes twice");
  }
  CHECK(store->list().empty());
  std::set<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir))
    left.insert(entry.path().filename().string());
  CHECK(left
        == std::set<std::string>{".incoming", ".lock", "registry.sqlite", "registry.sqlite-shm",
                                 "registry.sqlite-wal"});
  CHECK(fs::is_empty(dir / ".incoming"));
  CHECK_FALSE(fs::exists(temp.path() / "x"));
}

TEST_CASE("a reopened module_store reads the same rows and removes what has none", "[unit]") {
  test_support::temp_folder temp{"module-store"};
  std::vector<installed_module> before;
  {
    auto store = open_store(temp.path());
    auto m = module_named("acme.statements", "1.0");
    m.route_prefix = "/clients/acme";
    m.node = "b";
    REQUIRE(store->add(m, small_files()));
    REQUIRE(store->add(module_named("acme.statements", "1.1"), small_files()));
    REQUIRE(store->add(module_named("acme.audit", "0.1"), {}));
    REQUIRE_FALSE(store->activate("acme.statements", "1.1"));
    before = store->list();

    SECTION("a second store on the same folder is refused while the first is open") {
      auto second = module_store::open(temp.path());
      REQUIRE_FALSE(second);
      CHECK(microlith::code_of(second.error()) == errc::failed_precondition);
      CHECK_THAT(microlith::message_of(second.error()), Contains("in use"));
    }
  }
  // What a crash leaves: a half-written temp folder, a renamed folder whose row was never
  // committed, a name folder with nothing in it.
  fs::create_directories(temp.path() / ".incoming" / "0123456789abcdef" / "lib");
  std::ofstream(temp.path() / ".incoming" / "0123456789abcdef" / "lib" / "half.so") << "x";
  fs::create_directories(temp.path() / "acme.statements" / "2.0" / "lib");
  std::ofstream(temp.path() / "acme.statements" / "2.0" / "manifest.toml") << "x";
  fs::create_directories(temp.path() / "acme.gone" / "1.0");
  fs::create_directories(temp.path() / "acme.empty");
  // Not the store's: a name that is no module name.
  fs::create_directories(temp.path() / "Notes");

  auto store = open_store(temp.path());
  auto after = store->list();
  REQUIRE(after.size() == before.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].name == before[i].name);
    CHECK(after[i].version == before[i].version);
    CHECK(after[i].sha256 == before[i].sha256);
    CHECK(after[i].active == before[i].active);
    CHECK(after[i].route_prefix == before[i].route_prefix);
    CHECK(after[i].node == before[i].node);
    CHECK(after[i].installed_at == before[i].installed_at);
  }
  CHECK(store->active("acme.statements")->version == "1.1");
  CHECK(fs::is_empty(temp.path() / ".incoming"));
  CHECK_FALSE(fs::exists(temp.path() / "acme.statements" / "2.0"));
  CHECK_FALSE(fs::exists(temp.path() / "acme.gone"));
  CHECK_FALSE(fs::exists(temp.path() / "acme.empty"));
  CHECK(fs::is_directory(temp.path() / "Notes"));
  for (const auto& file : small_files())
    CHECK(read_file(store->folder_of("acme.statements", "1.0") / file.name) == file.bytes);

  // A version whose folder a crash left (no row) is added afresh over it.
  fs::create_directories(temp.path() / "acme.statements" / "3.0");
  std::ofstream(temp.path() / "acme.statements" / "3.0" / "stale") << "x";
  REQUIRE(store->add(module_named("acme.statements", "3.0"), small_files()));
  CHECK_FALSE(fs::exists(temp.path() / "acme.statements" / "3.0" / "stale"));
  CHECK(read_file(store->folder_of("acme.statements", "3.0") / "lib/libx.so") == pattern(1, 4096));
}

// -- kill -9 -----------------------------------------------------------------------------------

namespace {

constexpr std::size_t big_file = 1024 * 1024;

/// The seed of a version's files: each name and version has its own content.
std::uint64_t seed_of(const std::string& name, const std::string& version) {
  return std::hash<std::string>{}(name + "/" + version) % 1000003;
}

/// The files of a version in the kill test: a small manifest and three of about 1 MiB.
std::vector<archive_entry> big_files(std::uint64_t seed) {
  return {{"manifest.toml", fmt::format("seed = {}\n", seed)},
          {"lib/libmod.so", pattern(seed, big_file)},
          {"lib/libmod_contracts.so", pattern(seed + 1, big_file + 17)},
          {"contracts.desc", pattern(seed + 2, big_file / 2)}};
}

/// A child process, killed (SIGKILL) and reaped when the guard goes, whatever happened.
class child_process {
public:
  explicit child_process(pid_t pid) : pid_(pid) {}
  ~child_process() { kill_and_reap(); }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// SIGKILLs the child (unless reaped already) and waits for it; its wait status.
  int kill_and_reap() {
    if (pid_ <= 0)
      return status_;
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status_;
  }

  /// Whether the child has exited on its own (reaping it then).
  bool exited() {
    if (pid_ <= 0)
      return true;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

private:
  pid_t pid_;
  int status_ = 0;
};

/// The child's loop: adds versions of two names with big files, activates them, removes a name
/// now and then, and appends a byte to `counter` after each add; it never returns. Exits with
/// 2 (writing why to `failure`) if the store fails.
[[noreturn]] void churn(const fs::path& dir, const fs::path& counter, const fs::path& failure,
                        int round) {
  try {
    auto fail = [&](const std::string& why) {
      std::ofstream(failure) << why;
      ::_exit(2);
    };
    auto store = module_store::open(dir);
    if (!store)
      fail(microlith::describe(store.error()));
    for (int i = 0;; ++i) {
      const std::string name = i % 2 == 0 ? "acme.statements" : "acme.audit";
      const std::string version = fmt::format("{}.{}", round, i);
      installed_module m;
      m.name = name;
      m.version = version;
      m.sha256 = digest(seed_of(name, version));
      auto added = (*store)->add(m, big_files(seed_of(name, version)));
      if (!added)
        fail(microlith::describe(added.error()));
      if (auto err = (*store)->activate(name, version))
        fail(microlith::describe(err));
      std::ofstream(counter, std::ios::app) << 'x';
      if (i % 4 == 3) {
        if (auto err = (*store)->remove(name))
          fail(microlith::describe(err));
      }
    }
  } catch (...) {
    ::_exit(3);
  }
}

std::uintmax_t size_or_zero(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

} // namespace

TEST_CASE("a module_store killed with SIGKILL during adds and removes is consistent when opened",
          "[unit]") {
  test_support::temp_folder temp{"module-store-kill"};
  const fs::path dir = temp.path() / "store";
  const fs::path counter = temp.path() / "adds";
  const fs::path failure = temp.path() / "failure";
  std::mt19937 random{std::random_device{}()};
  constexpr int rounds = 10;
  const auto test_deadline = std::chrono::steady_clock::now()
                             + std::chrono::seconds(100); // ASan on a busy 2-core machine: ~50 s
  std::uintmax_t rows_seen = 0;
  std::map<std::uint64_t, std::vector<archive_entry>> expected; // files by seed

  for (int round = 0; round < rounds; ++round) {
    INFO("round " << round);
    fs::remove(counter);
    const std::uintmax_t target = 1 + random() % 3; // adds completed before the kill
    const auto started = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
      churn(dir, counter, failure, round); // never returns
    child_process child{pid};

    // Until the child has completed `target` adds (bounded), then a varied moment more.
    while (size_or_zero(counter) < target) {
      if (child.exited())
        FAIL("the child stopped on its own: " << read_file(failure));
      REQUIRE(std::chrono::steady_clock::now() < test_deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // Anywhere in the next add-activate-remove cycle: an add's writes, syncs, rename or commit.
    const auto cycle = (std::chrono::steady_clock::now() - started) / target;
    const auto cycle_us = std::chrono::duration_cast<std::chrono::microseconds>(cycle).count();
    std::this_thread::sleep_for(std::chrono::microseconds(random() % (cycle_us + 1)));
    const int status = child.kill_and_reap();
    INFO("failure file: " << read_file(failure));
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);

    auto store = open_store(dir);
    const auto rows = store->list();
    rows_seen += rows.size();
    std::set<std::pair<std::string, std::string>> listed;
    std::set<std::string> active_names;
    for (const auto& m : rows) {
      INFO(m.name << " " << m.version);
      listed.emplace(m.name, m.version);
      if (m.active)
        CHECK(active_names.insert(m.name).second); // at most one active version per name
      CHECK(m.sha256 == digest(seed_of(m.name, m.version)));
      const fs::path folder = store->folder_of(m.name, m.version);
      auto& files = expected[seed_of(m.name, m.version)];
      if (files.empty())
        files = big_files(seed_of(m.name, m.version));
      for (const auto& file : files) {
        INFO(file.name);
        REQUIRE(fs::is_regular_file(folder / file.name));
        CHECK(fs::file_size(folder / file.name) == file.bytes.size());
        CHECK(read_file(folder / file.name) == file.bytes);
      }
    }
    // No folder without a row, nothing in .incoming.
    for (const auto& name_entry : fs::directory_iterator(dir)) {
      const std::string name = name_entry.path().filename().string();
      if (!name_entry.is_directory() || name == ".incoming")
        continue;
      CHECK_FALSE(fs::is_empty(name_entry.path()));
      for (const auto& version_entry : fs::directory_iterator(name_entry.path())) {
        INFO(version_entry.path().string());
        CHECK(listed.count({name, version_entry.path().filename().string()}) == 1);
      }
    }
    CHECK(fs::is_empty(dir / ".incoming"));
  } // the store closes before the next child opens it
  CHECK(rows_seen > 0);
}
