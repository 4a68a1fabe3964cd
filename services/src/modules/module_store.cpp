// The store of installed modules; see microlith/services/module_store.hpp.
//
// How a kill -9 at any moment leaves it consistent:
// - add() writes the files under .incoming/<random>/, fsyncs each file and folder, renames the
//   folder to NAME/VERSION (fsyncing NAME/ and, when it made NAME/, DIR/), and only then commits
//   the row. Before the commit the version is a folder without a row; after it, complete.
// - remove() deletes the rows in one transaction, then the folders: in between, folders without
//   rows.
// - open() deletes everything in .incoming/ and every NAME/VERSION/ folder without a row, so
//   what the registry lists is exactly what lies in the folder. The folder itself, when open()
//   makes it, is synced into its parent.
// A process holds the store with an exclusive flock on DIR/.lock (released by the OS when the
// process dies, however it dies): a second store on the same folder, from this process or
// another, is refused rather than let its cleanup delete the first one's add() in progress.
#include "microlith/services/module_store.hpp"

#include "microlith/actors/error.hpp"

#include "modules/module_naming.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <system_error>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

namespace microlith {

namespace fs = std::filesystem;

namespace {

constexpr const char* registry_file = "registry.sqlite";
constexpr const char* lock_file = ".lock";
constexpr const char* incoming_folder = ".incoming";

constexpr const char* create_schema = R"sql(
  CREATE TABLE IF NOT EXISTS modules (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 0,
    route_prefix TEXT NOT NULL DEFAULT '',
    node TEXT NOT NULL DEFAULT '',
    installed_at INTEGER NOT NULL,
    UNIQUE (name, version)
  );
  CREATE UNIQUE INDEX IF NOT EXISTS one_active_version ON modules (name) WHERE active = 1;
)sql";

constexpr const char* select_columns =
  "SELECT name, version, sha256, active, route_prefix, node, installed_at FROM modules";

/// A prepared statement, finalized when it goes away.
using statement = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

// Text goes in and comes out with its length, never up to a NUL.

/// Binds `text` to parameter `index`, all of its bytes.
int bind_text(sqlite3_stmt* s, int index, const std::string& text) {
  return sqlite3_bind_text64(s, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

/// The text of `column`, all of its bytes.
std::string text_of(sqlite3_stmt* s, int column) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  if (p == nullptr)
    return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
}

/// The module in the current row of a query over `select_columns`.
installed_module module_of(sqlite3_stmt* s) {
  installed_module m;
  m.name = text_of(s, 0);
  m.version = text_of(s, 1);
  m.sha256 = text_of(s, 2);
  m.active = sqlite3_column_int(s, 3) != 0;
  m.route_prefix = text_of(s, 4);
  m.node = text_of(s, 5);
  m.installed_at = sqlite3_column_int64(s, 6);
  return m;
}

/// A file descriptor, closed when it goes away.
class descriptor {
public:
  explicit descriptor(int fd = -1) noexcept : fd_(fd) {}
  ~descriptor() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  descriptor(const descriptor&) = delete;
  descriptor& operator=(const descriptor&) = delete;
  int get() const noexcept { return fd_; }
  /// Holds `fd` from now on (closing the one it held).
  void reset(int fd) noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

private:
  int fd_;
};

/// "OS reason" of errno `code`.
std::string os_reason(int code) {
  return std::generic_category().message(code);
}

/// Writes `bytes` to the new file `path` (which must not exist) and fsyncs it; the error
/// message says what failed, or is empty.
std::string write_synced(const fs::path& path, const std::string& bytes) {
  descriptor fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
  if (fd.get() < 0)
    return fmt::format("cannot create {}: {}", path.string(), os_reason(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return fmt::format("cannot write {}: {}", path.string(), os_reason(errno));
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0)
    return fmt::format("cannot sync {}: {}", path.string(), os_reason(errno));
  return {};
}

/// fsyncs the folder `path` (so that the names in it last); the error message or empty.
std::string sync_folder(const fs::path& path) {
  descriptor fd{::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (fd.get() < 0)
    return fmt::format("cannot open folder {}: {}", path.string(), os_reason(errno));
  if (::fsync(fd.get()) != 0)
    return fmt::format("cannot sync folder {}: {}", path.string(), os_reason(errno));
  return {};
}

/// Why the archive entry name `name` cannot be written under a version's folder, or empty.
/// The archive reader refused such names already; checked again because they become paths.
std::string entry_name_problem(const std::string& name) {
  if (name.empty())
    return "an empty name";
  if (name.find('\0') != std::string::npos)
    return "a NUL character";
  if (name.front() == '/')
    return "an absolute path";
  if (name.find('\\') != std::string::npos)
    return "a backslash";
  std::size_t start = 0;
  while (start <= name.size()) {
    const std::size_t end = std::min(name.find('/', start), name.size());
    const std::string_view segment = std::string_view(name).substr(start, end - start);
    if (segment.empty() || segment == ".")
      return "an empty or \".\" segment";
    if (segment == "..")
      return "a \"..\" segment";
    start = end + 1;
  }
  return {};
}

/// 16 random hex digits: the name of an add()'s temporary folder.
std::string random_name() {
  std::random_device device;
  std::mt19937_64 engine{(static_cast<std::uint64_t>(device()) << 32) ^ device()};
  return fmt::format("{:016x}", engine());
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

caf::error invalid_name(const std::string& name) {
  if (auto problem = detail::module_name_problem(name))
    return make_error(errc::invalid_argument,
                      fmt::format("invalid module name {:?}: {}", name, *problem));
  return {};
}

caf::error invalid_version(const std::string& version) {
  if (auto problem = detail::module_version_problem(version))
    return make_error(errc::invalid_argument,
                      fmt::format("invalid module version {:?}: {}", version, *problem));
  return {};
}

} // namespace

struct module_store::impl {
  fs::path dir;
  descriptor lock;
  sqlite3* db = nullptr;
  mutable std::mutex mutex;

  ~impl() { sqlite3_close(db); }

  /// "module store DIR: what: SQLite's message", as errc::internal.
  caf::error sqlite_error(std::string_view what) const {
    return make_error(errc::internal,
                      fmt::format("module store {}: {}: {}", dir.string(), what,
                                  db != nullptr ? sqlite3_errmsg(db) : "no memory"));
  }

  caf::error os_error(const std::string& message) const {
    return make_error(errc::internal, fmt::format("module store {}: {}", dir.string(), message));
  }

  caf::error exec(const char* sql) const {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return sqlite_error(fmt::format("cannot run {:?}", sql));
    return {};
  }

  /// `sql` prepared; null (and `err` set) when SQLite refuses it.
  statement prepare(const char* sql, caf::error& err) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
      sqlite3_finalize(raw);
      raw = nullptr;
      err = sqlite_error(fmt::format("cannot prepare {:?}", sql));
    }
    return statement{raw, &sqlite3_finalize};
  }

  /// Runs `s` to its end, collecting its rows (a query over `select_columns`).
  caf::expected<std::vector<installed_module>> rows(sqlite3_stmt* s) const {
    std::vector<installed_module> out;
    int rc = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
      out.push_back(module_of(s));
    if (rc != SQLITE_DONE)
      return sqlite_error("cannot read the registry");
    return out;
  }

  /// The rows of `sql` with `name` (and `version` when not empty) bound to ?1 (and ?2).
  caf::expected<std::vector<installed_module>>
  query(const std::string& sql, const std::string& name, const std::string& version = {}) const {
    caf::error err;
    auto s = prepare(sql.c_str(), err);
    if (!s)
      return err;
    bind_text(s.get(), 1, name);
    if (!version.empty())
      bind_text(s.get(), 2, version);
    return rows(s.get());
  }

  caf::expected<std::vector<installed_module>> versions_of(const std::string& name) const {
    return query(fmt::format("{} WHERE name = ?1 ORDER BY sequence", select_columns), name);
  }

  std::optional<installed_module> find(const std::string& name, const std::string& version) const {
    auto found =
      query(fmt::format("{} WHERE name = ?1 AND version = ?2", select_columns), name, version);
    if (!found || found->empty())
      return std::nullopt;
    return std::move(found->front());
  }

  /// Runs `sql` with `name` bound to ?1 (and `version` to ?2 when not empty).
  caf::error change(const char* sql, const std::string& name, const std::string& version = {}) {
    caf::error err;
    auto s = prepare(sql, err);
    if (!s)
      return err;
    bind_text(s.get(), 1, name);
    if (!version.empty())
      bind_text(s.get(), 2, version);
    if (sqlite3_step(s.get()) != SQLITE_DONE)
      return sqlite_error(fmt::format("cannot run {:?}", sql));
    return {};
  }

  /// Opens the registry: WAL, synchronous=FULL (a commit survives a power loss; the registry is
  /// small and rarely written), the schema.
  caf::error open_registry() {
    const fs::path file = dir / registry_file;
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr)
        != SQLITE_OK)
      return sqlite_error(fmt::format("cannot open {}", file.string()));
    sqlite3_busy_timeout(db, 5000);
    // SQLite answers BUSY at once, without its busy handler, when switching to WAL would
    // deadlock with another connection's lock upgrade; retry for as long as the busy timeout.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int rc = SQLITE_OK;
    while ((rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr))
             == SQLITE_BUSY
           && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (rc != SQLITE_OK)
      return sqlite_error("cannot run \"PRAGMA journal_mode=WAL\"");
    if (auto err = exec("PRAGMA synchronous=FULL"))
      return err;
    return exec(create_schema);
  }

  /// Takes the store's lock (DIR/.lock), refusing a store another holder has open.
  caf::error take_lock() {
    const fs::path file = dir / lock_file;
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
      return os_error(fmt::format("cannot open {}: {}", file.string(), os_reason(errno)));
    lock.reset(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK)
        return make_error(errc::failed_precondition,
                          fmt::format("module store {}: in use by another module_store (this "
                                      "process or another holds {}); one store per folder",
                                      dir.string(), file.string()));
      return os_error(fmt::format("cannot lock {}: {}", file.string(), os_reason(errno)));
    }
    return {};
  }

  /// Removes what an interrupted add() or remove() left: everything in .incoming/, every
  /// NAME/VERSION/ folder without a row, and NAME/ folders left empty.
  caf::error clean() {
    auto all = [&]() -> caf::expected<std::vector<installed_module>> {
      caf::error err;
      auto s = prepare(select_columns, err);
      if (!s)
        return err;
      return rows(s.get());
    }();
    if (!all)
      return std::move(all.error());
    std::set<std::pair<std::string, std::string>> listed;
    for (const auto& m : *all)
      listed.emplace(m.name, m.version);
    std::error_code ec;
    const fs::path incoming = dir / incoming_folder;
    fs::remove_all(incoming, ec);
    if (ec)
      return os_error(fmt::format("cannot empty {}: {}", incoming.string(), ec.message()));
    fs::create_directory(incoming, ec);
    if (ec)
      return os_error(fmt::format("cannot create {}: {}", incoming.string(), ec.message()));
    for (const auto& name_entry : fs::directory_iterator(dir, ec)) {
      const std::string name = name_entry.path().filename().string();
      // Only NAME/ folders are the store's; registry.sqlite*, .lock and .incoming are not names.
      if (detail::module_name_problem(name) || !name_entry.is_directory(ec))
        continue;
      bool kept = false;
      for (const auto& version_entry : fs::directory_iterator(name_entry.path(), ec)) {
        const std::string version = version_entry.path().filename().string();
        if (listed.count({name, version}) != 0) {
          kept = true;
          continue;
        }
        fs::remove_all(version_entry.path(), ec);
        if (ec)
          return os_error(fmt::format("cannot remove {}, which the registry does not list: {}",
                                      version_entry.path().string(), ec.message()));
      }
      if (ec)
        return os_error(
          fmt::format("cannot list {}: {}", name_entry.path().string(), ec.message()));
      if (!kept) {
        fs::remove(name_entry.path(), ec);
        if (ec)
          return os_error(
            fmt::format("cannot remove {}: {}", name_entry.path().string(), ec.message()));
      }
    }
    if (ec)
      return os_error(fmt::format("cannot list {}: {}", dir.string(), ec.message()));
    return {};
  }

  /// Writes `files` under a new folder in .incoming/, synced, and renames it to `target`
  /// (NAME/VERSION/, which must not exist), syncing the folders whose names changed.
  caf::error place(const std::vector<archive_entry>& files, const fs::path& target) {
    std::error_code ec;
    const fs::path temp = dir / incoming_folder / random_name();
    if (!fs::create_directory(temp, ec))
      return os_error(fmt::format("cannot create {}: {}", temp.string(),
                                  ec ? ec.message() : "it exists already"));
    auto fail = [&](const std::string& message) {
      std::error_code ignored;
      fs::remove_all(temp, ignored);
      return os_error(message);
    };
    std::set<fs::path> folders{temp};
    for (const auto& file : files) {
      const fs::path path = temp / file.name;
      for (fs::path parent = path.parent_path(); parent != temp; parent = parent.parent_path()) {
        if (!folders.insert(parent).second)
          break; // made already, and so were its parents
      }
      fs::create_directories(path.parent_path(), ec);
      if (ec)
        return fail(fmt::format("cannot create {}: {}", path.parent_path().string(), ec.message()));
      if (auto problem = write_synced(path, file.bytes); !problem.empty())
        return fail(problem);
    }
    for (const auto& folder : folders) {
      if (auto problem = sync_folder(folder); !problem.empty())
        return fail(problem);
    }
    const fs::path name_folder = target.parent_path();
    const bool made_name_folder = fs::create_directory(name_folder, ec);
    if (ec)
      return fail(fmt::format("cannot create {}: {}", name_folder.string(), ec.message()));
    if (made_name_folder) {
      if (auto problem = sync_folder(dir); !problem.empty())
        return fail(problem);
    }
    if (::rename(temp.c_str(), target.c_str()) != 0)
      return fail(fmt::format("cannot rename {} to {}: {}", temp.string(), target.string(),
                              os_reason(errno)));
    for (const auto& folder : {name_folder, dir / incoming_folder}) {
      if (auto problem = sync_folder(folder); !problem.empty()) {
        fs::remove_all(target, ec);
        return os_error(problem);
      }
    }
    return {};
  }

  /// Runs `body` in a write transaction, committed when it answers no error, rolled back
  /// otherwise.
  template <class Body>
  caf::error in_transaction(Body&& body) {
    if (auto err = exec("BEGIN IMMEDIATE"))
      return err;
    caf::error err = body();
    if (!err)
      err = exec("COMMIT");
    if (err)
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return err;
  }

  /// Inserts the row of a version whose folder is in place, in one transaction.
  caf::error insert(const installed_module& m) {
    return in_transaction([&]() -> caf::error {
      caf::error err;
      auto s = prepare("INSERT INTO modules (name, version, sha256, active, route_prefix, node, "
                       "installed_at) VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6)",
                       err);
      if (!s)
        return err;
      bind_text(s.get(), 1, m.name);
      bind_text(s.get(), 2, m.version);
      bind_text(s.get(), 3, m.sha256);
      bind_text(s.get(), 4, m.route_prefix);
      bind_text(s.get(), 5, m.node);
      sqlite3_bind_int64(s.get(), 6, m.installed_at);
      if (sqlite3_step(s.get()) != SQLITE_DONE)
        return sqlite_error(fmt::format("cannot record {} {}", m.name, m.version));
      return {};
    });
  }

  /// errc::not_found for `name`, which has no installed version.
  caf::error not_installed(const std::string& name) const {
    return make_error(errc::not_found, fmt::format("module {:?} is not installed", name));
  }
};

caf::expected<std::unique_ptr<module_store>> module_store::open(const fs::path& dir) {
  auto p = std::make_unique<impl>();
  p->dir = dir;
  if (dir.empty())
    return make_error(errc::invalid_argument, "module store: expected a folder, got \"\"");
  if (dir.native().find('\0') != std::string::npos)
    return make_error(
      errc::invalid_argument,
      fmt::format("module store {:?}: the folder's name holds a NUL character", dir.string()));
  std::error_code ec;
  // The folders made here (the store's, and missing parents) are synced into their parents, so
  // that the folder of a store whose first add() returned lasts through a power loss too.
  std::vector<fs::path> made;
  for (fs::path folder = fs::absolute(dir, ec); !ec && !fs::exists(folder, ec) && !ec;
       folder = folder.parent_path())
    made.push_back(folder);
  fs::create_directories(dir, ec);
  if (ec)
    return p->os_error(fmt::format("cannot create the folder: {}", ec.message()));
  for (const auto& folder : made) {
    if (auto problem = sync_folder(folder.parent_path()); !problem.empty())
      return p->os_error(problem);
  }
  if (auto err = p->take_lock())
    return err;
  if (auto err = p->open_registry())
    return err;
  try { // directory iteration throws when a step fails
    if (auto err = p->clean())
      return err;
  } catch (const fs::filesystem_error& e) {
    return p->os_error(fmt::format("cannot remove what an interrupted change left: {}", e.what()));
  }
  return std::unique_ptr<module_store>(new module_store(std::move(p)));
}

module_store::module_store(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

module_store::~module_store() = default;

caf::expected<installed_module> module_store::add(const installed_module& module,
                                                  const std::vector<archive_entry>& files) {
  if (auto err = invalid_name(module.name))
    return err;
  if (auto err = invalid_version(module.version))
    return err;
  std::set<std::string_view> names;
  for (const auto& file : files) {
    if (auto problem = entry_name_problem(file.name); !problem.empty())
      return make_error(errc::invalid_argument,
                        fmt::format("module {} {}: archive entry {:?} has {}; expected a relative "
                                    "path inside the module's folder",
                                    module.name, module.version, file.name, problem));
    if (!names.insert(file.name).second)
      return make_error(errc::invalid_argument,
                        fmt::format("module {} {}: archive entry {:?} comes twice", module.name,
                                    module.version, file.name));
  }
  std::lock_guard<std::mutex> guard{impl_->mutex};
  if (auto stored = impl_->find(module.name, module.version)) {
    if (stored->sha256 == module.sha256)
      return std::move(*stored);
    return make_error(errc::already_exists,
                      fmt::format("module {} {} is installed already from an archive with "
                                  "sha256 {}; this archive's sha256 is {}",
                                  module.name, module.version, stored->sha256, module.sha256));
  }
  const fs::path target = folder_of(module.name, module.version);
  std::error_code ec;
  fs::remove_all(target, ec); // a folder without a row: left by a crash
  if (ec)
    return impl_->os_error(fmt::format("cannot remove {}, which the registry does not list: {}",
                                       target.string(), ec.message()));
  if (auto err = impl_->place(files, target))
    return err;
  installed_module row = module;
  row.active = false;
  row.installed_at = now_seconds();
  if (auto err = impl_->insert(row)) {
    fs::remove_all(target, ec);
    return err;
  }
  return row;
}

caf::error module_store::activate(const std::string& name, const std::string& version,
                                  const std::optional<std::string>& node) {
  if (auto err = invalid_name(name))
    return err;
  if (auto err = invalid_version(version))
    return err;
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->in_transaction([&]() -> caf::error {
    auto versions = impl_->versions_of(name);
    if (!versions)
      return std::move(versions.error());
    if (versions->empty())
      return impl_->not_installed(name);
    if (std::none_of(versions->begin(), versions->end(),
                     [&](const installed_module& m) { return m.version == version; })) {
      std::vector<std::string> installed;
      for (const auto& m : *versions)
        installed.push_back(m.version);
      return make_error(errc::not_found,
                        fmt::format("module {:?} has no installed version {:?} (installed: {})",
                                    name, version, fmt::join(installed, ", ")));
    }
    // Two statements: SQLite checks the one-active index row by row within a statement.
    if (auto err =
          impl_->change("UPDATE modules SET active = 0 WHERE name = ?1 AND active = 1", name))
      return err;
    if (auto err = impl_->change("UPDATE modules SET active = 1 WHERE name = ?1 AND version = ?2",
                                 name, version))
      return err;
    if (!node)
      return caf::error{};
    caf::error err;
    auto s = impl_->prepare("UPDATE modules SET node = ?3 WHERE name = ?1 AND version = ?2", err);
    if (!s)
      return err;
    bind_text(s.get(), 1, name);
    bind_text(s.get(), 2, version);
    bind_text(s.get(), 3, *node);
    if (sqlite3_step(s.get()) != SQLITE_DONE)
      return impl_->sqlite_error(
        fmt::format("cannot record that node {} runs {} {}", *node, name, version));
    return caf::error{};
  });
}

caf::error module_store::deactivate(const std::string& name) {
  if (auto err = invalid_name(name))
    return err;
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->in_transaction([&]() -> caf::error {
    auto versions = impl_->versions_of(name);
    if (!versions)
      return std::move(versions.error());
    if (versions->empty())
      return impl_->not_installed(name);
    return impl_->change("UPDATE modules SET active = 0 WHERE name = ?1 AND active = 1", name);
  });
}

caf::error module_store::remove(const std::string& name) {
  if (auto err = invalid_name(name))
    return err;
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto err = impl_->in_transaction([&]() -> caf::error {
    auto versions = impl_->versions_of(name);
    if (!versions)
      return std::move(versions.error());
    if (versions->empty())
      return impl_->not_installed(name);
    return impl_->change("DELETE FROM modules WHERE name = ?1", name);
  });
  if (err)
    return err;
  // The rows are gone: a crash from here on leaves folders that open() removes.
  const fs::path folder = impl_->dir / name;
  std::error_code ec;
  fs::remove_all(folder, ec);
  if (ec)
    return impl_->os_error(fmt::format("removed module {:?} from the registry, but cannot remove "
                                       "{} (the next open() will): {}",
                                       name, folder.string(), ec.message()));
  return {};
}

std::vector<installed_module> module_store::list() const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  caf::error err;
  auto s = impl_->prepare(fmt::format("{} ORDER BY name, sequence", select_columns).c_str(), err);
  if (!s)
    return {};
  auto all = impl_->rows(s.get());
  return all ? std::move(*all) : std::vector<installed_module>{};
}

std::optional<installed_module> module_store::find(const std::string& name,
                                                   const std::string& version) const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  return impl_->find(name, version);
}

std::optional<installed_module> module_store::active(const std::string& name) const {
  std::lock_guard<std::mutex> guard{impl_->mutex};
  auto found = impl_->query(fmt::format("{} WHERE name = ?1 AND active = 1", select_columns), name);
  if (!found || found->empty())
    return std::nullopt;
  return std::move(found->front());
}

fs::path module_store::folder_of(const std::string& name, const std::string& version) const {
  return impl_->dir / name / version;
}

const fs::path& module_store::dir() const noexcept {
  return impl_->dir;
}

} // namespace microlith
