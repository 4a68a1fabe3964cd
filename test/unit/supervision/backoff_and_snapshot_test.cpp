// Restart backoff (exponential, reported as backing_off while waiting, reset after a good run)
// and subtree snapshots of static supervisors, nested ones included.
#include <microlith/actors/exit.hpp>
#include <microlith/supervision/supervisor.hpp>

#include "support/log_capture.hpp"

#include <caf/all.hpp>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Start instants of a child, and its current instance.
struct start_log {
  std::mutex mutex;
  std::vector<clock_type::time_point> starts;
  caf::actor_addr current; // weak: the children hold this log

  void started(caf::actor_addr self) {
    std::lock_guard<std::mutex> guard{mutex};
    starts.push_back(clock_type::now());
    current = std::move(self);
  }

  std::size_t count() {
    std::lock_guard<std::mutex> guard{mutex};
    return starts.size();
  }

  caf::actor instance() {
    std::lock_guard<std::mutex> guard{mutex};
    return caf::actor_cast<caf::actor>(current);
  }

  clock_type::time_point at(std::size_t i) {
    std::lock_guard<std::mutex> guard{mutex};
    return starts.at(i);
  }
};

class logged_child final : public caf::event_based_actor {
public:
  logged_child(caf::actor_config& cfg, std::shared_ptr<start_log> log)
    : caf::event_based_actor(cfg), log_(std::move(log)) {}

  caf::behavior make_behavior() override {
    log_->started(address());
    return {[](int x) { return x; }};
  }

private:
  std::shared_ptr<start_log> log_;
};

// The line a supervisor logs when it restarts child "c" after `delay` of backoff.
std::string restart_line(std::chrono::milliseconds delay) {
  return "restarting c in " + std::to_string(delay.count()) + " ms (backoff)";
}

microlith::start_function logged(std::shared_ptr<start_log> log) {
  return [log](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
    return sup->spawn<logged_child>(log);
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;

  static caf::actor_system_config& prep(caf::actor_system_config& c) {
    c.set("scheduler.max-threads", std::size_t{2});
    return c;
  }

  fixture() : sys(prep(cfg)) {}

  template <class Pred>
  bool eventually(Pred pred, std::chrono::milliseconds limit = 10s) {
    auto until = clock_type::now() + limit;
    while (clock_type::now() < until) {
      if (pred())
        return true;
      std::this_thread::sleep_for(2ms);
    }
    return pred();
  }

  void stop(const caf::actor& sup) {
    caf::scoped_actor self{sys};
    self->monitor(sup);
    microlith::signal_exit(sup, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});
  }
};

} // namespace

TEST_CASE_METHOD(fixture, "backoff delays consecutive restarts exponentially", "[unit][backoff]") {
  auto log = std::make_shared<start_log>();
  microlith::backoff_spec backoff;
  backoff.min = 50ms;
  backoff.max = 400ms;
  backoff.jitter = 0.0;
  auto spec = microlith::supervisor_spec{"sup"}.intensity(100, 60s).backoff(backoff).child(
    microlith::child("c", logged(log)));
  test_support::log_capture lines;
  auto sup = microlith::start_supervisor(sys, spec);
  REQUIRE(sup);
  // Without await_ready a child counts as started once spawned: wait for it to run.
  REQUIRE(eventually([&] { return log->count() == 1; }));
  // Crash it four times; the waits before each restart are 50, 100, 200, 400 ms. The delay
  // chosen is the one the supervisor logs; the restart comes no sooner than that. (How much
  // later depends on the machine's load: no upper bound here, docs/benchmarks.md measures.)
  std::vector<std::chrono::milliseconds> expected{50ms, 100ms, 200ms, 400ms};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    auto crashed_at = clock_type::now();
    microlith::signal_exit(log->instance(), caf::exit_reason::kill);
    REQUIRE(eventually([&] { return log->count() == i + 2; }));
    CHECK(lines.count(restart_line(expected[i])) == 1);
    auto waited = log->at(i + 1) - crashed_at;
    CHECK(waited >= expected[i]);
  }
  CHECK(lines.count("restarting c in ") == expected.size());
  stop(*sup);
}

TEST_CASE_METHOD(fixture, "a child waiting out its backoff is reported as backing_off",
                 "[unit][backoff]") {
  auto log = std::make_shared<start_log>();
  microlith::backoff_spec backoff;
  backoff.min = 500ms;
  backoff.max = 500ms;
  backoff.jitter = 0.0;
  auto spec =
    microlith::supervisor_spec{"sup"}.backoff(backoff).child(microlith::child("c", logged(log)));
  auto sup = microlith::start_supervisor(sys, spec);
  REQUIRE(sup);
  REQUIRE(eventually([&] { return log->count() == 1; }));
  microlith::signal_exit(log->instance(), caf::exit_reason::kill);
  REQUIRE(eventually([&] {
    auto tree = microlith::snapshot_of(sys, *sup);
    return tree && tree->children.at(0).state == "backing_off";
  }));
  auto tree = microlith::snapshot_of(sys, *sup);
  REQUIRE(tree);
  CHECK(tree->children.at(0).restarts == 1);
  CHECK(tree->children.at(0).actor == 0); // not running: no instance
  REQUIRE(eventually([&] { return log->count() == 2; }));
  REQUIRE(eventually([&] {
    auto t = microlith::snapshot_of(sys, *sup);
    return t && t->children.at(0).state == "running";
  }));
  stop(*sup);
}

TEST_CASE_METHOD(fixture, "backoff starts from its minimum after a child ran well",
                 "[unit][backoff]") {
  auto log = std::make_shared<start_log>();
  microlith::backoff_spec backoff;
  backoff.min = 40ms;
  backoff.max = 2000ms;
  backoff.jitter = 0.0;
  backoff.reset_after = 200ms;
  auto spec = microlith::supervisor_spec{"sup"}.intensity(100, 60s).backoff(backoff).child(
    microlith::child("c", logged(log)));
  test_support::log_capture lines;
  auto sup = microlith::start_supervisor(sys, spec);
  REQUIRE(sup);
  REQUIRE(eventually([&] { return log->count() == 1; }));
  // Two quick crashes: 40 ms, then 80 ms.
  for (std::size_t i = 0; i < 2; ++i) {
    microlith::signal_exit(log->instance(), caf::exit_reason::kill);
    REQUIRE(eventually([&] { return log->count() == i + 2; }));
  }
  CHECK(lines.count(restart_line(40ms)) == 1);
  CHECK(lines.count(restart_line(80ms)) == 1);
  // A good run longer than reset_after (counted from the third start), then a crash: back to
  // 40 ms, not 160 ms.
  REQUIRE(eventually([&] { return clock_type::now() - log->at(2) > 300ms; }));
  microlith::signal_exit(log->instance(), caf::exit_reason::kill);
  REQUIRE(eventually([&] { return log->count() == 4; }));
  CHECK(lines.count(restart_line(40ms)) == 2);
  CHECK(lines.count(restart_line(160ms)) == 0);
  stop(*sup);
}

TEST_CASE_METHOD(fixture, "a snapshot shows the whole subtree with restart counts",
                 "[unit][snapshot]") {
  auto a = std::make_shared<start_log>();
  auto b = std::make_shared<start_log>();
  auto inner = microlith::supervisor_spec{"inner"}.child(microlith::child("b", logged(b)));
  auto spec = microlith::supervisor_spec{"outer"}
                .intensity(5, 5s)
                .child(microlith::child("a", logged(a)))
                .child(microlith::supervisor_child(inner));
  auto sup = microlith::start_supervisor(sys, spec);
  REQUIRE(sup);
  REQUIRE(eventually([&] { return a->count() == 1 && b->count() == 1; }));
  microlith::signal_exit(a->instance(), caf::exit_reason::kill);
  REQUIRE(eventually([&] { return a->count() == 2; }));
  REQUIRE(eventually([&] {
    auto t = microlith::snapshot_of(sys, *sup);
    return t && t->children.at(0).state == "running";
  }));
  auto tree = microlith::snapshot_of(sys, *sup);
  REQUIRE(tree);
  CHECK(tree->id == "outer");
  CHECK(tree->kind == "supervisor");
  REQUIRE(tree->children.size() == 2);
  CHECK(tree->children[0].id == "a");
  CHECK(tree->children[0].kind == "worker");
  CHECK(tree->children[0].restarts == 1);
  CHECK(tree->children[0].actor == a->instance().id());
  CHECK(tree->children[0].node.empty());  // outside a host, no node name
  CHECK(tree->children[0].mailbox == -1); // a plain CAF actor does not report it
  const auto& nested = tree->children[1];
  CHECK(nested.id == "inner");
  CHECK(nested.kind == "supervisor");
  CHECK(nested.mailbox == 0);
  REQUIRE(nested.children.size() == 1);
  CHECK(nested.children[0].id == "b");
  CHECK(nested.children[0].state == "running");
  auto text = microlith::to_text(*tree);
  CHECK_THAT(
    text,
    Catch::StartsWith(fmt::format("outer supervisor running actor={} mailbox=", sup->id()))
      && Catch::Contains(fmt::format(
        "\n  a worker running restarts=1 actor={} last_exit=\"killed\"\n", a->instance().id()))
      && Catch::Contains(
        fmt::format("\n    b worker running restarts=0 actor={}\n", b->instance().id())));
  CHECK_THAT(text, !Catch::Contains("@"));
  stop(*sup);
}

TEST_CASE("to_text renders one line per entry, with the node's name on a node",
          "[unit][snapshot]") {
  microlith::tree_snapshot worker;
  worker.id = "accounts";
  worker.kind = "worker";
  worker.state = "running";
  worker.restarts = 2;
  worker.actor = 12;
  worker.mailbox = 0;
  worker.services = {"accounts", "audit"};
  microlith::tree_snapshot stopped;
  stopped.id = "spare";
  stopped.kind = "worker";
  stopped.state = "stopped";
  microlith::tree_snapshot group;
  group.id = "accounts";
  group.kind = "supervisor";
  group.state = "running";
  group.actor = 11;
  group.mailbox = 0;
  group.children = {worker, stopped};
  microlith::tree_snapshot root;
  root.id = "bank";
  root.kind = "system";
  root.state = "running";
  root.children = {group};

  SECTION("in one process: local actor ids") {
    CHECK(microlith::to_text(root)
          == "bank system running\n"
             "  accounts supervisor running restarts=0 actor=11 mailbox=0\n"
             "    accounts worker running restarts=2 actor=12 mailbox=0 services=accounts,audit\n"
             "    spare worker stopped restarts=0\n");
  }
  SECTION("on a node: actor ids with the node's name, and the node on the root") {
    root.node = "n1";
    root.children[0].node = "n1";
    root.children[0].children[0].node = "n1";
    root.children[0].children[1].node = "n1";
    CHECK(
      microlith::to_text(root)
      == "bank system running node=n1\n"
         "  accounts supervisor running restarts=0 actor=11@n1 mailbox=0\n"
         "    accounts worker running restarts=2 actor=12@n1 mailbox=0 services=accounts,audit\n"
         "    spare worker stopped restarts=0\n");
  }
}
