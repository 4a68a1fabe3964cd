// Cross-node calls between two processes over loopback: microlith's service call to a service on
// another node of the cluster (net/include/microlith/net/cluster/cluster.hpp) against the raw CAF
// remote request it is built on, and how long the cluster takes to notice a node that died or
// froze.
//
// Every case starts its peer as a child process: this binary again, with `--serve microlith
// <parent port>` (a node that joins this process's node) or `--serve raw` (handled in main()
// before Google Benchmark sees the arguments). The child prints `port=<n>` on its stdout, a pipe
// the parent reads, and serves until its stdin (another pipe) closes or it is killed. The
// parent kills every child it starts by pid (SIGCONT + SIGKILL, then waitpid) when the guard goes
// away, also when a case fails; a child whose parent dies is killed by the kernel
// (PR_SET_PDEATHSIG).
//
// Round trips (items_per_second, wall clock): batches of 1,000 round trips (CLUSTER_BENCH_BATCH
// overrides it) from a driver actor in this process to an echo actor in the child, keeping 1 or
// 64 requests outstanding, as call_bench does in one process. Counters `p50_us` and `p99_us`: the
// round-trip latency of the individual calls of all the run's batches (with 64 outstanding this
// includes the time spent queued behind the other 63). Counter `cpu_us`: CPU time (user + system)
// of both processes per round trip while the batches ran.
// - `raw_caf_remote_request/outstanding:N`, the floor: an event-based actor
//   `request(echo, 10 s, std::string)` to the child's echo actor, published by the child with
//   `middleman().publish` and reached with `remote_actor`. The string is the serialized
//   bench.PingRequest the microlith case carries as its body (up to 3 bytes). A finite timeout: a
//   remote request with `caf::infinite` never completes when the other node dies (CAF-NOTES §6).
// - `microlith_remote_call/outstanding:N`: a worker calling the service "echo" (bench.Echo, a
//   handler answering PingReply from PingRequest) by name with `ctx.call`, the service running on
//   the child's node, which joins this process's node with `membership::join` (same system name
//   and cookie); the registry holds a proxy of the remote instance, so a call is one BASP message
//   each way. The child joins the parent, not the other way round, so that this process's node
//   has no peers to reconnect to once the child is gone.
// Both sides of both cases run on actor systems with the same scheduler threads (2), the same
// idle policy (bench::idle_spin_polls()) and the same middleman settings: the raw floor takes
// them from configure_transport() itself (middleman, heartbeat interval 200 ms, connection
// timeout 1000 ms, application id), so that the two cases differ only in what microlith does per
// call.
//
// TLS (`microlith_remote_call_tls/outstanding:N`, `failure_detection_tls/...`): the same cases
// with both nodes' links over CAF's OpenSSL module (cluster_options::tls), each node's
// self-signed ECDSA P-256 certificate pinned by both, made in a temporary folder by the parent.
//
// Failure detection (`failure_detection/sigkill`, `failure_detection/sigstop`): a fresh child node
// joins a fresh node in this process; once the child is listed in members(), it gets SIGKILL
// (the kernel closes its sockets) or SIGSTOP (it freezes with its sockets open: only the missing
// heartbeats tell), and members() is polled every 1 ms until the child is gone. Each run does 5
// trials (CLUSTER_BENCH_TRIALS overrides it); counters `detect_ms` (median), `detect_max_ms`.
// Default heartbeat settings (interval 200 ms, timeout 1000 ms); the goal is <= 1.5 s.
#include "call_driver.hpp"
#include "echo_service.hpp"
#include "idle_policy.hpp"
#include "proto/bench.pb.h"
#include "raw_call_driver.hpp"
#include "round_trip_batch.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/log.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/actors/service.hpp>
#include <microlith/net/cluster/cluster.hpp>

#include <benchmark/benchmark.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

extern char** environ;

namespace {

namespace cl = microlith::cluster;
using clock_type = std::chrono::steady_clock;

/// A positive integer from the environment variable `name`, else `fallback`.
std::int64_t env_count(const char* name, std::int64_t fallback) {
  const char* text = std::getenv(name);
  const long long parsed = text != nullptr ? std::atoll(text) : 0;
  return parsed > 0 ? static_cast<std::int64_t>(parsed) : fallback;
}

/// Round trips per benchmark iteration (a remote round trip takes far longer than one in
/// process, docs/benchmarks.md, so call_bench's 20,000 would make one batch last seconds).
std::int64_t batch_size() {
  static const std::int64_t size = env_count("CLUSTER_BENCH_BATCH", 1'000);
  return size;
}

/// Failure-detection trials per benchmark run.
std::int64_t trials_per_run() {
  static const std::int64_t trials = env_count("CLUSTER_BENCH_TRIALS", 5);
  return trials;
}

/// Scheduler threads of every actor system in this file, both processes.
constexpr std::size_t scheduler_threads = 2;

/// The finite timeout of the raw CAF requests (as call_bench's raw_caf_request_timeout).
constexpr auto raw_timeout = std::chrono::seconds(10);

/// How long a child may take to print its port, and the nodes to join or to see a service.
constexpr auto start_limit = std::chrono::seconds(15);

/// How long failure detection may take before the trial counts as failed.
constexpr auto detect_limit = std::chrono::seconds(10);

/// The cluster both processes belong to.
constexpr const char* system_name = "bench";
constexpr const char* cookie = "bench-cookie";
constexpr const char* parent_node = "parent";
constexpr const char* child_node = "child";

/// The folder of the TLS cases' certificates (parent.pem/.key, child.pem/.key, made with
/// tls::make_self_signed as `microlith cert new` makes them): made by the parent on first use
/// and named to its children in CLUSTER_BENCH_TLS_DIR. Empty when it cannot be made.
std::string tls_folder() {
  static const std::string folder = [] {
    if (const char* given = std::getenv("CLUSTER_BENCH_TLS_DIR"); given != nullptr)
      return std::string{given};
    // Where the OS keeps temporary files ($TMPDIR or /tmp).
    auto pattern =
      (std::filesystem::temp_directory_path() / "microlith-cluster-bench-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      return std::string{};
    for (const char* name : {parent_node, child_node}) {
      auto base = pattern + "/" + name;
      if (!cl::tls::make_self_signed(name, base + ".pem", base + ".key"))
        return std::string{};
    }
    ::setenv("CLUSTER_BENCH_TLS_DIR", pattern.c_str(), 1);
    return pattern;
  }();
  return folder;
}

/// The cluster settings of node `name`: the defaults (heartbeat interval 200 ms, timeout 1000
/// ms, reconnect backoff), the benchmark's system name and cookie; with `tls`, TLS links with
/// the parent's and the child's certificates pinned.
cl::cluster_options cluster_settings(std::string name, std::vector<cl::peer_address> peers = {},
                                     bool tls = false) {
  cl::cluster_options options;
  options.system = system_name;
  options.node = std::move(name);
  options.cookie = cookie;
  options.peers = std::move(peers);
  if (tls) {
    auto folder = tls_folder();
    options.tls.certificate = folder + "/" + options.node + ".pem";
    options.tls.key = folder + "/" + options.node + ".key";
    options.tls.trusted_certificates = {folder + "/" + parent_node + ".pem",
                                        folder + "/" + child_node + ".pem"};
  }
  return options;
}

/// The raw CAF floor's actor system: what a node set up with configure_transport() runs on —
/// the node's scheduler threads and idle policy (set as actors/src/node.cpp sets them), and
/// configure_transport() itself for CAF's middleman, both heartbeat keys and the application id
/// — so that raw CAF and microlith differ only in what microlith does per call.
void configure_raw(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", scheduler_threads);
  bench::apply_idle_policy(cfg);
  microlith::node_options transport;
  cl::configure_transport(transport, cluster_settings("raw"));
  transport.configure_system(cfg);
}

/// Polls `done` every millisecond until it holds (true) or `limit` passes (false).
bool eventually(const std::function<bool()>& done, clock_type::duration limit) {
  auto until = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() > until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1));
  return xs[i];
}

/// The serialized bench.PingRequest carrying `value`: the raw floor's payload, the bytes the
/// microlith case carries as its body.
std::string ping_payload(std::int64_t value) {
  bench::PingRequest request;
  request.set_value(value);
  return request.SerializeAsString();
}

// -- the echo service and the node --------------------------------------------------------------

/// Answers every string with itself: the raw floor's echo.
caf::behavior raw_echo() {
  return {[](const std::string& x) { return x; }};
}

/// A node of the benchmark's cluster, joined with `peers`, as test/unit/net/cluster_test.cpp's
/// `member` makes one. `error` says why it could not join (then `membership` is null).
struct cluster_node {
  explicit cluster_node(std::string name, std::vector<cl::peer_address> peers = {},
                        bool tls = false) {
    auto settings = cluster_settings(name, std::move(peers), tls);
    microlith::node_options options;
    options.name = std::move(name);
    options.threads = static_cast<int>(scheduler_threads);
    bench::apply_idle_policy(options);
    if (auto err = cl::configure_transport(options, settings)) {
      error = "cannot configure the transport: " + microlith::describe(err);
      node = std::make_unique<microlith::node>(options);
      return;
    }
    node = std::make_unique<microlith::node>(options);
    auto joined = cl::membership::join(*node, settings);
    if (!joined) {
      error = "cannot join: " + microlith::describe(joined.error());
      return;
    }
    membership = std::move(*joined);
  }

  ~cluster_node() {
    membership.reset(); // leaves
    node->shutdown();
  }

  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  /// True when `peer` is a member (joined and up).
  bool sees(const std::string& peer) const {
    for (const auto& m : membership->members())
      if (m.name == peer)
        return true;
    return false;
  }

  std::unique_ptr<microlith::node> node;
  std::unique_ptr<cl::membership> membership;
  std::string error;
};

// -- the child process --------------------------------------------------------------------------

/// Blocks until stdin reaches its end: the parent closed its end of the pipe, or died.
void wait_for_stdin_eof() {
  char buffer[64];
  for (;;) {
    auto n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n == 0 || (n < 0 && errno != EINTR))
      return;
  }
}

/// Tells the parent where this child listens: the only line the child writes to stdout.
void announce_port(std::uint16_t port) {
  std::printf("port=%u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
}

/// `--serve microlith <port>` (`microlith-tls`: over TLS): a cluster node serving "echo",
/// joining the parent's node at 127.0.0.1:<port>.
int serve_microlith(std::uint16_t parent_port, bool tls) {
  cluster_node self{child_node, {{parent_node, "127.0.0.1", parent_port}}, tls};
  if (!self.membership) {
    std::fprintf(stderr, "cluster_bench child: %s\n", self.error.c_str());
    return 1;
  }
  auto echo = self.node->spawn(bench::echo_definition());
  if (!echo) {
    std::fprintf(stderr, "cluster_bench child: echo failed to start: %s\n",
                 microlith::describe(echo.error()).c_str());
    return 1;
  }
  announce_port(self.membership->port());
  wait_for_stdin_eof();
  return 0;
}

/// `--serve raw`: a CAF actor system publishing an echo actor.
int serve_raw() {
  caf::actor_system_config cfg;
  configure_raw(cfg);
  caf::actor_system sys{cfg};
  auto echo = sys.spawn(raw_echo);
  auto port = sys.middleman().publish(echo, 0, "127.0.0.1", true);
  if (!port) {
    std::fprintf(stderr, "cluster_bench child: cannot publish: %s\n",
                 sys.render(port.error()).c_str());
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
    return 1;
  }
  announce_port(*port);
  wait_for_stdin_eof();
  caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  return 0;
}

/// The child's main: `cluster_bench --serve microlith <parent port>` or `--serve raw`.
int serve(int argc, char** argv) {
  // Killed with the parent even when stopped (stdin's end reaches a running child only).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::string_view mode = argv[2];
  const int port = argc == 4 ? std::atoi(argv[3]) : 0;
  if ((mode == "microlith" || mode == "microlith-tls") && port > 0 && port <= 65535)
    return serve_microlith(static_cast<std::uint16_t>(port), mode == "microlith-tls");
  if (mode == "raw" && argc == 3)
    return serve_raw();
  std::fprintf(stderr, "usage: cluster_bench --serve microlith|microlith-tls <parent port> | "
                       "--serve raw\n");
  return 2;
}

/// A child process serving `mode` (this binary with `--serve <mode> [<parent port>]`), and the
/// guard that kills it: SIGCONT (a stopped child) and SIGKILL by pid, then waitpid, when it goes
/// away. `error()` is non-empty when it could not start or did not print its port in time.
class child_process {
public:
  explicit child_process(const char* mode, std::uint16_t parent_port = 0) {
    start(mode, parent_port);
  }

  ~child_process() { kill_and_wait(); }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  const std::string& error() const noexcept { return error_; }

  std::uint16_t port() const noexcept { return port_; }

  /// CPU seconds (user + system, all threads) the child has used so far, from
  /// /proc/<pid>/stat (clock ticks, 10 ms); negative when unknown.
  double cpu_seconds() const {
    if (pid_ <= 0)
      return -1;
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid_) + "/stat").c_str(), "r");
    if (f == nullptr)
      return -1;
    char text[1024];
    auto n = std::fread(text, 1, sizeof text - 1, f);
    std::fclose(f);
    text[n] = '\0';
    // Fields after the command name (which may hold spaces), from field 3 (state) on; utime
    // and stime are fields 14 and 15.
    const char* rest = std::strrchr(text, ')');
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    if (rest == nullptr
        || std::sscanf(rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                       &stime)
             != 2)
      return -1;
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

  /// Sends `sig` to the child.
  void signal(int sig) {
    if (pid_ > 0)
      ::kill(pid_, sig);
  }

  /// Kills the child (also a stopped one) and reaps it. Idempotent.
  void kill_and_wait() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    for (int* fd : {&to_child_, &from_child_})
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
  }

private:
  void start(const char* mode, std::uint16_t parent_port) {
    char exe[4096];
    auto len = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
      error_ = "cannot find this executable: " + std::string{std::strerror(errno)};
      return;
    }
    exe[len] = '\0';
    int in[2];  // the child's stdin: it serves until this pipe closes
    int out[2]; // the child's stdout: it prints its port here
    if (::pipe2(in, O_CLOEXEC) != 0) {
      error_ = "pipe: " + std::string{std::strerror(errno)};
      return;
    }
    if (::pipe2(out, O_CLOEXEC) != 0) {
      error_ = "pipe: " + std::string{std::strerror(errno)};
      ::close(in[0]);
      ::close(in[1]);
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    // Nothing else of this process (the sockets of its actor systems) leaks into the child.
    posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::string arg0 = exe;
    std::string arg1 = "--serve";
    std::string arg2 = mode;
    std::string arg3 = std::to_string(parent_port);
    char* argv[] = {arg0.data(), arg1.data(), arg2.data(), parent_port > 0 ? arg3.data() : nullptr,
                    nullptr};
    auto rc = ::posix_spawn(&pid_, exe, &actions, &attributes, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    ::close(in[0]);
    ::close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      error_ = "posix_spawn: " + std::string{std::strerror(rc)};
      return;
    }
    read_port();
  }

  // Reads the child's `port=<n>` line.
  void read_port() {
    std::string line;
    auto until = clock_type::now() + start_limit;
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
      if (left.count() <= 0) {
        error_ = "the child did not print its port within 15 s";
        return;
      }
      pollfd p{from_child_, POLLIN, 0};
      auto ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR)
        continue;
      if (ready <= 0)
        continue; // the deadline check above decides
      char buffer[64];
      auto n = ::read(from_child_, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        error_ = "the child exited before printing its port (see its stderr)";
        return;
      }
      line.append(buffer, static_cast<std::size_t>(n));
    }
    unsigned port = 0;
    if (std::sscanf(line.c_str(), "port=%u", &port) != 1 || port == 0 || port > 65535) {
      error_ = "the child printed no port: " + line;
      return;
    }
    port_ = static_cast<std::uint16_t>(port);
  }

  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::uint16_t port_ = 0;
  std::string error_;
};

// -- batches of round trips ---------------------------------------------------------------------

/// CPU seconds (user + system, all threads) this process has used so far.
double own_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

/// The CPU both processes use while a run's batches go on.
class cpu_meter {
public:
  explicit cpu_meter(const child_process& child)
    : child_(child), own_(own_cpu_seconds()), child_start_(child.cpu_seconds()) {}

  /// Microseconds of CPU of both processes since construction, per `round_trips`.
  double per_round_trip_us(std::int64_t round_trips) const {
    auto child_now = child_.cpu_seconds();
    if (round_trips <= 0 || child_now < 0 || child_start_ < 0)
      return 0;
    auto used = own_cpu_seconds() - own_ + child_now - child_start_;
    return used * 1e6 / static_cast<double>(round_trips);
  }

private:
  const child_process& child_;
  double own_;
  double child_start_;
};

/// Round trips, latency percentiles and CPU per round trip of a finished run.
void report_round_trips(benchmark::State& state, const std::vector<double>& latencies_us,
                        const cpu_meter& cpu) {
  const auto round_trips = static_cast<std::int64_t>(state.iterations()) * batch_size();
  state.counters["cpu_us"] = cpu.per_round_trip_us(round_trips);
  state.SetItemsProcessed(round_trips);
  state.counters["p50_us"] = percentile(latencies_us, 0.50);
  state.counters["p99_us"] = percentile(latencies_us, 0.99);
}

// -- raw CAF ------------------------------------------------------------------------------------

void raw_caf_remote_request(benchmark::State& state) {
  child_process child{"raw"};
  if (!child.error().empty()) {
    state.SkipWithError(child.error().c_str());
    return;
  }
  caf::actor_system_config cfg;
  configure_raw(cfg);
  caf::actor_system sys{cfg};
  auto echo = sys.middleman().remote_actor("127.0.0.1", child.port());
  if (!echo) {
    state.SkipWithError(("remote_actor failed: " + sys.render(echo.error())).c_str());
    return;
  }
  {
    // One round trip before the clock runs: the connection and the proxies are set up.
    caf::scoped_actor warm{sys};
    std::string failure;
    warm->request(*echo, raw_timeout, ping_payload(0))
      .receive([](const std::string&) {},
               [&](caf::error& err) { failure = "warm-up failed: " + sys.render(err); });
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      return;
    }
  }
  const auto outstanding = state.range(0);
  std::vector<double> latencies_us;
  cpu_meter cpu{child};
  for (auto _ : state) {
    auto work = std::make_shared<bench::round_trip_batch>(batch_size(), outstanding,
                                                          bench::timing::per_round_trip);
    auto failure = bench::run_batch(work, [&](const auto& w) -> caf::expected<caf::actor> {
      return sys.spawn(bench::raw_driver<std::string>, *echo, caf::duration{raw_timeout},
                       &ping_payload, w);
    });
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      break;
    }
    latencies_us.insert(latencies_us.end(), work->latencies_us.begin(), work->latencies_us.end());
  }
  report_round_trips(state, latencies_us, cpu);
}

// -- microlith ----------------------------------------------------------------------------------

void remote_call(benchmark::State& state, bool tls) {
  cluster_node self{parent_node, {}, tls};
  if (!self.membership) {
    state.SkipWithError(self.error.c_str());
    return;
  }
  child_process child{tls ? "microlith-tls" : "microlith", self.membership->port()};
  if (!child.error().empty()) {
    state.SkipWithError(child.error().c_str());
    return;
  }
  auto& node = *self.node;
  if (!eventually([&] { return !node.registry().snapshot()->instances("echo").empty(); },
                  start_limit)) {
    state.SkipWithError("the child's echo service did not appear in this node's registry");
    return;
  }
  bench::PingRequest warm_up;
  warm_up.set_value(0);
  if (auto reply = node.call<bench::PingReply>("echo", "Ping", warm_up); !reply) {
    state.SkipWithError(("warm-up call failed: " + microlith::describe(reply.error())).c_str());
    return;
  }
  const auto outstanding = state.range(0);
  std::vector<double> latencies_us;
  cpu_meter cpu{child};
  for (auto _ : state) {
    auto work = std::make_shared<bench::round_trip_batch>(batch_size(), outstanding,
                                                          bench::timing::per_round_trip);
    auto failure = bench::run_batch(
      work, [&](const auto& w) { return node.start(bench::driver_definition(w), caf::actor{}); });
    if (!failure.empty()) {
      state.SkipWithError(failure.c_str());
      break;
    }
    latencies_us.insert(latencies_us.end(), work->latencies_us.begin(), work->latencies_us.end());
  }
  report_round_trips(state, latencies_us, cpu);
}

void microlith_remote_call(benchmark::State& state) {
  remote_call(state, false);
}

/// The same over TLS links (CAF's OpenSSL module, both certificates pinned).
void microlith_remote_call_tls(benchmark::State& state) {
  remote_call(state, true);
}

// -- failure detection --------------------------------------------------------------------------

/// One trial: a fresh child node joins a fresh node here, the child gets `sig`, and the time
/// until members() no longer lists it is returned in milliseconds (negative: failed, `why` set).
double detection_trial(int sig, bool tls, std::string& why) {
  cluster_node self{parent_node, {}, tls};
  if (!self.membership) {
    why = self.error;
    return -1;
  }
  child_process child{tls ? "microlith-tls" : "microlith", self.membership->port()};
  if (!child.error().empty()) {
    why = child.error();
    return -1;
  }
  if (!eventually([&] { return self.sees(child_node); }, start_limit)) {
    why = "the child did not join within 15 s";
    return -1;
  }
  auto signalled = clock_type::now();
  child.signal(sig);
  if (!eventually([&] { return !self.sees(child_node); }, detect_limit)) {
    why = "the child was still a member 10 s after the signal";
    return -1;
  }
  auto took = clock_type::now() - signalled;
  child.kill_and_wait();
  return std::chrono::duration<double, std::milli>(took).count();
}

void detection(benchmark::State& state, int sig, bool tls) {
  std::vector<double> samples_ms;
  std::string why;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < trials_per_run() && why.empty(); ++i)
      if (auto ms = detection_trial(sig, tls, why); ms >= 0)
        samples_ms.push_back(ms);
    if (!why.empty()) {
      state.SkipWithError(why.c_str());
      break;
    }
  }
  if (samples_ms.empty())
    return;
  state.counters["detect_ms"] = percentile(samples_ms, 0.5);
  state.counters["detect_max_ms"] = *std::max_element(samples_ms.begin(), samples_ms.end());
  state.counters["trials"] = static_cast<double>(samples_ms.size());
}

void failure_detection(benchmark::State& state, int sig) {
  detection(state, sig, false);
}

void failure_detection_tls(benchmark::State& state, int sig) {
  detection(state, sig, true);
}

} // namespace

// As in call_bench, the repetition length is left to the command line (bench/run.sh asks for
// 1 s). Failure detection runs one iteration of CLUSTER_BENCH_TRIALS trials per repetition.
BENCHMARK(raw_caf_remote_request)
  ->ArgName("outstanding")
  ->Arg(1)
  ->Arg(64)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK(microlith_remote_call)
  ->ArgName("outstanding")
  ->Arg(1)
  ->Arg(64)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK(microlith_remote_call_tls)
  ->ArgName("outstanding")
  ->Arg(1)
  ->Arg(64)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(failure_detection, sigkill, SIGKILL)
  ->Iterations(1)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(failure_detection, sigstop, SIGSTOP)
  ->Iterations(1)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(failure_detection_tls, sigkill, SIGKILL)
  ->Iterations(1)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(failure_detection_tls, sigstop, SIGSTOP)
  ->Iterations(1)
  ->UseRealTime()
  ->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  // The membership logs every join and loss at info/warn: the detection trials would flood the
  // benchmark's output. Errors (a refused handshake) still show; CLUSTER_BENCH_LOG=info shows
  // everything, in both processes.
  const char* level = std::getenv("CLUSTER_BENCH_LOG");
  auto parsed = microlith::log::parse_level(level != nullptr ? level : "error");
  microlith::log::set_level(parsed ? *parsed : microlith::log::level::error);
  // The child: `cluster_bench --serve <mode>`, before Google Benchmark parses the arguments.
  if (argc >= 3 && std::string_view{argv[1]} == "--serve")
    return serve(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv))
    return 1;
  const bool certificates_given = std::getenv("CLUSTER_BENCH_TLS_DIR") != nullptr;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (const char* made = std::getenv("CLUSTER_BENCH_TLS_DIR");
      made != nullptr && !certificates_given) {
    std::error_code ignored;
    std::filesystem::remove_all(made, ignored);
  }
  return 0;
}
