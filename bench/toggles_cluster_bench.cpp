// How long a toggle change takes to be in force on every node of a 3-node cluster (docs/toggles.md,
// "Cluster-wide"; docs/benchmarks.md, "Toggles across a cluster").
//
// Three real node processes (`microlith run FILE --node a|b|c`, the program given as the first
// argument) on 127.0.0.1, each with a gateway serving the admin routes. Each node gets its own
// copy of the system file, identical but for `[toggles] database` (each node its own SQLite file;
// a cluster checks the system name and the cookie, not the file). The driver sends N changes
// (POST /_microlith/toggles/bench.flag?boolean=on|off, alternating) one at a time to node a's
// admin endpoint over one keep-alive connection and times each from the request's send to its
// answer: the answer comes once a has saved and published it and b and c have acknowledged it
// (saved and published there), so this is the time until every node applies a change, plus one
// HTTP round trip and the admin token check. Every answer must name the three nodes in
// applied_on, or the run fails.
//
// Two cases: `memory` (no [toggles] database: values in memory) and `sqlite` (a database file per
// node, WAL with synchronous=FULL: one fsync on each node per change). Prints the median, p90,
// p99 and max in milliseconds.
//
// Usage: toggles_cluster_bench MICROLITH [N (default 200)] [memory|sqlite|both (default both)]
// Every child is stopped by pid (SIGTERM, then SIGKILL) when the run ends or fails, and dies with
// this process (PR_SET_PDEATHSIG).
#include "integration/http_client.hpp"
#include "support/temp_folder.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

const std::string token = "toggles-cluster-bench-token-012345";
const std::vector<std::string> names{"a", "b", "c"};

std::uint16_t free_port() {
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor{
    ioc, boost::asio::ip::tcp::endpoint{boost::asio::ip::address_v4::loopback(), 0}};
  return acceptor.local_endpoint().port();
}

std::string read_text(const fs::path& file) {
  std::ifstream in{file};
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// A child `microlith run` process, stopped by pid when this goes away.
class child {
public:
  child(const std::vector<std::string>& argv, const fs::path& log) : log_(log) {
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        ::close(fd);
      }
      std::vector<char*> args;
      for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~child() {
    if (pid_ <= 0)
      return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_)
        return;
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;
  std::string output() const { return read_text(log_); }

private:
  pid_t pid_ = -1;
  fs::path log_;
};

bool wait_until(const std::function<bool()>& done, std::chrono::seconds limit) {
  auto until = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() > until)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// How many nodes a change's answer names in applied_on.
int applied_count(const std::string& body) {
  auto at = body.find("\"applied_on\":[");
  if (at == std::string::npos)
    return 0;
  auto end = body.find(']', at);
  return static_cast<int>(std::count(body.begin() + static_cast<long>(at),
                                     body.begin() + static_cast<long>(end), '"'))
           / 2
         - 1; // the field's own name
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

int run_case(const std::string& microlith, int n, bool sqlite) {
  test_support::temp_folder folder{"toggles-cluster-bench"};
  std::map<std::string, std::uint16_t> http_ports, node_ports;
  for (const auto& name : names) {
    http_ports[name] = free_port();
    node_ports[name] = free_port();
  }
  std::vector<std::unique_ptr<child>> nodes;
  for (const auto& name : names) {
    std::string text = "[system]\nname = \"togbench\"\nthreads = 2\n\n[admin]\ntoken = \"" + token
                       + "\"\n\n[toggles]\n";
    if (sqlite)
      text += "database = \"toggles-" + name + ".db\"\n";
    text += "[toggles.\"bench.flag\"]\ndefault = false\ndescription = \"a flag\"\n";
    for (const auto& other : names) {
      text += "\n[groups." + other + "_gateway]\nmodule = \"microlith.gateway\"\n"
              + "restart = \"transient\"\n[groups." + other + "_gateway.http]\n"
              + "listen = \"127.0.0.1:" + std::to_string(http_ports[other]) + "\"\nadmin = true\n";
      text += "\n[nodes." + other + "]\nlisten = \"127.0.0.1:" + std::to_string(node_ports[other])
              + "\"\ngroups = [\"" + other + "_gateway\"]\n";
    }
    text += "\n[cluster]\ncookie = \"toggles-bench-cookie\"\n";
    auto file = folder.path() / ("togbench-" + name + ".toml");
    std::ofstream{file} << text;
    nodes.push_back(std::make_unique<child>(
      std::vector<std::string>{microlith, "run", file.string(), "--node", name},
      folder.path() / (name + ".log")));
  }
  auto logs = [&] {
    std::string out;
    for (std::size_t i = 0; i < nodes.size(); ++i)
      out += "--- " + names[i] + "\n" + nodes[i]->output();
    return out;
  };
  // Ready: a's change reaches the three nodes.
  const std::vector<std::pair<std::string, std::string>> auth{{"Authorization", "Bearer " + token}};
  bool joined = wait_until(
    [&] {
      try {
        bank_test::http_client c{http_ports["a"]};
        auto r =
          c.request(http::verb::post, "/_microlith/toggles/bench.flag?boolean=off", {}, auth);
        return r.status == 200 && applied_count(r.body) == 3;
      } catch (const std::exception&) {
        return false;
      }
    },
    60s);
  if (!joined) {
    std::fprintf(stderr, "the three nodes did not join within 60 s; their logs:\n%s\n",
                 logs().c_str());
    return 1;
  }
  bank_test::http_client c{http_ports["a"]};
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto target =
      std::string{"/_microlith/toggles/bench.flag?boolean="} + (i % 2 == 0 ? "on" : "off");
    auto start = clock_type::now();
    auto r = c.request(http::verb::post, target, {}, auth);
    auto took = std::chrono::duration<double, std::milli>(clock_type::now() - start).count();
    if (r.status != 200 || applied_count(r.body) != 3) {
      std::fprintf(stderr, "change %d: status %u, answer %s\n", i, r.status, r.body.c_str());
      return 1;
    }
    ms.push_back(took);
  }
  std::printf("%-7s changes=%d  median=%.2f ms  p90=%.2f ms  p99=%.2f ms  max=%.2f ms\n",
              sqlite ? "sqlite" : "memory", n, percentile(ms, 0.5), percentile(ms, 0.9),
              percentile(ms, 0.99), *std::max_element(ms.begin(), ms.end()));
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MICROLITH [N] [memory|sqlite|both]\n", argv[0]);
    return 2;
  }
  const std::string microlith = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 200;
  const std::string which = argc > 3 ? argv[3] : "both";
  if (n <= 0 || (which != "memory" && which != "sqlite" && which != "both")) {
    std::fprintf(stderr, "usage: %s MICROLITH [N > 0] [memory|sqlite|both]\n", argv[0]);
    return 2;
  }
  try {
    int failed = 0;
    if (which != "sqlite")
      failed |= run_case(microlith, n, false);
    if (which != "memory")
      failed |= run_case(microlith, n, true);
    return failed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "toggles_cluster_bench: %s\n", e.what());
    return 1;
  }
}
