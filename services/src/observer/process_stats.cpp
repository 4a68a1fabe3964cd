// Process statistics from /proc (see process_stats.hpp).
#include "observer/process_stats.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/multiplexer.hpp>

#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace microlith::observer {

namespace {

// The name CAF 0.17.6 gives its scheduler workers (and its middleman's I/O thread).
constexpr const char* worker_thread_name = "caf.multiplexer";

std::string read_all(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    return {};
  return std::string{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

// One /proc/<pid>/stat or /proc/self/task/<tid>/stat line: the name between its parentheses and
// the fields after them (fields[0] is field 3 of proc(5), the state).
struct stat_line {
  std::string comm;
  std::vector<std::string> fields;

  bool ok() const noexcept { return fields.size() >= 20; }
  // Field `n` as proc(5) counts them (1-based; n >= 3).
  unsigned long long field(std::size_t n) const {
    return std::strtoull(fields.at(n - 3).c_str(), nullptr, 10);
  }
  // utime + stime in clock ticks.
  unsigned long long cpu_ticks() const { return field(14) + field(15); }
};

stat_line read_stat(const std::string& path) {
  stat_line out;
  auto text = read_all(path);
  // The name may hold spaces and parentheses: it ends at the last ')'.
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open)
    return out;
  out.comm = text.substr(open + 1, close - open - 1);
  std::istringstream rest{text.substr(close + 1)};
  for (std::string f; rest >> f;)
    out.fields.push_back(std::move(f));
  return out;
}

double ticks_per_second() {
  static const double ticks = [] {
    auto t = ::sysconf(_SC_CLK_TCK);
    return t > 0 ? static_cast<double>(t) : 100.0;
  }();
  return ticks;
}

} // namespace

std::int64_t resident_bytes() {
  std::istringstream in{read_all("/proc/self/statm")};
  long long size = 0;
  long long resident = 0;
  if (!(in >> size >> resident))
    return 0;
  return static_cast<std::int64_t>(resident) * static_cast<std::int64_t>(::sysconf(_SC_PAGESIZE));
}

double process_cpu_seconds() {
  auto st = read_stat("/proc/self/stat");
  if (!st.ok())
    return 0;
  return static_cast<double>(st.cpu_ticks()) / ticks_per_second();
}

double process_start_unix_seconds() {
  auto st = read_stat("/proc/self/stat");
  if (!st.ok())
    return 0;
  std::istringstream in{read_all("/proc/stat")};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("btime ", 0) != 0)
      continue;
    auto boot = std::strtoll(line.c_str() + 6, nullptr, 10);
    return static_cast<double>(boot) + static_cast<double>(st.field(22)) / ticks_per_second();
  }
  return 0;
}

worker_threads scheduler_worker_threads(long excluded_tid) {
  worker_threads out;
  auto* dir = ::opendir("/proc/self/task");
  if (dir == nullptr)
    return out;
  unsigned long long ticks = 0;
  while (auto* entry = ::readdir(dir)) {
    if (entry->d_name[0] < '0' || entry->d_name[0] > '9')
      continue;
    if (excluded_tid != 0 && std::strtol(entry->d_name, nullptr, 10) == excluded_tid)
      continue;
    auto st = read_stat(std::string{"/proc/self/task/"} + entry->d_name + "/stat");
    if (!st.ok() || st.comm != worker_thread_name)
      continue; // another thread, or one that ended while we read
    ++out.threads;
    ticks += st.cpu_ticks();
  }
  ::closedir(dir);
  out.cpu_seconds = static_cast<double>(ticks) / ticks_per_second();
  return out;
}

long middleman_thread_id(caf::actor_system& sys, std::chrono::milliseconds timeout) {
  if (!sys.has_middleman())
    return 0;
  // Shared with the posted function: it may run after we gave up waiting.
  auto answer = std::make_shared<std::promise<long>>();
  auto tid = answer->get_future();
  sys.middleman().backend().post(
    [answer] { answer->set_value(static_cast<long>(::syscall(SYS_gettid))); });
  if (tid.wait_for(timeout) != std::future_status::ready)
    return 0;
  return tid.get();
}

scheduler_sampler::scheduler_sampler(caf::actor_system& sys)
  : middleman_tid_(middleman_thread_id(sys)) {
  sample();
}

void scheduler_sampler::sample() {
  previous_ = last_;
  last_.at = std::chrono::steady_clock::now();
  last_.workers = scheduler_worker_threads(middleman_tid_);
  ++samples_;
}

double scheduler_sampler::utilisation() const noexcept {
  if (samples_ < 2 || last_.workers.threads == 0)
    return 0;
  auto wall = std::chrono::duration<double>(last_.at - previous_.at).count();
  if (wall <= 0)
    return 0;
  auto busy = last_.workers.cpu_seconds - previous_.workers.cpu_seconds;
  auto ratio = busy / (static_cast<double>(last_.workers.threads) * wall);
  return std::clamp(ratio, 0.0, 1.0);
}

std::uint32_t scheduler_sampler::threads() const noexcept {
  return last_.workers.threads;
}

double scheduler_sampler::cpu_seconds() const noexcept {
  return last_.workers.cpu_seconds;
}

} // namespace microlith::observer
