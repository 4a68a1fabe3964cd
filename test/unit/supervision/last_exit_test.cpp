// The last abnormal exit of each child in snapshots: a crash or a kill is named with the time it
// happened and kept across the child's restarts; normal exits and the stops a supervisor asks
// for leave it empty. Static and dynamic supervisors alike, nested subtrees included.
#include <microlith/actors/exit.hpp>
#include <microlith/supervision/dynamic_supervisor.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

std::int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

// The running instance of each child, by the child's name (weak: the children hold the board).
struct instances {
  std::mutex mutex;
  std::map<std::string, caf::actor_addr> current;
  std::map<std::string, int> starts;

  void started(const std::string& name, caf::actor_addr self) {
    std::lock_guard<std::mutex> guard{mutex};
    current[name] = std::move(self);
    ++starts[name];
  }

  caf::actor of(const std::string& name) {
    std::lock_guard<std::mutex> guard{mutex};
    return caf::actor_cast<caf::actor>(current[name]);
  }

  int starts_of(const std::string& name) {
    std::lock_guard<std::mutex> guard{mutex};
    return starts[name];
  }
};

// A child that crashes with the text it is sent (sec::runtime_error carrying it, as a microlith
// service's instance does when a handler throws) and exits normally on "finish".
class crashing_child final : public caf::event_based_actor {
public:
  crashing_child(caf::actor_config& cfg, std::shared_ptr<instances> board, std::string name)
    : caf::event_based_actor(cfg), board_(std::move(board)), name_(std::move(name)) {}

  caf::behavior make_behavior() override {
    board_->started(name_, address());
    return {
      [this](const std::string& what) {
        if (what == "finish")
          quit();
        else
          quit(caf::make_error(caf::sec::runtime_error, what));
      },
    };
  }

private:
  std::shared_ptr<instances> board_;
  std::string name_;
};

microlith::start_function crashing(std::shared_ptr<instances> board, std::string name) {
  return [board, name](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
    return sup->spawn<crashing_child>(board, name);
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<instances> board = std::make_shared<instances>();

  static caf::actor_system_config& prep(caf::actor_system_config& c) {
    c.set("scheduler.max-threads", 2);
    c.set("logger.console", caf::atom("none"));
    return c;
  }

  fixture() : sys(prep(cfg)) {}

  // Polls `pred` for up to 5 s.
  static bool eventually(const std::function<bool()>& pred) {
    auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      if (pred())
        return true;
      std::this_thread::sleep_for(5ms);
    }
    return pred();
  }

  // The snapshot of `sup` once `pred` holds for it (the last one taken otherwise).
  microlith::tree_snapshot
  snapshot_when(const caf::actor& sup,
                const std::function<bool(const microlith::tree_snapshot&)>& pred) {
    microlith::tree_snapshot last;
    eventually([&] {
      auto t = microlith::snapshot_of(sys, sup);
      if (!t)
        return false;
      last = std::move(*t);
      return pred(last);
    });
    return last;
  }

  void stop(const caf::actor& sup) {
    caf::scoped_actor self{sys};
    self->monitor(sup);
    microlith::signal_exit(sup, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {}, caf::after(5s) >> [] {});
  }
};

bool restarted_and_running(const microlith::tree_snapshot& entry, std::uint32_t restarts) {
  return entry.restarts == restarts && entry.state == "running";
}

} // namespace

TEST_CASE_METHOD(fixture, "a crashed child's snapshot names the crash and its time",
                 "[unit][snapshot]") {
  auto inner =
    microlith::supervisor_spec{"inner"}.child(microlith::child("b", crashing(board, "b")));
  auto spec = microlith::supervisor_spec{"outer"}
                .intensity(10, 5s)
                .child(microlith::child("a", crashing(board, "a")))
                .child(microlith::supervisor_child(inner));
  auto sup = microlith::start_supervisor(sys, spec);
  REQUIRE(sup);
  REQUIRE(eventually([&] { return board->starts_of("a") == 1 && board->starts_of("b") == 1; }));

  SECTION("a crash, still named after the restart") {
    auto before = now_unix_ms();
    caf::anon_send(board->of("a"), std::string{"a crashed: boom"});
    auto tree =
      snapshot_when(*sup, [](const auto& t) { return restarted_and_running(t.children.at(0), 1); });
    auto after = now_unix_ms();
    const auto& a = tree.children.at(0);
    CHECK(a.restarts == 1);
    CHECK(a.state == "running");
    CHECK(a.last_exit_reason == "a crashed: boom");
    CHECK(a.last_exit_unix_ms >= before);
    CHECK(a.last_exit_unix_ms <= after);
    CHECK(tree.children.at(1).last_exit_reason.empty()); // its sibling did not exit
    CHECK(tree.children.at(1).last_exit_unix_ms == 0);
    CHECK_THAT(microlith::to_text(tree), Catch::Contains(" last_exit=\"a crashed: boom\"\n"));
  }
  SECTION("a kill by anyone but the supervisor") {
    microlith::signal_exit(board->of("a"), caf::exit_reason::kill);
    auto tree =
      snapshot_when(*sup, [](const auto& t) { return restarted_and_running(t.children.at(0), 1); });
    CHECK(tree.children.at(0).last_exit_reason == "killed");
    CHECK(tree.children.at(0).last_exit_unix_ms > 0);
  }
  SECTION("a nested supervisor's child, through the subtree") {
    caf::anon_send(board->of("b"), std::string{"b crashed: \"quoted\" \\ and\nsecond line"});
    auto tree = snapshot_when(*sup, [](const auto& t) {
      return restarted_and_running(t.children.at(1).children.at(0), 1);
    });
    const auto& b = tree.children.at(1).children.at(0);
    CHECK(b.last_exit_reason == "b crashed: \"quoted\" \\ and\nsecond line");
    CHECK(tree.children.at(1).last_exit_reason.empty());
    CHECK_THAT(
      microlith::to_text(tree),
      Catch::Contains(" last_exit=\"b crashed: \\\"quoted\\\" \\\\ and\\nsecond line\"\n"));
  }
  SECTION("the latest of several crashes") {
    caf::anon_send(board->of("a"), std::string{"first"});
    REQUIRE(eventually([&] { return board->starts_of("a") == 2; }));
    caf::anon_send(board->of("a"), std::string{"second"});
    auto tree =
      snapshot_when(*sup, [](const auto& t) { return restarted_and_running(t.children.at(0), 2); });
    CHECK(tree.children.at(0).last_exit_reason == "second");
  }
  SECTION("a normal exit leaves it empty") {
    caf::anon_send(board->of("a"), std::string{"finish"});
    // A permanent child is restarted after a normal exit too.
    auto tree =
      snapshot_when(*sup, [](const auto& t) { return restarted_and_running(t.children.at(0), 1); });
    CHECK(tree.children.at(0).last_exit_reason.empty());
    CHECK(tree.children.at(0).last_exit_unix_ms == 0);
    CHECK_THAT(microlith::to_text(tree), !Catch::Contains("last_exit"));
  }
  SECTION("a stop the supervisor was asked for leaves it empty, a crash before it stays") {
    caf::anon_send(board->of("a"), std::string{"boom"});
    REQUIRE(eventually([&] { return board->starts_of("a") == 2; }));
    caf::scoped_actor self{sys};
    self->request(*sup, 5s, microlith::terminate_child_atom::value, std::string{"a"})
      .receive([] {}, [](caf::error& err) { FAIL(caf::to_string(err)); });
    self->request(*sup, 5s, microlith::terminate_child_atom::value, std::string{"inner"})
      .receive([] {}, [](caf::error& err) { FAIL(caf::to_string(err)); });
    auto tree = snapshot_when(*sup, [](const auto& t) {
      return t.children.at(0).state == "stopped" && t.children.at(1).state == "stopped";
    });
    CHECK(tree.children.at(0).last_exit_reason == "boom");
    CHECK(tree.children.at(1).last_exit_reason.empty());
  }
  stop(*sup);
}

TEST_CASE_METHOD(fixture, "a dynamic supervisor's snapshot names its children's crashes",
                 "[unit][snapshot]") {
  auto start = [board = board](caf::event_based_actor* sup,
                               const caf::message& args) -> caf::expected<caf::actor> {
    return sup->spawn<crashing_child>(board, args.get_as<std::string>(0));
  };
  auto sup = caf::actor{};
  {
    caf::scoped_actor self{sys};
    sup = microlith::spawn_dynamic_supervisor(
      sys, microlith::dynamic_supervisor_spec{"pool", start}.intensity(10, 5s), caf::actor{self});
    self->receive([](microlith::ready_atom) {}, caf::after(5s) >> [] { FAIL("not ready"); });
    for (auto name : {"w1", "w2", "w3"})
      self->request(sup, 5s, microlith::start_child_atom::value, caf::make_message(name))
        .receive([](caf::actor&) {}, [](caf::error& err) { FAIL(caf::to_string(err)); });
  }
  // Started, as their supervisor answered; running once they have recorded their start.
  REQUIRE(eventually([&] {
    return board->starts_of("w1") == 1 && board->starts_of("w2") == 1
           && board->starts_of("w3") == 1;
  }));
  auto before = now_unix_ms();
  caf::anon_send(board->of("w1"), std::string{"w1 crashed: boom"});
  microlith::signal_exit(board->of("w2"), caf::exit_reason::kill);
  auto tree = snapshot_when(sup, [](const auto& t) {
    return t.children.size() == 3 && restarted_and_running(t.children[0], 1)
           && restarted_and_running(t.children[1], 1);
  });
  auto after = now_unix_ms();
  REQUIRE(tree.children.size() == 3);
  CHECK(tree.children[0].last_exit_reason == "w1 crashed: boom");
  CHECK(tree.children[0].last_exit_unix_ms >= before);
  CHECK(tree.children[0].last_exit_unix_ms <= after);
  CHECK(tree.children[1].last_exit_reason == "killed");
  CHECK(tree.children[2].last_exit_reason.empty());
  CHECK(tree.children[2].last_exit_unix_ms == 0);
  // Terminated on request: not an abnormal exit (the child is forgotten, as OTP does).
  auto w3 = board->of("w3");
  {
    caf::scoped_actor self{sys};
    self->request(sup, 5s, microlith::terminate_child_atom::value, w3)
      .receive([] {}, [](caf::error& err) { FAIL(caf::to_string(err)); });
  }
  tree = snapshot_when(sup, [](const auto& t) { return t.children.size() == 2; });
  CHECK(tree.children.size() == 2);
  stop(sup);
}

TEST_CASE("exit_text words crashes kills and other reasons", "[unit][snapshot]") {
  CHECK(microlith::exit_text(caf::make_error(caf::sec::runtime_error, "accounts crashed: boom"))
        == "accounts crashed: boom");
  CHECK(microlith::exit_text(caf::make_error(caf::exit_reason::kill)) == "killed");
  CHECK(microlith::exit_text(caf::make_error(caf::exit_reason::unhandled_exception))
        == "unhandled_exception");
  CHECK(microlith::exit_text(caf::error{}) == "normal");
  CHECK_THAT(microlith::exit_text(caf::make_error(caf::sec::request_timeout)),
             Catch::Contains("request_timeout"));
}
