// A real PostgreSQL server of its own for one test: `initdb` in a fresh temp folder, `postgres`
// started directly (not through pg_ctl, so the test holds the server's pid), listening on
// 127.0.0.1 at a port the OS chose and on a socket in the temp folder, with a database
// `microlith_test` that the user `microlith` reaches without a password. The server is stopped by
// its pid when the fixture ends, and is killed by the kernel if the test process dies first.
// initdb and postgres refuse to run as root: under root both run as the `postgres` user, which
// then owns the temp folder. The server binaries are the newest /usr/lib/postgresql/<N>/bin, or
// else `pg_config --bindir` (Debian packages postgresql and libpq-dev, scripts/install-deps.sh).
// Link with -lpq.
#pragma once

#include "free_port.hpp"
#include "temp_folder.hpp"

#include <libpq-fe.h>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace test_support {

namespace postgres_detail {

/// The folder holding initdb and postgres: the highest /usr/lib/postgresql/<N>/bin that has
/// both, else `pg_config --bindir`; throws naming what is missing when neither has them.
inline std::filesystem::path bin_dir() {
  namespace fs = std::filesystem;
  auto has_server = [](const fs::path& dir) {
    return ::access((dir / "initdb").c_str(), X_OK) == 0
           && ::access((dir / "postgres").c_str(), X_OK) == 0;
  };
  std::optional<fs::path> best;
  long best_version = -1;
  std::error_code ec;
  for (fs::directory_iterator it{"/usr/lib/postgresql", ec}, end; !ec && it != end;
       it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.empty()
        || !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    const long version = std::stol(name);
    if (version > best_version && has_server(it->path() / "bin")) {
      best_version = version;
      best = it->path() / "bin";
    }
  }
  if (best)
    return *best;
  if (FILE* pipe = ::popen("pg_config --bindir 2>/dev/null", "r")) {
    std::string out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, pipe) != nullptr)
      out += buf;
    ::pclose(pipe);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
      out.pop_back();
    if (!out.empty() && has_server(out))
      return out;
  }
  throw std::runtime_error(
    "postgres_server: no PostgreSQL server binaries (initdb and postgres) in "
    "/usr/lib/postgresql/<N>/bin nor in `pg_config --bindir`; install the Debian package "
    "postgresql (scripts/install-deps.sh)");
}

/// Whom the children run as: this process's user, or the `postgres` user when this process is
/// root (initdb and postgres refuse root). Looked up before fork: a forked child of a
/// multi-threaded process may not read /etc/group (initgroups allocates), so it gets the list.
struct identity {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

inline identity identity_for_children() {
  identity who;
  if (::geteuid() != 0)
    return who;
  const passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr)
    throw std::runtime_error(
      "postgres_server: running as root, and initdb and postgres refuse root, but there is no "
      "`postgres` user to run them as (the Debian package postgresql creates it)");
  who.switch_user = true;
  who.uid = pw->pw_uid;
  who.gid = pw->pw_gid;
  const std::string name = pw->pw_name;
  int count = 16;
  for (;;) {
    who.groups.resize(static_cast<std::size_t>(count));
    int n = count;
    if (::getgrouplist(name.c_str(), who.gid, who.groups.data(), &n) >= 0) {
      who.groups.resize(static_cast<std::size_t>(n));
      break;
    }
    count = std::max(n, count * 2);
  }
  return who;
}

/// `chown -R` of `root` to `who` (nothing when no switch is needed).
inline void give_to(const std::filesystem::path& root, const identity& who) {
  if (!who.switch_user)
    return;
  auto chown_one = [&](const std::filesystem::path& p) {
    if (::lchown(p.c_str(), who.uid, who.gid) != 0)
      throw std::runtime_error("postgres_server: cannot chown " + p.string()
                               + " to the postgres user: " + std::strerror(errno));
  };
  chown_one(root);
  for (const auto& entry : std::filesystem::recursive_directory_iterator{root})
    chown_one(entry.path());
}

/// A program to run: argv and envp as strings and as the pointer arrays execve takes, all built
/// before fork so that the child allocates nothing.
class command {
public:
  command(std::vector<std::string> args, std::vector<std::string> env)
    : args_(std::move(args)), env_(std::move(env)) {
    for (auto& a : args_)
      argv_.push_back(a.data());
    argv_.push_back(nullptr);
    for (auto& e : env_)
      envp_.push_back(e.data());
    envp_.push_back(nullptr);
  }
  command(const command&) = delete;
  command& operator=(const command&) = delete;

  char* const* argv() const noexcept { return argv_.data(); }
  char* const* envp() const noexcept { return envp_.data(); }

private:
  std::vector<std::string> args_;
  std::vector<std::string> env_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
};

/// In a forked child: reports `what` and errno on stderr and exits; write(2) only (strerror
/// is not async-signal-safe).
[[noreturn]] inline void child_fail(const char* what) noexcept {
  char number[16];
  char* p = number + sizeof number;
  *--p = '\0';
  for (int e = errno; p == number + sizeof number - 1 || e > 0; e /= 10)
    *--p = static_cast<char>('0' + e % 10);
  auto put = [](const char* s) {
    ssize_t ignored = ::write(2, s, std::strlen(s));
    (void)ignored;
  };
  put("postgres_server child: ");
  put(what);
  put(" failed, errno ");
  put(p);
  put("\n");
  ::_exit(127);
}

/// Forks and execs `cmd` in `cwd` as `who`, stdin from /dev/null, stdout and stderr to
/// `out_fd`, no other descriptor of the test process (a listening socket held by a server
/// would outlive its test). With `die_with_parent`, the kernel SIGKILLs the child when the
/// thread that forked it ends, so a crashed test leaves no server behind. Only async-signal-safe
/// calls after fork: the test process is multi-threaded.
inline pid_t spawn(const command& cmd, const identity& who, int out_fd,
                   const std::filesystem::path& cwd, bool die_with_parent) {
  const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0)
    throw std::runtime_error("postgres_server: cannot open /dev/null");
  const std::string dir = cwd.string();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(null_fd);
    throw std::runtime_error(std::string{"postgres_server: fork failed: "} + std::strerror(errno));
  }
  if (pid == 0) {
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(out_fd, 2) < 0)
      child_fail("dup2");
#ifdef SYS_close_range
    ::syscall(SYS_close_range, 3U, ~0U, 0U); // on an old kernel, CLOEXEC has to do
#endif
    if (::chdir(dir.c_str()) != 0)
      child_fail("chdir to the temp folder");
    if (who.switch_user) {
      if (::setgroups(who.groups.size(), who.groups.data()) != 0)
        child_fail("setgroups");
      if (::setgid(who.gid) != 0)
        child_fail("setgid to the postgres user's group");
      if (::setuid(who.uid) != 0)
        child_fail("setuid to the postgres user");
    }
    // After setuid: changing credentials clears the parent-death signal.
    if (die_with_parent) {
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        child_fail("prctl(PR_SET_PDEATHSIG)");
      if (::getppid() != parent) // the test process died before prctl
        ::_exit(1);
    }
    ::execve(cmd.argv()[0], cmd.argv(), cmd.envp());
    child_fail("execve");
  }
  ::close(null_fd);
  return pid;
}

/// Polls waitpid every 10 ms for up to `timeout`; the exit status, or nothing if still running.
inline std::optional<int> wait_for_exit(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD))
      return status;
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

/// SIGKILLs `pid` and reaps it.
inline void kill_and_reap(pid_t pid) noexcept {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

/// The whole text of a file ("" if it cannot be read).
inline std::string read_text(const std::filesystem::path& file) {
  std::ifstream in{file, std::ios::binary};
  return std::string{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// The last `n` lines of a file, for error messages.
inline std::string tail(const std::filesystem::path& file, std::size_t n = 20) {
  std::istringstream in{read_text(file)};
  std::deque<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    lines.push_back(std::move(line));
    if (lines.size() > n)
      lines.pop_front();
  }
  std::string out;
  for (const auto& line : lines)
    out += "\n  " + line;
  return out.empty() ? "\n  (empty)" : out;
}

/// Opens `file` for appending as the children's stdout and stderr.
inline int open_log(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("postgres_server: cannot open " + file.string() + ": "
                             + std::strerror(errno));
  return fd;
}

} // namespace postgres_detail

class postgres_server {
public:
  /// The database each test gets, and the user that reaches it without a password.
  static constexpr const char* database = "microlith_test";
  static constexpr const char* user = "microlith";

  /// Runs initdb, starts postgres, waits (at most 30 s) until it takes connections and creates
  /// `microlith_test`. Throws std::runtime_error with the tail of initdb's or the server's log
  /// when any step fails; a server already started is then stopped. `durable`: the server
  /// syncs its commits to the disk (fsync on), as a benchmark needs; tests run without.
  explicit postgres_server(bool durable = false) : durable_(durable) {
    namespace d = postgres_detail;
    bin_ = d::bin_dir();
    const auto who = d::identity_for_children();
    std::filesystem::create_directory(socket_dir());
    d::give_to(folder_.path(), who);
    init(who);
    try {
      start(who);
      create_database();
    } catch (...) {
      stop();
      throw;
    }
  }

  /// Stops the server (see stop()); never throws.
  ~postgres_server() { stop(); }

  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;
  postgres_server(postgres_server&&) = delete;
  postgres_server& operator=(postgres_server&&) = delete;

  /// Stops the server by its pid: SIGINT (fast shutdown: disconnects clients, no waiting for
  /// them), then SIGKILL if it has not exited within 10 s. Does nothing the second time.
  void stop() noexcept {
    if (!running_)
      return;
    running_ = false;
    ::kill(pid_, SIGINT);
    try {
      if (postgres_detail::wait_for_exit(pid_, std::chrono::seconds{10}))
        return;
    } catch (...) {
    }
    postgres_detail::kill_and_reap(pid_);
  }

  /// `postgresql://microlith@127.0.0.1:PORT/microlith_test`.
  std::string url() const { return url_of(database); }

  /// The same server's `postgres` database, to create or drop databases.
  std::string admin_url() const { return url_of("postgres"); }

  int port() const noexcept { return port_; }

  /// The postmaster's pid; kept after stop(), so a test can check that it is gone.
  pid_t pid() const noexcept { return pid_; }

  /// The temp folder holding data/ (the cluster), sock/ (the Unix socket) and the logs.
  const std::filesystem::path& folder() const noexcept { return folder_.path(); }

  /// The text the server wrote to its stdout and stderr so far.
  std::string log() const { return postgres_detail::read_text(log_file()); }

private:
  std::filesystem::path data_dir() const { return folder_.path() / "data"; }
  std::filesystem::path socket_dir() const { return folder_.path() / "sock"; }
  std::filesystem::path log_file() const { return folder_.path() / "postgres.log"; }

  std::string url_of(const char* db) const {
    return std::string{"postgresql://"} + user + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }

  // The children's environment: nothing of the test's (no PGDATA, PGPORT, LANG...).
  std::vector<std::string> environment() const {
    return {"PATH=" + bin_.string() + ":/usr/bin:/bin", "LC_ALL=C", "LANG=C"};
  }

  // initdb into data/, trusting local connections, without fsync; its output in initdb.log.
  void init(const postgres_detail::identity& who) {
    namespace d = postgres_detail;
    const auto log = folder_.path() / "initdb.log";
    const d::command cmd{{(bin_ / "initdb").string(), "-D", data_dir().string(), "-A", "trust",
                          "-U", user, "--no-sync", "-E", "UTF8", "--locale=C"},
                         environment()};
    const int fd = d::open_log(log);
    pid_t pid = -1;
    try {
      pid = d::spawn(cmd, who, fd, folder_.path(), false);
    } catch (...) {
      ::close(fd);
      throw;
    }
    ::close(fd);
    const auto status = d::wait_for_exit(pid, std::chrono::seconds{120});
    if (!status) {
      d::kill_and_reap(pid);
      throw std::runtime_error("postgres_server: initdb did not finish within 120 s:"
                               + d::tail(log));
    }
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0)
      throw std::runtime_error("postgres_server: initdb failed (status " + std::to_string(*status)
                               + "):" + d::tail(log));
  }

  // Starts postgres and polls until it takes connections. A port another process took between
  // free_port() and postgres binding it is replaced by a new one, twice at most.
  void start(const postgres_detail::identity& who) {
    namespace d = postgres_detail;
    for (int attempt = 0;; ++attempt) {
      port_ = test_support::free_port();
      const d::command cmd{{(bin_ / "postgres").string(), "-D", data_dir().string(), "-p",
                            std::to_string(port_), "-k", socket_dir().string(), "-c",
                            "listen_addresses=127.0.0.1", "-c", durable_ ? "fsync=on" : "fsync=off",
                            "-c", "max_connections=50", "-c", "shared_buffers=16MB"},
                           environment()};
      const int fd = d::open_log(log_file());
      try {
        pid_ = d::spawn(cmd, who, fd, folder_.path(), true);
      } catch (...) {
        ::close(fd);
        throw;
      }
      ::close(fd);
      running_ = true;
      if (wait_until_ready())
        return;
      // The server exited before taking connections.
      running_ = false;
      if (attempt < 2 && log().find("could not bind") != std::string::npos)
        continue;
      throw std::runtime_error("postgres_server: postgres exited while starting:"
                               + d::tail(log_file()));
    }
  }

  // True once a connection to the `postgres` database succeeds; false if the server exited.
  // Throws after 30 s (the server is then stopped by the constructor).
  bool wait_until_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    const std::string conninfo = admin_url() + "?connect_timeout=2";
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_)
        return false;
      PGconn* conn = ::PQconnectdb(conninfo.c_str());
      const bool ok = ::PQstatus(conn) == CONNECTION_OK;
      ::PQfinish(conn);
      if (ok)
        return true;
      if (std::chrono::steady_clock::now() >= deadline)
        throw std::runtime_error("postgres_server: postgres took no connection within 30 s:"
                                 + postgres_detail::tail(log_file()));
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }

  // CREATE DATABASE microlith_test, through the `postgres` database.
  void create_database() {
    PGconn* conn = ::PQconnectdb(admin_url().c_str());
    std::string error;
    if (::PQstatus(conn) != CONNECTION_OK) {
      error = ::PQerrorMessage(conn);
    } else {
      PGresult* res = ::PQexec(conn, (std::string{"CREATE DATABASE "} + database).c_str());
      if (::PQresultStatus(res) != PGRES_COMMAND_OK)
        error = ::PQresultErrorMessage(res);
      ::PQclear(res);
    }
    ::PQfinish(conn);
    if (!error.empty())
      throw std::runtime_error(std::string{"postgres_server: cannot create database "} + database
                               + ": " + error);
  }

  temp_folder folder_{"pg"};
  std::filesystem::path bin_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool running_ = false;
  bool durable_ = false;
};

} // namespace test_support
