// Group policies, as OTP applications: when a group's supervisor gives up, a permanent group
// stops the node (wait() answers 1); a transient group's abnormal exit and a temporary group's
// exit are logged, and the other groups keep running; the host's snapshot shows the group
// stopped with its supervisor's exit reason.
#include <microlith/actors/exit.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include "support/log_capture.hpp"

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <mutex>

using namespace std::chrono_literals;

namespace {

// The current instance of each group's one child, by group name.
std::mutex instances_mutex;
std::map<std::string, caf::actor_addr> instances;

caf::actor instance_of(const std::string& group) {
  std::lock_guard<std::mutex> guard{instances_mutex};
  return caf::actor_cast<caf::actor>(instances[group]);
}

class plain_child final : public caf::event_based_actor {
public:
  plain_child(caf::actor_config& cfg, std::string group)
    : caf::event_based_actor(cfg), group_(std::move(group)) {}

  caf::behavior make_behavior() override {
    {
      std::lock_guard<std::mutex> guard{instances_mutex};
      instances[group_] = address();
    }
    return {[](int x) { return x; }};
  }

private:
  std::string group_;
};

microlith::children one_plain_child(microlith::group_context& g) {
  auto group = g.config().name;
  return {
    microlith::child("worker", [group](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
      return sup->spawn<plain_child>(group);
    })};
}

} // namespace

MICROLITH_MODULE(test_policy) {
  return microlith::module_definition{"test.policy"}
    .group("victim", one_plain_child)
    .group("bystander", one_plain_child);
}

namespace {

// A system of two groups; `victim` has intensity 0 (its first crash exceeds it) and `policy`.
microlith::system_config system_with(const std::string& policy) {
  return microlith::parse_system_file("[system]\nname = \"policy\"\n"
                                      "[groups.victim]\nmodule = \"test.policy\"\n"
                                      "intensity = 0\nrestart = \""
                                        + policy
                                        + "\"\n"
                                          "[groups.bystander]\nmodule = \"test.policy\"\n",
                                      "inline.toml");
}

template <class Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred())
      return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

} // namespace

TEST_CASE("a group's final failure is handled by its policy", "[unit][host]") {
  // Kills the victim group's child (intensity 0: its supervisor gives up at once) and answers
  // what host::wait() answered and what the host logged. The log line is the host's decision:
  // once it is written, a permanent group has already asked the node to stop, and for the other
  // policies the test asks it to stop itself (wait() answers 0 then, 1 had the host stopped it).
  auto run = [](const std::string& policy, caf::exit_reason how, const std::string& decision) {
    test_support::log_capture lines;
    microlith::node_options opts;
    opts.threads = 2;
    microlith::node n{opts};
    microlith::host h{n, system_with(policy)};
    REQUIRE_FALSE(h.start());
    REQUIRE(eventually([] { return instance_of("victim") && instance_of("bystander"); }));
    CHECK(h.ready());
    auto victim = instance_of("victim");
    auto started_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    microlith::signal_exit(victim, how);
    REQUIRE(lines.wait_for(decision));
    REQUIRE(eventually([&] { return !h.group_supervisor("victim"); }));
    // Readiness counts permanent groups only: a gone permanent group is named, others are not.
    auto unready = h.unready_groups();
    if (policy == "permanent") {
      REQUIRE(unready.size() == 1);
      CHECK(unready[0].name == "victim");
      CHECK(unready[0].reason == "permanent group victim is not running");
    } else {
      CHECK(unready.empty());
    }
    if (policy != "permanent")
      h.request_stop();
    auto waited = std::async(std::launch::async, [&] { return h.wait(); });
    // Generous, for a busy machine: wait() answers as soon as the stop was asked for.
    REQUIRE(waited.wait_for(30s) == std::future_status::ready);
    auto code = waited.get();
    CHECK(h.running_groups() == std::vector<std::string>{"bystander"});
    // The snapshot shows the group stopped, with the reason its supervisor exited for (it gave
    // up: too many restarts) and when; the other group never exited.
    // The built-in groups (observer, toggles) come first, then the file's in start order.
    auto tree = h.snapshot();
    REQUIRE(tree.children.size() == 4);
    CHECK(tree.children[0].id == "observer");
    CHECK(tree.children[1].id == "toggles");
    const auto& gone = tree.children[2].id == "victim" ? tree.children[2] : tree.children[3];
    const auto& kept = tree.children[2].id == "victim" ? tree.children[3] : tree.children[2];
    CHECK(gone.id == "victim");
    CHECK(gone.state == "stopped");
    CHECK(gone.last_exit_reason == "user_shutdown");
    CHECK(gone.last_exit_unix_ms >= started_unix_ms);
    CHECK(kept.id == "bystander");
    CHECK(kept.last_exit_reason.empty());
    CHECK(kept.last_exit_unix_ms == 0);
    CHECK(lines.count(decision) == 1); // decided once
    h.stop();
    return code;
  };
  SECTION("permanent: the node stops with exit code 1") {
    CHECK(run("permanent", caf::exit_reason::kill,
              "error host permanent group victim exited (exit_reason(user_shutdown)): "
              "stopping the node")
          == 1);
  }
  SECTION("transient: an abnormal exit is logged, the rest keeps running") {
    CHECK(run("transient", caf::exit_reason::kill,
              "error host transient group victim failed (exit_reason(user_shutdown)); the "
              "other groups keep running")
          == 0);
  }
  SECTION("temporary: logged, the rest keeps running") {
    CHECK(run("temporary", caf::exit_reason::kill,
              "warn  host temporary group victim exited (exit_reason(user_shutdown)); the "
              "other groups keep running")
          == 0);
  }
}
