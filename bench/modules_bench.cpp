// Hot-loaded modules (code_server.hpp, docs/modules.md), measured on a real node: a host running
// one gateway group with the admin endpoint on (127.0.0.1, an OS-chosen port) and a module store
// in a fresh temp folder, driven over real HTTP with the archives of the test modules
// (test/modules/: test.greeter 1.0.0 and 2.0.0, route GET /greet/{name}, installed under the
// route prefix /c). A program, not a Google Benchmark binary: it prints its own tables
// (docs/benchmarks.md, "Hot-loaded modules"). Every operation goes through the admin endpoint,
// as `microlith modules install` / `modules activate` send it.
//
// 1. Install -> first answered request (--installs runs, each on a fresh node and store): from
//    the moment the admin POST /_microlith/modules?route_prefix=/c&activate=true starts (its
//    connection already open) until the first 200 on GET /c/greet/first. A prober thread on its
//    own keep-alive connection sends that GET non-stop from just before the POST (404 until the
//    route exists), so the figure does not wait for the admin answer. Also: when the POST was
//    answered.
// 2. Replaces (--replaces, alternating 2.0.0 and 1.0.0, each an admin POST
//    /_microlith/modules/test.greeter/activate?version=V) under continuous load: --http-clients
//    threads, each with one keep-alive connection sending GET /c/greet/load back to back, and
//    --service-callers threads calling the service greeter.Hello by name with node::call_shared
//    (the request built from the loaded contract: the program does not link it). Each replace is
//    split from outside the code server: the registry's watcher timestamps the new instance's
//    registration and the old instance's removal, a functor attached to the old instance
//    timestamps its exit, and the load threads timestamp the first answer from the new version.
// 3. Requests sent, answered (200 with the greeting) and failed (any other status, a wrong body,
//    a connection error, a failed service call) over all the replaces; the goal is 0 failed.
// 4. Resident set (VmRSS of /proc/self/status) and glibc heap in use (mallinfo2) with the load
//    running: before the first replace, after the first --warmup replaces, every 100 replaces,
//    after the last, and --settle seconds after the last (the load still running); the growth
//    per replace over the whole run and over the replaces after the warm-up.
//
// Exits 0 when it measured (a missed goal is reported, not an error), 1 when something did not
// work (a refused install, a node that did not start), 2 on bad usage.
#include <microlith/actors/error.hpp>
#include <microlith/actors/log.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/system_file.hpp>

#include "integration/http_client.hpp"
#include "support/temp_folder.hpp"
#include "test_module_paths.hpp"

#include <caf/all.hpp>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace http = boost::beast::http;
namespace pb = google::protobuf;
using clock_type = std::chrono::steady_clock;

const std::string admin_token = "modules-bench-admin-token-0123456789";
const std::string prefix = "/c";

/// What the command line sets.
struct settings {
  int installs = 5;
  int replaces = 100;
  int warmup = 10;
  int http_clients = 4;
  int service_callers = 1;
  int settle = 10; ///< seconds
};

/// Bad usage: the message names the argument and what was expected (exit code 2).
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const char* usage = "usage: modules_bench [--installs N] [--replaces N] [--warmup N] "
                    "[--http-clients N] [--service-callers N] [--settle SECONDS]";

settings parse_arguments(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    int* target = nullptr;
    int least = 1;
    if (arg == "--installs")
      target = &s.installs;
    else if (arg == "--replaces")
      target = &s.replaces;
    else if (arg == "--warmup")
      target = &s.warmup, least = 0;
    else if (arg == "--http-clients")
      target = &s.http_clients, least = 0;
    else if (arg == "--service-callers")
      target = &s.service_callers, least = 0;
    else if (arg == "--settle")
      target = &s.settle, least = 0;
    else if (arg == "-h" || arg == "--help")
      throw usage_error("");
    else
      throw usage_error("unknown argument \"" + arg + "\"");
    if (i + 1 >= argc)
      throw usage_error(arg + " needs a number");
    std::string value = argv[++i];
    char* end = nullptr;
    long parsed = std::strtol(value.c_str(), &end, 10);
    if (value.empty() || *end != '\0' || parsed < least || parsed > 100000)
      throw usage_error(arg + " " + value + ": expected a whole number from "
                        + std::to_string(least) + " to 100000");
    *target = static_cast<int>(parsed);
  }
  if (s.warmup >= s.replaces)
    throw usage_error("--warmup " + std::to_string(s.warmup) + ": expected fewer than --replaces ("
                      + std::to_string(s.replaces) + ")");
  if (s.http_clients + s.service_callers == 0)
    throw usage_error("--http-clients 0 and --service-callers 0: expected some load");
  return s;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now().time_since_epoch())
    .count();
}

double ms_between(std::int64_t from_ns, std::int64_t to_ns) {
  return static_cast<double>(to_ns - from_ns) / 1e6;
}

std::string read_bytes(const std::string& file) {
  std::ifstream in{file, std::ios::binary};
  if (!in)
    throw std::runtime_error("cannot read " + file + " (build the target test_modules)");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// The value of `key` ("VmRSS:") in /proc/self/status, in kB.
long status_kb(const char* key) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0)
      return std::atol(line.c_str() + std::strlen(key));
  throw std::runtime_error(std::string("/proc/self/status has no ") + key);
}

/// The process's memory at one moment.
struct memory_sample {
  long rss_kb = 0;
  long heap_kb = 0; ///< glibc heap in use (mallinfo2().uordblks)
};

memory_sample sample_memory() {
  return {status_kb("VmRSS:"), static_cast<long>(mallinfo2().uordblks / 1024)};
}

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(i, xs.size() - 1)];
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

/// "1.0.0" or "2.0.0" from a greeting "hello NAME from VERSION" in `text`; 0 when neither.
int version_in(const std::string& text) {
  if (text.find(" from 1.0.0") != std::string::npos)
    return 1;
  if (text.find(" from 2.0.0") != std::string::npos)
    return 2;
  return 0;
}

// -- a node with a module store and a gateway -----------------------------------------------------

/// One gateway group (admin on, OS-chosen port) and a module store in `dir`.
microlith::system_config system_with_store(const std::filesystem::path& dir) {
  std::string text = "[system]\nname = \"modules-bench\"\nthreads = 2\n[admin]\ntoken = \""
                     + admin_token + "\"\n[modules]\ndir = \"" + (dir / "modules").string()
                     + "\"\n[groups.web]\nmodule = \"microlith.gateway\"\n"
                       "[groups.web.http]\nadmin = true\nlisten = \"127.0.0.1:0\"\n";
  return microlith::parse_system_file(text, (dir / "system.toml").string());
}

/// A node running that system in a fresh temp folder (removed at the end), with its port.
struct running_system {
  running_system() : config(system_with_store(dir.path())), n(microlith::node_options_for(config)) {
    h = std::make_unique<microlith::host>(n, config);
    if (auto err = h->start())
      throw std::runtime_error("the node did not start: " + microlith::describe(err));
    if (!eventually([&] { return h->http_port("web") != 0; }, std::chrono::seconds(20)))
      throw std::runtime_error("the gateway did not listen within 20 s");
    port = h->http_port("web");
  }

  ~running_system() { h.reset(); }

  /// An admin request on connection `c`; throws unless it is answered 200.
  void admin(bank_test::http_client& c, http::verb verb, const std::string& target,
             const std::string& body = {}) {
    auto a = c.request(verb, target, body, {{"Authorization", "Bearer " + admin_token}});
    if (a.status != 200)
      throw std::runtime_error(target + " answered " + std::to_string(a.status) + ": " + a.body);
  }

  void admin(http::verb verb, const std::string& target, const std::string& body = {}) {
    bank_test::http_client c{port};
    admin(c, verb, target, body);
  }

  test_support::temp_folder dir{"modules-bench"};
  microlith::system_config config;
  microlith::node n;
  std::unique_ptr<microlith::host> h;
  std::uint16_t port = 0;
};

std::string install_target(bool activate) {
  return "/_microlith/modules?route_prefix=" + prefix + (activate ? "&activate=true" : "");
}

std::string activate_target(int version) {
  return "/_microlith/modules/test.greeter/activate?version=" + std::to_string(version) + ".0.0";
}

// -- 1. install -> first answered request ---------------------------------------------------------

struct install_run {
  double first_answer_ms = 0; ///< POST started -> first 200 on the module's route
  double post_answered_ms = 0;
  long probes = 0; ///< GETs the prober sent until the first 200 (included)
};

install_run measure_install(const std::string& archive) {
  running_system sys;
  bank_test::http_client admin{sys.port};
  std::atomic<std::int64_t> started{0};
  std::atomic<std::int64_t> first_answer{0};
  std::atomic<bool> give_up{false};
  std::atomic<bool> connected{false};
  std::atomic<bool> finished{false}; // the prober returned; probe_error is set by then
  std::atomic<long> probes{0};
  std::string probe_error;
  std::thread prober{[&] {
    try {
      bank_test::http_client c{sys.port};
      connected = true;
      while (started.load() == 0 && !give_up)
        std::this_thread::yield();
      while (!give_up) {
        ++probes;
        auto a = c.request(http::verb::get, prefix + "/greet/first");
        if (a.status == 200 && version_in(a.body) == 1) {
          first_answer = now_ns();
          break;
        }
        if (a.status != 404) {
          probe_error =
            "GET " + prefix + "/greet/first answered " + std::to_string(a.status) + ": " + a.body;
          break;
        }
      }
    } catch (const std::exception& e) {
      probe_error = std::string("the prober's connection failed: ") + e.what();
    }
    finished = true;
  }};
  install_run run;
  try {
    // The prober's connection is open before the clock starts.
    if (!eventually([&] { return connected.load() || finished.load(); }, std::chrono::seconds(30)))
      throw std::runtime_error("the prober did not connect within 30 s");
    started = now_ns();
    sys.admin(admin, http::verb::post, install_target(true), archive);
    run.post_answered_ms = ms_between(started, now_ns());
  } catch (...) {
    give_up = true;
    prober.join();
    throw;
  }
  bool answered = eventually([&] { return finished.load(); }, std::chrono::seconds(30));
  give_up = true;
  prober.join();
  if (!probe_error.empty())
    throw std::runtime_error(probe_error);
  if (!answered || first_answer.load() == 0)
    throw std::runtime_error("no answer on " + prefix + "/greet/first within 30 s of the install");
  run.first_answer_ms = ms_between(started, first_answer);
  run.probes = probes;
  return run;
}

// -- 2.-4. replaces under load --------------------------------------------------------------------

/// What the load threads count.
struct load_counters {
  std::atomic<long> sent{0};
  std::atomic<long> answered{0};
  std::atomic<long> failed{0};
  std::atomic<long> by_version[3] = {{0}, {0}, {0}};
  std::mutex mutex;
  std::string last_failure;

  void fail(std::string why) {
    ++failed;
    std::lock_guard<std::mutex> guard{mutex};
    last_failure = std::move(why);
  }
};

/// The version a replace moves to and when an answer from it was first seen: counted only once
/// the new instance is registered (`armed`), so that an answer of the version the previous
/// replace retired, read by a load thread late, is not taken for one from the new instance.
struct switch_watch {
  std::atomic<int> target{0};
  std::atomic<bool> armed{false};
  std::atomic<std::int64_t> first_answer_ns{0};

  void saw(int version) {
    if (!armed.load() || version != target.load())
      return;
    std::int64_t none = 0;
    first_answer_ns.compare_exchange_strong(none, now_ns());
  }
};

/// The registry's changes of the service "greeter", timestamped; arms `watch` when an instance
/// is added (during a replace, only the new version's is).
struct registry_log {
  explicit registry_log(switch_watch& w) : watch(w) {}

  struct event {
    std::int64_t at_ns;
    microlith::registry_change::kind what;
    caf::actor_addr instance;
  };

  void record(const microlith::registry_change& change) {
    if (change.name != "greeter")
      return;
    auto at = now_ns();
    if (change.what == microlith::registry_change::kind::added)
      watch.armed = true;
    std::lock_guard<std::mutex> guard{mutex};
    events.push_back({at, change.what, change.instance.address()});
  }

  std::vector<event> take() {
    std::lock_guard<std::mutex> guard{mutex};
    return std::exchange(events, {});
  }

  switch_watch& watch;
  std::mutex mutex;
  std::vector<event> events;
};

/// One replace, split: ms from the moment its admin POST started (a phase that is not seen
/// makes the run fail).
struct replace_sample {
  double total = 0;       ///< the admin POST answered
  double new_added = 0;   ///< the new version's instance registered
  double first_new = 0;   ///< the first answer from the new version (HTTP or service call)
  double old_removed = 0; ///< the old version's instance out of the registry
  double old_stopped = 0; ///< the old version's instance exited
};

void http_load(std::uint16_t port, const std::atomic<bool>& stop, load_counters& counters,
               switch_watch& watch) {
  std::unique_ptr<bank_test::http_client> c;
  const std::string target = prefix + "/greet/load";
  while (!stop) {
    ++counters.sent;
    try {
      if (!c)
        c = std::make_unique<bank_test::http_client>(port);
      auto a = c->request(http::verb::get, target);
      int version = version_in(a.body);
      if (a.status == 200 && version != 0) {
        ++counters.answered;
        ++counters.by_version[version];
        watch.saw(version);
      } else {
        counters.fail("GET " + target + " answered " + std::to_string(a.status) + ": " + a.body);
      }
    } catch (const std::exception& e) {
      counters.fail(std::string("GET ") + target + ": connection error: " + e.what());
      c.reset();
    }
  }
}

/// The greeter contract's messages, as the loaded contracts library registered them.
struct greeter_contract {
  const pb::Message* request_prototype = nullptr;
  const pb::FieldDescriptor* name = nullptr;
  const pb::FieldDescriptor* text = nullptr;
};

greeter_contract find_greeter_contract() {
  const auto* pool = pb::DescriptorPool::generated_pool();
  const auto* request = pool->FindMessageTypeByName("microlith.test.greeter.HelloRequest");
  const auto* reply = pool->FindMessageTypeByName("microlith.test.greeter.HelloReply");
  if (request == nullptr || reply == nullptr)
    throw std::runtime_error("the greeter contract is not in the process after the install");
  greeter_contract c;
  c.request_prototype = pb::MessageFactory::generated_factory()->GetPrototype(request);
  c.name = request->FindFieldByName("name");
  c.text = reply->FindFieldByName("text");
  if (c.request_prototype == nullptr || c.name == nullptr || c.text == nullptr)
    throw std::runtime_error("the greeter contract lacks HelloRequest.name or HelloReply.text");
  return c;
}

void service_load(microlith::node& n, const greeter_contract& contract,
                  const std::atomic<bool>& stop, load_counters& counters, switch_watch& watch) {
  std::shared_ptr<pb::Message> request{contract.request_prototype->New()};
  request->GetReflection()->SetString(request.get(), contract.name, "svc");
  microlith::message_ptr body = request;
  while (!stop) {
    ++counters.sent;
    auto reply = n.call_shared("greeter", "Hello", body);
    if (!reply) {
      counters.fail("greeter.Hello failed: " + microlith::describe(reply.error()));
      continue;
    }
    const auto& r = **reply;
    if (r.GetDescriptor() != contract.text->containing_type()) {
      counters.fail("greeter.Hello answered a " + r.GetTypeName());
      continue;
    }
    int version = version_in(r.GetReflection()->GetString(r, contract.text));
    if (version == 0) {
      counters.fail("greeter.Hello answered \"" + r.GetReflection()->GetString(r, contract.text)
                    + "\"");
      continue;
    }
    ++counters.answered;
    ++counters.by_version[version];
    watch.saw(version);
  }
}

struct replace_results {
  std::vector<replace_sample> samples;
  memory_sample before, after_warmup, after;
  std::vector<std::pair<std::string, memory_sample>> memory; ///< every sample, in order
  long http_sent = 0, http_answered = 0, http_failed = 0;
  long calls_sent = 0, calls_answered = 0, calls_failed = 0;
  long answers_v1 = 0, answers_v2 = 0;
  long settle_failed = 0; ///< requests failed while the load ran on after the replaces
  std::string last_failure;
  double seconds = 0;
};

/// One replace to `version` while the load runs; `registry` and `watch` are reset for it.
replace_sample replace_once(running_system& sys, bank_test::http_client& admin, int version,
                            registry_log& registry, switch_watch& watch) {
  auto old = sys.n.registry().snapshot()->instances("greeter");
  if (old.empty())
    throw std::runtime_error("no instance serves greeter before a replace");
  auto stopped = std::make_shared<std::atomic<std::int64_t>>(0);
  auto remaining = std::make_shared<std::atomic<int>>(static_cast<int>(old.size()));
  for (auto& a : old)
    caf::actor_cast<caf::abstract_actor*>(a)->attach_functor([stopped, remaining] {
      if (--*remaining == 0)
        *stopped = now_ns();
    });
  watch.armed = false;
  watch.first_answer_ns = 0;
  watch.target = version;
  registry.take();
  auto started = now_ns();
  sys.admin(admin, http::verb::post, activate_target(version));
  auto answered = now_ns();
  if (!eventually([&] { return stopped->load() != 0 && watch.first_answer_ns.load() != 0; },
                  std::chrono::seconds(10)))
    throw std::runtime_error("replace to " + std::to_string(version)
                             + ".0.0: the old instance did not exit, or the new version did not "
                               "answer, within 10 s");
  std::int64_t added = 0;
  std::int64_t removed = 0;
  for (const auto& e : registry.take()) {
    bool was_old = std::any_of(old.begin(), old.end(),
                               [&](const caf::actor& a) { return a.address() == e.instance; });
    if (e.what == microlith::registry_change::kind::added && !was_old && added == 0)
      added = e.at_ns;
    // The first removal: the code server's (the instance's own, when it exits, may follow).
    if (e.what == microlith::registry_change::kind::removed && was_old && removed == 0)
      removed = e.at_ns;
  }
  if (added == 0 || removed == 0)
    throw std::runtime_error("replace to " + std::to_string(version)
                             + ".0.0: the registry did not see the new instance added and the old "
                               "one removed");
  replace_sample s;
  s.total = ms_between(started, answered);
  s.new_added = ms_between(started, added);
  s.first_new = ms_between(started, watch.first_answer_ns);
  s.old_removed = ms_between(started, removed);
  s.old_stopped = ms_between(started, *stopped);
  return s;
}

replace_results measure_replaces(const settings& opts, const std::string& v1,
                                 const std::string& v2) {
  running_system sys;
  sys.admin(http::verb::post, install_target(true), v1);
  sys.admin(http::verb::post, install_target(false), v2);
  auto contract = find_greeter_contract();
  load_counters http_counts;
  load_counters call_counts;
  switch_watch watch;
  registry_log registry{watch};
  sys.n.registry().watch([&registry](const microlith::registry_change& c) { registry.record(c); });
  std::atomic<bool> stop{false};
  std::vector<std::thread> load;
  for (int i = 0; i < opts.http_clients; ++i)
    load.emplace_back([&] { http_load(sys.port, stop, http_counts, watch); });
  for (int i = 0; i < opts.service_callers; ++i)
    load.emplace_back([&] { service_load(sys.n, contract, stop, call_counts, watch); });
  replace_results out;
  auto load_started = clock_type::now();
  try {
    bank_test::http_client admin{sys.port};
    // The load runs before the first sample: its threads, connections and buffers exist.
    if (!eventually([&] { return http_counts.answered + call_counts.answered >= 2000; },
                    std::chrono::seconds(30)))
      throw std::runtime_error("the load was not answered 2000 times within 30 s");
    out.before = out.after_warmup = sample_memory();
    out.memory.emplace_back("before the first replace", out.before);
    for (int i = 0; i < opts.replaces; ++i) {
      out.samples.push_back(replace_once(sys, admin, i % 2 == 0 ? 2 : 1, registry, watch));
      int done = i + 1;
      if (done == opts.warmup) {
        out.after_warmup = sample_memory();
        out.memory.emplace_back("after " + std::to_string(done) + " replaces (warm-up)",
                                out.after_warmup);
      } else if (done % 100 == 0 && done != opts.replaces) {
        out.memory.emplace_back("after " + std::to_string(done) + " replaces", sample_memory());
      }
    }
    out.after = sample_memory();
    out.memory.emplace_back("after " + std::to_string(opts.replaces) + " replaces", out.after);
    out.seconds = std::chrono::duration<double>(clock_type::now() - load_started).count();
    out.http_sent = http_counts.sent;
    out.http_answered = http_counts.answered;
    out.http_failed = http_counts.failed;
    out.calls_sent = call_counts.sent;
    out.calls_answered = call_counts.answered;
    out.calls_failed = call_counts.failed;
    out.answers_v1 = http_counts.by_version[1] + call_counts.by_version[1];
    out.answers_v2 = http_counts.by_version[2] + call_counts.by_version[2];
    // What a retired version leaves behind for a while (timers of its supervisors, say) is
    // released by then.
    if (opts.settle > 0) {
      std::this_thread::sleep_for(std::chrono::seconds(opts.settle));
      out.memory.emplace_back(std::to_string(opts.settle) + " s after the last replace",
                              sample_memory());
    }
  } catch (...) {
    stop = true;
    for (auto& t : load)
      t.join();
    sys.n.registry().watch({});
    throw;
  }
  stop = true;
  for (auto& t : load)
    t.join();
  sys.n.registry().watch({});
  out.settle_failed = http_counts.failed + call_counts.failed - out.http_failed - out.calls_failed;
  out.last_failure =
    !http_counts.last_failure.empty() ? http_counts.last_failure : call_counts.last_failure;
  return out;
}

// -- the report -----------------------------------------------------------------------------------

void print_machine() {
  std::ifstream cpuinfo{"/proc/cpuinfo"};
  std::string line, model = "?";
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream loadavg{"/proc/loadavg"};
  double load1 = 0;
  loadavg >> load1;
  std::printf("machine: %u cores, %s; load average %.2f at start\n",
              std::thread::hardware_concurrency(), model.c_str(), load1);
}

const char* verdict(bool met) {
  return met ? "met" : "MISSED";
}

void print_installs(const std::vector<install_run>& runs) {
  std::printf("\n1. install -> first answered request (admin POST %s with test.greeter 1.0.0; "
              "each run a fresh node and store)\n",
              install_target(true).c_str());
  std::printf("   %-6s %22s %26s %8s\n", "run", "POST answered (ms)", "first 200 on route (ms)",
              "GETs");
  std::vector<double> first, post;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    std::printf("   %-6zu %22.1f %26.1f %8ld\n", i + 1, runs[i].post_answered_ms,
                runs[i].first_answer_ms, runs[i].probes);
    first.push_back(runs[i].first_answer_ms);
    post.push_back(runs[i].post_answered_ms);
  }
  double max_first = *std::max_element(first.begin(), first.end());
  std::printf("   %-6s %22.1f %26.1f\n", "median", percentile(post, 0.5), percentile(first, 0.5));
  std::printf("   %-6s %22.1f %26.1f\n", "max", *std::max_element(post.begin(), post.end()),
              max_first);
  std::printf("   goal: first answered request under 1000 ms: %s (max %.1f ms)\n",
              verdict(max_first < 1000), max_first);
}

void print_replaces(const settings& opts, const replace_results& r) {
  std::printf("\n2. replaces: %zu admin POSTs .../test.greeter/activate, alternating 2.0.0 and "
              "1.0.0, under load (%d HTTP connections, %d service-call threads)\n",
              r.samples.size(), opts.http_clients, opts.service_callers);
  std::printf("   %-58s %8s %8s %8s\n", "ms from the activate POST's start", "median", "p90",
              "max");
  auto row = [&](const char* what, auto field) {
    std::vector<double> xs;
    for (const auto& s : r.samples)
      xs.push_back(field(s));
    std::printf("   %-58s %8.2f %8.2f %8.2f\n", what, percentile(xs, 0.5), percentile(xs, 0.9),
                *std::max_element(xs.begin(), xs.end()));
  };
  row("the new version's instance registered", [](const replace_sample& s) { return s.new_added; });
  row("the first answer from the new version", [](const replace_sample& s) { return s.first_new; });
  row("the old version's instance out of the registry",
      [](const replace_sample& s) { return s.old_removed; });
  row("the old version's instance exited", [](const replace_sample& s) { return s.old_stopped; });
  row("the activate POST answered (the replace)", [](const replace_sample& s) { return s.total; });
  std::printf("   %-58s\n", "intervals:");
  row("  start -> new instance registered (load, groups start)",
      [](const replace_sample& s) { return s.new_added; });
  row("  new registered -> old out of registry (routes swapped)",
      [](const replace_sample& s) { return s.old_removed - s.new_added; });
  row("  old out of registry -> old exited (retire)",
      [](const replace_sample& s) { return s.old_stopped - s.old_removed; });
  row("  old exited -> POST answered (store, HTTP answer)",
      [](const replace_sample& s) { return s.total - s.old_stopped; });
  std::vector<double> totals;
  for (const auto& s : r.samples)
    totals.push_back(s.total);
  auto over = std::count_if(totals.begin(), totals.end(), [](double t) { return t >= 250; });
  std::printf("   goal: a replace under 250 ms: %s (median %.1f ms, max %.1f ms, %ld of %zu at "
              "250 ms or more)\n",
              verdict(over == 0), percentile(totals, 0.5),
              *std::max_element(totals.begin(), totals.end()), static_cast<long>(over),
              totals.size());

  std::printf("\n3. requests during the replaces (%.1f s)\n", r.seconds);
  std::printf("   %-28s %10s %10s %10s\n", "", "sent", "answered", "failed");
  std::printf("   %-28s %10ld %10ld %10ld\n", "HTTP GET /c/greet/load", r.http_sent,
              r.http_answered, r.http_failed);
  std::printf("   %-28s %10ld %10ld %10ld\n", "service call greeter.Hello", r.calls_sent,
              r.calls_answered, r.calls_failed);
  std::printf("   answers from 1.0.0: %ld, from 2.0.0: %ld\n", r.answers_v1, r.answers_v2);
  long in_flight = r.http_sent + r.calls_sent - r.http_answered - r.calls_answered - r.http_failed
                   - r.calls_failed;
  if (in_flight != 0)
    std::printf("   in flight when counted: %ld\n", in_flight);
  if (opts.settle > 0)
    std::printf("   failed in the %d s the load ran on after the replaces: %ld\n", opts.settle,
                r.settle_failed);
  long failed = r.http_failed + r.calls_failed + r.settle_failed;
  std::printf("   goal: 0 failed requests: %s (%ld failed)\n", verdict(failed == 0), failed);
  if (failed != 0)
    std::printf("   last failure: %s\n", r.last_failure.c_str());

  auto warm = opts.warmup;
  auto rest = static_cast<double>(r.samples.size()) - warm;
  std::printf("\n4. memory with the load running (kB)\n");
  std::printf("   %-40s %10s %10s\n", "", "RSS", "heap");
  for (const auto& [when, m] : r.memory)
    std::printf("   %-40s %10ld %10ld\n", when.c_str(), m.rss_kb, m.heap_kb);
  std::printf("   %-40s %10.1f %10.1f\n",
              ("growth per replace, all " + std::to_string(r.samples.size())).c_str(),
              static_cast<double>(r.after.rss_kb - r.before.rss_kb)
                / static_cast<double>(r.samples.size()),
              static_cast<double>(r.after.heap_kb - r.before.heap_kb)
                / static_cast<double>(r.samples.size()));
  std::printf(
    "   %-40s %10.1f %10.1f\n",
    ("growth per replace after the warm-up (" + std::to_string(r.samples.size() - warm) + ")")
      .c_str(),
    static_cast<double>(r.after.rss_kb - r.after_warmup.rss_kb) / rest,
    static_cast<double>(r.after.heap_kb - r.after_warmup.heap_kb) / rest);
}

} // namespace

int main(int argc, char** argv) {
  settings opts;
  try {
    opts = parse_arguments(argc, argv);
  } catch (const usage_error& e) {
    if (*e.what() == '\0') { // --help
      std::printf("%s\n", usage);
      return 0;
    }
    std::fprintf(stderr, "modules_bench: %s\n%s\n", e.what(), usage);
    return 2;
  }
  // The code server and the gateway log every replace at info; the tables are the output.
  microlith::log::set_level(microlith::log::level::warn);
  try {
    auto v1 = read_bytes(test_modules::greeter_v1.package);
    auto v2 = read_bytes(test_modules::greeter_v2.package);
    print_machine();
    std::fflush(stdout);
    std::vector<install_run> installs;
    for (int i = 0; i < opts.installs; ++i)
      installs.push_back(measure_install(v1));
    print_installs(installs);
    std::fflush(stdout);
    auto replaces = measure_replaces(opts, v1, v2);
    print_replaces(opts, replaces);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modules_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
