// Real processes for the cluster tests: `microlith run FILE [--node NAME]` children with their
// output in a log file, system files written to a temporary folder with ports the OS just handed
// out, and helpers that wait for a log line or for the gateway to be ready. Every child is
// stopped by pid when its handle goes away (SIGCONT, SIGTERM, then SIGKILL after 5 s), also
// when the test fails.
#pragma once

#include "http_client.hpp"
#include "support/free_port.hpp"
#include "support/temp_folder.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cluster_test {

using bank_test::http_client;
using bank_test::ws_client;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// The microlith command under test.
inline std::string microlith_command() {
  return MICROLITH_COMMAND;
}

using test_support::free_port;

using test_support::temp_folder;

/// The whole text of a file (empty when it does not exist).
inline std::string read_text(const fs::path& file) {
  std::ifstream in{file};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

/// A child process; stopped by pid when this goes away.
class process {
public:
  /// Starts `argv` with stdout and stderr appended to `log`, and `env` added to the environment.
  process(std::vector<std::string> argv, fs::path log, std::map<std::string, std::string> env = {})
    : log_(std::move(log)) {
    // Everything the child needs is made before fork: between fork and exec the child of this
    // multi-threaded process may only make async-signal-safe calls (a malloc there can wait
    // forever for a lock another thread held at the fork, and the child never starts).
    std::vector<std::string> environment;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry{*e};
      if (env.count(entry.substr(0, entry.find('='))) == 0)
        environment.push_back(std::move(entry));
    }
    for (const auto& [k, v] : env)
      environment.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : environment)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (auto& a : argv)
      args.push_back(a.data());
    args.push_back(nullptr);
    const std::string log_path = log_.string();
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
  }

  ~process() { stop(); }

  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const noexcept { return pid_; }

  const fs::path& log() const noexcept { return log_; }

  /// Sends `sig` (no-op once the child is reaped).
  void signal(int sig) {
    if (pid_ > 0)
      ::kill(pid_, sig);
  }

  /// Sends SIGSTOP and waits until the whole child has stopped, at most 30 s. A stop signal
  /// reaches one thread first; the others run on until that thread is scheduled and stops them
  /// all, which on a busy machine takes long enough for a message to be handled. waitpid
  /// reports the stop once every thread has stopped; the child is reaped later.
  bool freeze() {
    if (pid_ <= 0)
      return false;
    ::kill(pid_, SIGSTOP);
    auto until = steady::now() + 30s;
    while (steady::now() < until) {
      int status = 0;
      if (::waitpid(pid_, &status, WUNTRACED | WNOHANG) == pid_ && WIFSTOPPED(status))
        return true;
      std::this_thread::sleep_for(1ms);
    }
    return false;
  }

  /// Kills the child with SIGKILL and reaps it.
  void kill9() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  /// Stops the child gracefully (SIGTERM; SIGKILL after `grace`), reaps it and answers its exit
  /// status (-1 when it had to be killed, died of a signal, or was gone; what happened goes to
  /// standard error, which ctest shows with the failure). The grace only tells "stops" from
  /// "hangs": a sanitizer build on a loaded machine takes seconds to exit (the leak check).
  int stop(std::chrono::milliseconds grace = 20s) {
    if (pid_ <= 0)
      return -1;
    const pid_t pid = pid_;
    ::kill(pid_, SIGCONT); // a stopped child cannot handle SIGTERM
    ::kill(pid_, SIGTERM);
    auto code = wait_exit(grace);
    if (pid_ <= 0) {
      if (last_signal_ != 0) {
        std::fprintf(stderr, "process %d died of signal %d after SIGTERM; its log ends:\n%s\n", pid,
                     last_signal_, log_tail().c_str());
      }
      return code;
    }
    std::fprintf(stderr,
                 "process %d did not exit within %lld ms of SIGTERM; killed; its log ends:\n%s\n",
                 pid, static_cast<long long>(grace.count()), log_tail().c_str());
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
  }

  /// Waits up to `limit` for the child to exit by itself and reaps it; answers its exit code,
  /// or -1 when it is still running (it keeps running), was killed by a signal, or is gone.
  int wait_exit(std::chrono::milliseconds limit) {
    if (pid_ <= 0)
      return -1;
    auto until = steady::now() + limit;
    int status = 0;
    while (steady::now() < until) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        last_signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

  /// The child's log so far.
  std::string output() const { return read_text(log_); }

private:
  // The last 60 lines of the child's log (what a sanitizer printed when it aborted).
  std::string log_tail() const {
    std::ifstream in{log_};
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      lines.push_back(std::move(line));
    std::string out;
    for (auto i = lines.size() > 60 ? lines.size() - 60 : 0; i < lines.size(); ++i)
      out += lines[i] + "\n";
    return out;
  }

  pid_t pid_ = -1;
  int last_signal_ = 0; // the signal the reaped child died of; 0 when it exited
  fs::path log_;
};

/// Polls `done` every 5 ms until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto until = steady::now() + limit;
  while (!done()) {
    if (steady::now() > until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

/// Waits until `p`'s log contains `text` (its `nth` occurrence, counting from 1).
inline bool wait_for_log(const process& p, const std::string& text, std::chrono::milliseconds limit,
                         int nth = 1) {
  return eventually(
    [&] {
      auto out = p.output();
      int seen = 0;
      for (auto at = out.find(text); at != std::string::npos; at = out.find(text, at + 1))
        ++seen;
      return seen >= nth;
    },
    limit);
}

/// GET /readyz on a fresh connection (status 0 when nothing answers).
inline bank_test::http_answer readyz(std::uint16_t port) {
  try {
    http_client client{port};
    return client.request(boost::beast::http::verb::get, "/readyz");
  } catch (const std::exception&) {
    return {};
  }
}

/// Something accepts TCP connections on 127.0.0.1:port.
inline bool accepts_connections(std::uint16_t port) {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket{ioc};
  boost::system::error_code ec;
  socket.connect(boost::asio::ip::tcp::endpoint{boost::asio::ip::address_v4::loopback(), port}, ec);
  return !ec;
}

/// GET /readyz answers 200.
inline bool gateway_ready(std::uint16_t port) {
  try {
    http_client client{port};
    return client.request(boost::beast::http::verb::get, "/readyz").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

/// The bank's system file with the [nodes] and [cluster] tables given, the gateway on `http_port`
/// and the ledger's entries in the SQLite file `ledger_db` (shared by ledger replicas).
/// `nodes` maps a node name to its groups (a node with accounts gets payments too); each node
/// listens on a fresh port.
inline std::string
bank_file_text(std::uint16_t http_port, const fs::path& ledger_db,
               const std::vector<std::pair<std::string, std::vector<std::string>>>& nodes,
               const std::string& system = "bank", const std::string& cookie = "test-cookie") {
  auto text = read_text(fs::path{MICROLITH_SOURCE_DIR} / "examples/bank/bank.toml");
  auto replace = [&](const std::string& from, const std::string& to) {
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
  };
  replace("listen = \"127.0.0.1:8080\"",
          "listen = \"127.0.0.1:" + std::to_string(http_port) + "\"");
  replace("name = \"bank\"", "name = \"" + system + "\"");
  for (const auto& [name, named] : nodes) {
    // payments (bank.payments) runs beside accounts, as in bank-cluster.toml.
    auto groups = named;
    if (std::find(groups.begin(), groups.end(), "accounts") != groups.end()
        && std::find(groups.begin(), groups.end(), "payments") == groups.end())
      groups.push_back("payments");
    text += "\n[nodes." + name + "]\nlisten = \"127.0.0.1:" + std::to_string(free_port())
            + "\"\ngroups = [";
    for (std::size_t i = 0; i < groups.size(); ++i)
      text += (i ? ", \"" : "\"") + groups[i] + "\"";
    text += "]\n";
  }
  replace("database = \"ledger.db\"", "database = \"" + ledger_db.string() + "\"");
  if (!nodes.empty())
    text += "\n[cluster]\ncookie = \"" + cookie + "\"\n";
  return text;
}

/// Writes `text` to `folder/name` and answers the path.
inline fs::path write_file(const fs::path& folder, const std::string& name,
                           const std::string& text) {
  auto path = folder / name;
  std::ofstream out{path};
  out << text;
  return path;
}

/// A `microlith run` child: the whole file, or one node of it.
inline std::unique_ptr<process> run_node(const fs::path& folder, const fs::path& file,
                                         const std::string& node = {},
                                         std::map<std::string, std::string> env = {}) {
  std::vector<std::string> argv{microlith_command(), "run", file.string()};
  if (!node.empty()) {
    argv.push_back("--node");
    argv.push_back(node);
  }
  auto log = folder / ((node.empty() ? std::string{"all"} : node) + ".log");
  return std::make_unique<process>(std::move(argv), log, std::move(env));
}

/// Where each group runs: node name -> its groups (empty: the whole bank in one process).
using placement = std::vector<std::pair<std::string, std::vector<std::string>>>;

/// A started bank: its children and its gateway's port.
struct bank_cluster {
  temp_folder folder;
  std::uint16_t http_port = free_port();
  fs::path file;
  std::map<std::string, std::unique_ptr<process>> nodes; // "" = the whole bank in one process

  /// The bank placed as `where`, its system named `system`, with `extra` (TOML tables) appended
  /// to its system file.
  explicit bank_cluster(const placement& where, const std::string& system = "bank",
                        const std::string& extra = {}) {
    file =
      write_file(folder.path(), "bank.toml",
                 bank_file_text(http_port, folder.path() / "ledger.db", where, system) + extra);
    if (where.empty()) {
      nodes[""] = run_node(folder.path(), file);
      return;
    }
    for (const auto& [name, groups] : where)
      nodes[name] = run_node(folder.path(), file, name);
  }

  /// Waits until the gateway's /readyz answers 200, at most `limit` (generous: every node starts
  /// a process and joins its peers while the machine may be busy). When it never does, the
  /// children's logs are attached to the next assertion, which says why.
  bool ready(std::chrono::milliseconds limit = 30s) const {
    if (eventually([&] { return gateway_ready(http_port); }, limit))
      return true;
    UNSCOPED_INFO("not ready after " << limit.count() << " ms; the nodes' logs:\n" << logs());
    return false;
  }

  /// The ledger's SQLite file.
  fs::path ledger_db() const { return folder.path() / "ledger.db"; }

  /// Starts node `name` again (a new process on the same file and port; its log continues).
  process& restart(const std::string& name) {
    auto& p = nodes.at(name);
    p = run_node(folder.path(), file, name);
    return *p;
  }

  /// Every child's log, for a failing test's output.
  std::string logs() const {
    std::string out;
    for (const auto& [name, p] : nodes)
      out += "--- " + (name.empty() ? std::string{"bank"} : name) + "\n" + p->output();
    return out;
  }
};

} // namespace cluster_test
