// A real `microlith run` process killed with SIGKILL while it installs a module archive uploaded
// over HTTP (docs/modules.md, "The crash guarantee"). The archive is test.greeter 1.0.0
// (test/modules) with one more file listed in its manifest, 16 MiB of random bytes, so that each
// step of an install takes long enough to be killed in: the upload, the archive's checks, the
// files' writes under .incoming/ and the rename, the registry's commit and the activation. The
// install is timed once first, each step from a moment seen from outside the node (its log line,
// a folder under .incoming/, the version's folder in place); then each kill comes when its step
// is seen to begin, after a delay spread over the time that step took, and one more after the
// answer arrived. After each kill the program is started again on the same folder and the module
// must be either installed whole (listed with the archive's sha256, every file as the manifest
// records it, loaded and serving if active) or absent (not listed, no folder left), and the same
// archive must install again. Every process is killed by pid on every path (cluster_fixture.hpp's
// process); the upload runs on a thread joined after the kill.
#include "cluster_fixture.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/services/module_archive.hpp"
#include "microlith/services/module_manifest.hpp"

#include "test_module_paths.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

using namespace cluster_test;
namespace http = boost::beast::http;

namespace {

const std::string admin_token = "module-kill-test-admin-token-0123456789";
const std::string module_name = "test.greeter";
const std::string module_version = "1.0.0";
const std::string install_target = "/_microlith/modules?route_prefix=/t&activate=true";

/// The padding file's size: large enough that writing and syncing the files takes a while.
constexpr std::size_t padding_size = 16 * 1024 * 1024;

std::string read_bytes(const fs::path& file) {
  std::ifstream in{file, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// The archive uploaded in every iteration.
struct padded_archive {
  std::string bytes;  ///< the archive
  std::string sha256; ///< of the whole archive, as the registry records it
  std::vector<microlith::archive_entry> entries;
};

/// test.greeter 1.0.0's archive with `padding.bin` (`size` random bytes) added and listed in its
/// manifest; it opens as a node opens an upload.
padded_archive make_padded_archive(std::size_t size) {
  auto entries = microlith::read_archive(read_bytes(test_modules::greeter_v1.package));
  INFO((entries ? std::string{} : microlith::describe(entries.error())));
  REQUIRE(entries);
  std::string padding(size, '\0');
  std::mt19937_64 random{std::random_device{}()};
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    const auto word = random();
    std::memcpy(padding.data() + i, &word, 8);
  }
  auto manifest_entry = std::find_if(entries->begin(), entries->end(),
                                     [](const auto& e) { return e.name == "manifest.toml"; });
  REQUIRE(manifest_entry != entries->end());
  auto manifest = microlith::parse_manifest(manifest_entry->bytes, "test.greeter's manifest");
  REQUIRE(manifest);
  manifest->files.push_back({"padding.bin", microlith::sha256_hex(padding), size});
  manifest_entry->bytes = microlith::manifest_text(*manifest);
  entries->push_back({"padding.bin", std::move(padding)});
  auto bytes = microlith::write_archive(*entries);
  REQUIRE(bytes);
  auto package = microlith::open_package(*bytes, "the padded archive");
  INFO((package ? std::string{} : microlith::describe(package.error())));
  REQUIRE(package);
  return padded_archive{std::move(*bytes), package->sha256, std::move(*entries)};
}

/// The system file: a gateway (admin on, a port the OS chooses) and a module store in
/// FOLDER/modules.
fs::path write_system(const fs::path& folder) {
  return write_file(folder, "system.toml",
                    "[system]\nname = \"module-kill\"\nthreads = 2\n"
                    "[admin]\ntoken = \""
                      + admin_token
                      + "\"\n"
                        "[modules]\ndir = \"modules\"\n"
                        "[groups.web]\nmodule = \"microlith.gateway\"\n"
                        "[groups.web.http]\nadmin = true\nlisten = \"127.0.0.1:0\"\n");
}

/// A running `microlith run` and its gateway's port.
struct node_process {
  std::unique_ptr<process> p;
  std::uint16_t port = 0;
};

/// Starts `microlith run FILE` (its output in FOLDER/run-N.log) and waits until it is ready
/// (the port it prints, then /readyz 200: its modules are loaded).
node_process start_node(const fs::path& folder, const fs::path& file, int n) {
  node_process node;
  node.p =
    std::make_unique<process>(std::vector<std::string>{microlith_command(), "run", file.string()},
                              folder / fmt::format("run-{}.log", n));
  const std::regex bound{R"(gateway web: http://127\.0\.0\.1:(\d+)/)"};
  std::smatch m;
  std::string out;
  const bool printed = eventually(
    [&] {
      out = node.p->output();
      return std::regex_search(out, m, bound);
    },
    60s);
  INFO("the output of run " << n << ":\n" << out);
  REQUIRE(printed);
  node.port = static_cast<std::uint16_t>(std::stoi(m[1]));
  REQUIRE(eventually([&] { return gateway_ready(node.port); }, 60s));
  return node;
}

/// An admin request with the token.
bank_test::http_answer admin(const node_process& node, http::verb verb, const std::string& target,
                             const std::string& body = {}) {
  http_client c{node.port};
  return c.request(verb, target, body, {{"Authorization", "Bearer " + admin_token}});
}

/// The raw value of `key` in the first object of `json` that has it (`true`, `"1.0.0"`), or "".
std::string value_of(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos)
    return {};
  const auto start = at + key.size() + 3;
  return json.substr(start, json.find_first_of(",}", start) - start);
}

/// The upload of an archive on a thread of its own, started at once.
class upload {
public:
  upload(std::uint16_t port, const std::string& archive) : started_(steady::now()) {
    thread_ = std::thread{[this, port, &archive] {
      try {
        http_client c{port};
        auto answer = c.request(http::verb::post, install_target, archive,
                                {{"Authorization", "Bearer " + admin_token}});
        status_ = answer.status;
      } catch (const std::exception&) {
        status_ = 0; // the connection died with the process
      }
      answered_at_ = steady::now();
      done_ = true;
    }};
  }

  /// Whether the thread has not been joined yet.
  bool running() const { return thread_.joinable(); }

  /// Kills `victim` (so that the upload ends) when the thread still runs, and joins it.
  void finish(process& victim) {
    if (!thread_.joinable())
      return;
    if (!done_)
      victim.kill9();
    thread_.join();
  }

  ~upload() {
    if (thread_.joinable())
      thread_.join(); // bounded: the client gives up after 30 s a step
  }

  upload(const upload&) = delete;
  upload& operator=(const upload&) = delete;

  bool done() const { return done_; }
  unsigned status() const { return status_; }
  steady::time_point started() const { return started_; }
  steady::time_point answered_at() const { return answered_at_; }

private:
  steady::time_point started_;
  std::atomic<bool> done_{false};
  unsigned status_ = 0;
  steady::time_point answered_at_;
  std::thread thread_;
};

/// On a path that leaves an upload's scope with its thread unjoined (a failed assertion):
/// kills `victim` by pid, then joins the thread.
struct kill_first {
  process& victim;
  upload& u;
  ~kill_first() {
    if (!u.running())
      return;
    victim.kill9();
    u.finish(victim);
  }
};

std::int64_t ms(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// The steps of an install, each from a moment the test sees from outside the node to the next
/// one (the last one ends with the answer).
enum class step {
  upload, ///< from the first byte sent: the upload, read whole by the gateway
  checks, ///< from the node's log line `admin POST /_microlith/modules requested`: the archive's
          ///< checks (tar, manifest, sha256 of every file, ABI, contracts)
  writes, ///< from a folder in .incoming/: the files written and synced, the rename
  commit, ///< from the version's folder in place: the folders synced, the registry's commit,
          ///< the activation (load, groups, routes, the active flag committed), the answer
};
constexpr step steps[] = {step::upload, step::checks, step::writes, step::commit};

const char* name_of(step s) {
  switch (s) {
    case step::upload: return "upload";
    case step::checks: return "checks";
    case step::writes: return "writes";
    case step::commit: return "commit";
  }
  return "?";
}

/// How often `text` occurs in `out`.
int occurrences(const std::string& out, const std::string& text) {
  int n = 0;
  for (auto at = out.find(text); at != std::string::npos; at = out.find(text, at + 1))
    ++n;
  return n;
}

const std::string upload_read_line = "admin POST /_microlith/modules requested";

/// Whether the install on `node` has reached step `s`; `uploads_before` is how many uploads its
/// log showed before this one.
bool reached(step s, const node_process& node, const fs::path& store,
             const fs::path& version_folder, int uploads_before) {
  std::error_code ec;
  switch (s) {
    case step::upload: return true;
    case step::checks: return occurrences(node.p->output(), upload_read_line) > uploads_before;
    case step::writes: // its folder leaves .incoming/ when renamed: then it is in place
      return (!fs::is_empty(store / ".incoming", ec) && !ec) || fs::exists(version_folder, ec);
    case step::commit: return fs::exists(version_folder, ec);
  }
  return false;
}

/// Checks the stored files of the installed version: the manifest and ABI note as uploaded,
/// every file the manifest lists with the size and sha256 it records, nothing else.
void check_stored_files(const fs::path& folder, const padded_archive& archive) {
  std::map<std::string, const microlith::archive_entry*> uploaded;
  for (const auto& e : archive.entries)
    uploaded[e.name] = &e;
  const auto manifest_bytes = read_bytes(folder / "manifest.toml");
  CHECK(manifest_bytes == uploaded.at("manifest.toml")->bytes);
  CHECK(read_bytes(folder / "abi.toml") == uploaded.at("abi.toml")->bytes);
  auto manifest = microlith::parse_manifest(manifest_bytes, (folder / "manifest.toml").string());
  REQUIRE(manifest);
  std::set<std::string> expected{"manifest.toml", "abi.toml"};
  for (const auto& f : manifest->files) {
    INFO(f.name);
    expected.insert(f.name);
    REQUIRE(fs::is_regular_file(folder / f.name));
    const auto bytes = read_bytes(folder / f.name);
    CHECK(bytes.size() == f.size);
    CHECK(microlith::sha256_hex(bytes) == f.sha256);
  }
  CHECK(expected.size() == archive.entries.size());
  for (const auto& entry : fs::recursive_directory_iterator(folder)) {
    if (entry.is_directory())
      continue;
    INFO(entry.path().string());
    CHECK(expected.count(fs::relative(entry.path(), folder).string()) == 1);
  }
}

} // namespace

TEST_CASE("microlith run killed with SIGKILL during a module install leaves the module installed "
          "whole or absent",
          "[crash]") {
  temp_folder temp{"module-kill"};
  const auto archive = make_padded_archive(padding_size);
  const auto file = write_system(temp.path());
  const fs::path store = temp.path() / "modules";
  const fs::path version_folder = store / module_name / module_version;
  int runs = 0;
  auto node = start_node(temp.path(), file, runs++);

  // The install timed once: when each step began, and the answer.
  std::map<step, steady::duration> began;
  steady::duration answered{};
  {
    const int uploads_before = occurrences(node.p->output(), upload_read_line);
    upload u{node.port, archive.bytes};
    kill_first guard{*node.p, u};
    const auto deadline = steady::now() + 120s;
    while (!u.done() && steady::now() < deadline) {
      for (auto s : steps)
        if (began.count(s) == 0 && reached(s, node, store, version_folder, uploads_before))
          began[s] = steady::now() - u.started();
      std::this_thread::sleep_for(1ms);
    }
    REQUIRE(u.done());
    u.finish(*node.p); // joined; the node lives on
    REQUIRE(u.status() == 200);
    answered = u.answered_at() - u.started();
    // A step over before the poll saw it (on a busy machine) ends at the answer, at the latest.
    for (auto s : steps)
      if (began.count(s) == 0 && reached(s, node, store, version_folder, uploads_before))
        began[s] = answered;
  }
  REQUIRE(began.size() == std::size(steps));
  std::map<step, steady::duration> lasted;
  for (std::size_t i = 0; i < std::size(steps); ++i)
    lasted[steps[i]] =
      std::max(steady::duration::zero(),
               (i + 1 < std::size(steps) ? began[steps[i + 1]] : answered) - began[steps[i]]);
  fmt::print("install of a {} byte archive answered after {} ms: upload {} ms, checks {} ms, "
             "writes {} ms, commit and activation {} ms\n",
             archive.bytes.size(), ms(answered), ms(lasted[step::upload]), ms(lasted[step::checks]),
             ms(lasted[step::writes]), ms(lasted[step::commit]));
  REQUIRE(admin(node, http::verb::delete_, "/_microlith/modules/" + module_name).status == 200);
  REQUIRE_FALSE(fs::exists(store / module_name));

  // The kills: within each step (once it is seen to begin) at delays spread evenly over the
  // time it took (each at a random point of its slice), in a random order; the first at once
  // (before the node read anything); and one right after the answer arrived.
  struct kill_moment {
    std::optional<step> after; ///< nothing: after the answer
    steady::duration delay{};
  };
  const std::map<step, int> kills_in{
    {step::upload, 5}, {step::checks, 5}, {step::writes, 8}, {step::commit, 6}};
  std::mt19937 random{std::random_device{}()};
  std::uniform_real_distribution<double> within{0.0, 1.0};
  std::vector<kill_moment> moments;
  for (const auto& [s, count] : kills_in)
    for (int i = 0; i < count; ++i)
      moments.push_back({s, std::chrono::duration_cast<steady::duration>(
                              lasted[s] * ((i + within(random)) / count))});
  moments.front().delay = steady::duration::zero();
  std::shuffle(moments.begin(), moments.end(), random);
  moments.push_back({std::nullopt, {}});

  std::map<std::string, int> outcomes;
  int installed = 0;
  int absent = 0;
  for (std::size_t i = 0; i < moments.size(); ++i) {
    const auto& moment = moments[i];
    const std::string when =
      moment.after ? fmt::format("{} ms into {}", ms(moment.delay), name_of(*moment.after))
                   : "after the answer";
    INFO("kill " << i << ", " << when << "; the logs are in " << temp.path().string());
    unsigned answered_status = 0;
    {
      const int uploads_before = occurrences(node.p->output(), upload_read_line);
      upload u{node.port, archive.bytes};
      kill_first guard{*node.p, u};
      if (moment.after) {
        // Until the step begins (or the install is over), then the delay: the moment of the kill.
        REQUIRE(eventually(
          [&] {
            return u.done() || reached(*moment.after, node, store, version_folder, uploads_before);
          },
          120s));
        std::this_thread::sleep_for(moment.delay);
      } else {
        REQUIRE(eventually([&] { return u.done(); }, 120s));
      }
      node.p->kill9();
      u.finish(*node.p);
      answered_status = u.status();
    }
    // What the kill left, before anything opens the store.
    std::error_code ec;
    const bool incoming_left = !fs::is_empty(store / ".incoming", ec) && !ec;
    const bool folder_left = fs::exists(version_folder);

    node = start_node(temp.path(), file, runs++);
    const auto listed = admin(node, http::verb::get, "/_microlith/modules");
    REQUIRE(listed.status == 200);
    INFO("listed: " << listed.body);
    std::string outcome;
    if (listed.body.find("\"name\":\"" + module_name + "\"") != std::string::npos) {
      ++installed;
      CHECK(value_of(listed.body, "version") == "\"" + module_version + "\"");
      CHECK(value_of(listed.body, "sha256") == "\"" + archive.sha256 + "\"");
      check_stored_files(version_folder, archive);
      const bool active = value_of(listed.body, "active") == "true";
      outcome = active ? "installed, active" : "installed, not active";
      if (active) {
        CHECK(value_of(listed.body, "loaded") == "true");
        http_client c{node.port};
        const auto greeted = c.request(http::verb::get, "/t/greet/bob");
        CHECK(greeted.status == 200);
        CHECK_THAT(greeted.body, Catch::Contains("hello bob from 1.0.0"));
      }
    } else {
      ++absent;
      CHECK(listed.body == "{\"modules\":[]}");
      CHECK_FALSE(fs::exists(store / module_name)); // no half folder
      outcome = folder_left     ? "absent, its folder without a row removed at start"
                : incoming_left ? "absent, its files under .incoming/ removed at start"
                                : "absent, nothing written";
    }
    CHECK(fs::is_empty(store / ".incoming"));
    if (answered_status == 200) // what the answer promised is on disk
      CHECK(outcome == "installed, active");
    ++outcomes[outcome];
    fmt::print("kill {:2}, {:>22}: {}{}\n", i, when, outcome,
               answered_status == 200 ? " (the answer had arrived)" : "");

    // The same archive installs again, whatever the kill left; then the next kill starts afresh.
    const auto again = admin(node, http::verb::post, install_target, archive.bytes);
    INFO(again.body);
    REQUIRE(again.status == 200);
    CHECK(value_of(again.body, "loaded") == "true");
    check_stored_files(version_folder, archive);
    REQUIRE(admin(node, http::verb::delete_, "/_microlith/modules/" + module_name).status == 200);
    CHECK_FALSE(fs::exists(store / module_name));
  }
  fmt::print("{} kills: {} installed, {} absent\n", moments.size(), installed, absent);
  for (const auto& [outcome, count] : outcomes)
    fmt::print("  {:2} {}\n", count, outcome);
  std::fflush(stdout);
  // Both occur by construction (a kill before the node read anything, one after the answer);
  // the kills in between land on either side.
  CHECK(installed > 0);
  CHECK(absent > 0);
}
