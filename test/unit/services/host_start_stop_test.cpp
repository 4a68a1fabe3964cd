// The host's start and stop of groups (services/src/host.cpp), as docs/supervision.md promises:
// a group that fails to start stops the groups already started, in reverse order, and the start
// fails naming it; a group that does not stop within [system] shutdown_timeout is killed after
// it, and the groups before it still stop.
#include <microlith/actors/error.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include "support/log_capture.hpp"
#include "support/two_threads.hpp"

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// What the groups' children did, in order: "start <group>", "exit-signal <group>" (a child that
// ignores the request to stop), "stop <group> <reason>" (recorded as it exits, before its
// supervisor learns of it).
std::mutex events_mutex;
std::vector<std::pair<std::string, steady::time_point>> events;

void record(std::string event) {
  std::lock_guard<std::mutex> guard{events_mutex};
  events.emplace_back(std::move(event), steady::now());
}

std::vector<std::string> recorded() {
  std::lock_guard<std::mutex> guard{events_mutex};
  std::vector<std::string> out;
  for (const auto& e : events)
    out.push_back(e.first);
  return out;
}

std::optional<steady::time_point> time_of(const std::string& event) {
  std::lock_guard<std::mutex> guard{events_mutex};
  for (const auto& e : events)
    if (e.first == event)
      return e.second;
  return std::nullopt;
}

std::string reason_name(const caf::error& reason) {
  if (!reason || reason == caf::exit_reason::normal)
    return "normal";
  if (reason == caf::exit_reason::kill)
    return "kill";
  if (reason == caf::exit_reason::user_shutdown)
    return "user_shutdown";
  return microlith::describe(reason);
}

class group_child final : public caf::event_based_actor {
public:
  group_child(caf::actor_config& cfg, std::string group, bool ignores_stop)
    : caf::event_based_actor(cfg), group_(std::move(group)), ignores_stop_(ignores_stop) {}

  caf::behavior make_behavior() override {
    if (ignores_stop_)
      set_exit_handler([this](caf::exit_msg&) { record("exit-signal " + group_); });
    record("start " + group_);
    return {[](int x) { return x; }};
  }

  void on_exit() override { record("stop " + group_ + " " + reason_name(fail_state())); }

private:
  std::string group_;
  bool ignores_stop_;
};

microlith::children plain(microlith::group_context& g) {
  auto group = g.config().name;
  return {
    microlith::child("worker", [group](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
      return sup->spawn<group_child>(group, false);
    })};
}

} // namespace

MICROLITH_MODULE(test_host_start_stop) {
  return microlith::module_definition{"test.host"}
    .group("first", plain)
    .group("second", plain)
    .group("broken",
           [](microlith::group_context&) {
             return microlith::children{
               microlith::child("worker", [](caf::event_based_actor*) -> caf::expected<caf::actor> {
                 return microlith::make_error(microlith::errc::service_unavailable, "no database");
               })};
           })
    .group("stubborn", [](microlith::group_context& g) {
      auto group = g.config().name;
      // Waited for as long as it takes by its supervisor, which the host then waits for.
      return microlith::children{
        microlith::child("worker",
                         [group](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
                           return sup->spawn<group_child>(group, true);
                         })
          .shutdown_infinity()};
    });
}

namespace {

// A system of the given groups of module test.host, in that order, each stopped within
// shutdown_timeout = 1s (their shutdown is "infinity", the default).
microlith::system_config system_of(const std::vector<std::string>& groups) {
  std::string text = "[system]\nname = \"host\"\nshutdown_timeout = \"1s\"\n";
  for (const auto& g : groups)
    text += "[groups." + g + "]\nmodule = \"test.host\"\n";
  return microlith::parse_system_file(text, "inline.toml");
}

} // namespace

TEST_CASE("a group that fails to start stops the groups started before it, in reverse order",
          "[unit][host]") {
  {
    std::lock_guard<std::mutex> guard{events_mutex};
    events.clear();
  }
  microlith::node n{test_support::two_threads()};
  microlith::host h{n, system_of({"first", "second", "broken"})};
  auto err = h.start();
  REQUIRE(err);
  CHECK(microlith::is(err, microlith::errc::service_unavailable));
  CHECK_THAT(microlith::message_of(err), Catch::StartsWith("group broken failed to start: "));
  CHECK_THAT(microlith::message_of(err), Catch::Contains("no database"));
  // start() returns once the started groups are stopped: second, then first.
  CHECK(recorded()
        == std::vector<std::string>{"start first", "start second", "stop second user_shutdown",
                                    "stop first user_shutdown"});
  CHECK(h.running_groups().empty());
}

TEST_CASE("a group that does not stop within shutdown_timeout is killed, and the rest stop",
          "[unit][host]") {
  {
    std::lock_guard<std::mutex> guard{events_mutex};
    events.clear();
  }
  test_support::log_capture lines;
  microlith::node n{test_support::two_threads()};
  microlith::host h{n, system_of({"first", "stubborn", "second"})};
  REQUIRE_FALSE(h.start());
  // A child records its start when it first runs, which may come just after start() returned.
  for (int i = 0; i < 1000 && recorded().size() < 3; ++i) // up to 10 s
    std::this_thread::sleep_for(10ms);
  REQUIRE(recorded() == std::vector<std::string>{"start first", "start stubborn", "start second"});
  auto asked = steady::now();
  h.stop();
  // Reverse start order; the stubborn group's supervisor waits for its child, the host waits
  // 1 s for the supervisor and then kills it and goes on with the next group. The killed
  // supervisor kills its child on its way out, without waiting for it: that stop may come
  // before or after the next group's.
  auto events = recorded();
  REQUIRE(events.size() >= 6);
  CHECK(std::vector<std::string>(events.begin(), events.begin() + 5)
        == std::vector<std::string>{"start first", "start stubborn", "start second",
                                    "stop second user_shutdown", "exit-signal stubborn"});
  CHECK(std::count(events.begin(), events.end(), "stop first user_shutdown") == 1);
  CHECK(lines.count("group stubborn did not stop within 1000 ms: killing it") == 1);
  CHECK(lines.count("did not stop within") == 1);
  std::optional<steady::time_point> killed;
  for (int i = 0; i < 1000 && !killed; ++i) { // up to 10 s
    killed = time_of("stop stubborn kill");
    if (!killed)
      std::this_thread::sleep_for(10ms);
  }
  REQUIRE(killed);
  CHECK(*killed - asked >= 1s); // not before its time was up
  CHECK(h.running_groups().empty());
}
