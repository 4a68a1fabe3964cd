// The dynamic supervisor (simple_one_for_one): children started from one template with their
// own args, restarted by their restart type with the same args, terminated one by one, many
// thousands at a time, and stopped all together.
#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>
#include <microlith/supervision/dynamic_supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>

using namespace std::chrono_literals;

namespace {

// What the children of one test did: starts per argument, and the current instance per argument.
struct child_board {
  std::mutex mutex;
  std::map<int, int> starts;
  std::map<int, caf::actor_addr> current; // weak: the children hold this board

  void started(int arg, caf::actor_addr self) {
    std::lock_guard<std::mutex> guard{mutex};
    ++starts[arg];
    current[arg] = std::move(self);
  }

  int starts_of(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    return starts[arg];
  }

  caf::actor current_of(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    return caf::actor_cast<caf::actor>(current[arg]);
  }
};

// A child that records its start and answers its argument; "exit" ends it normally.
class board_child final : public caf::event_based_actor {
public:
  board_child(caf::actor_config& cfg, std::shared_ptr<child_board> board, int arg)
    : caf::event_based_actor(cfg), board_(std::move(board)), arg_(arg) {
  }

  caf::behavior make_behavior() override {
    board_->started(arg_, address());
    return {
      [this](int) { return arg_; },
      [this](const std::string& what) {
        if (what == "exit")
          quit();
      },
    };
  }

private:
  std::shared_ptr<child_board> board_;
  int arg_;
};

microlith::dynamic_start_function board_start(std::shared_ptr<child_board> board) {
  return [board](caf::event_based_actor* sup, const caf::message& args) -> caf::expected<caf::actor> {
    return sup->spawn<board_child>(board, args.get_as<int>(0));
  };
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  std::shared_ptr<child_board> board = std::make_shared<child_board>();

  static caf::actor_system_config& prep(caf::actor_system_config& c) {
    c.set("scheduler.max-threads", std::size_t{2});
    return c;
  }

  fixture() : sys(prep(cfg)) {
  }

  // Waits for `pred` for up to 10 s.
  template <class Pred>
  bool eventually(Pred pred) {
    for (int i = 0; i < 1000; ++i) {
      if (pred())
        return true;
      std::this_thread::sleep_for(10ms);
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

int ask(caf::actor_system& sys, const caf::actor& child) {
  caf::scoped_actor self{sys};
  int result = -1;
  self->request(child, 5s, 0).receive([&](int x) { result = x; }, [](caf::error&) {});
  return result;
}

} // namespace

TEST_CASE_METHOD(fixture, "dynamic children start with their own args and answer",
                 "[unit][dynamic]") {
  auto sup = microlith::spawn_dynamic_supervisor(
    sys, microlith::dynamic_supervisor_spec{"pool", board_start(board)});
  auto a = microlith::start_child(sys, sup, caf::make_message(7));
  auto b = microlith::start_child(sys, sup, caf::make_message(8));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(ask(sys, *a) == 7);
  CHECK(ask(sys, *b) == 8);
  auto counts = microlith::count_children(sys, sup);
  REQUIRE(counts);
  CHECK(counts->first == 2);
  CHECK(counts->second == 2);
  stop(sup);
}

TEST_CASE_METHOD(fixture, "dynamic children follow their restart type", "[unit][dynamic]") {
  auto run = [&](microlith::restart_type type, bool abnormal) {
    auto spec = microlith::dynamic_supervisor_spec{"pool", board_start(board)}
                  .restart(type)
                  .intensity(10, 5s);
    auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
    auto child = microlith::start_child(sys, sup, caf::make_message(1));
    REQUIRE(child);
    if (abnormal)
      microlith::signal_exit(*child, caf::exit_reason::kill);
    else
      caf::anon_send(*child, std::string{"exit"});
    // Wait until the exit was handled: either a new instance, or the child forgotten.
    eventually([&] {
      auto now = microlith::count_children(sys, sup);
      return board->starts_of(1) == 2 || (now && now->second == 0);
    });
    bool restarted = board->starts_of(1) == 2;
    auto counts = microlith::count_children(sys, sup);
    REQUIRE(counts);
    stop(sup);
    return std::make_pair(restarted, counts->second);
  };
  SECTION("permanent: restarted after a normal exit") {
    CHECK(run(microlith::restart_type::permanent, false) == std::make_pair(true, std::size_t{1}));
  }
  SECTION("permanent: restarted after a crash") {
    CHECK(run(microlith::restart_type::permanent, true) == std::make_pair(true, std::size_t{1}));
  }
  SECTION("transient: restarted after a crash") {
    CHECK(run(microlith::restart_type::transient, true) == std::make_pair(true, std::size_t{1}));
  }
  SECTION("transient: forgotten after a normal exit") {
    auto [restarted, total] = run(microlith::restart_type::transient, false);
    CHECK_FALSE(restarted);
    CHECK(total == 0);
  }
  SECTION("temporary: forgotten after a crash") {
    auto [restarted, total] = run(microlith::restart_type::temporary, true);
    CHECK_FALSE(restarted);
    CHECK(total == 0);
  }
}

TEST_CASE_METHOD(fixture, "terminate_child stops one child and forgets it", "[unit][dynamic]") {
  auto sup = microlith::spawn_dynamic_supervisor(
    sys, microlith::dynamic_supervisor_spec{"pool", board_start(board)});
  auto a = microlith::start_child(sys, sup, caf::make_message(1));
  auto b = microlith::start_child(sys, sup, caf::make_message(2));
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(microlith::terminate_child(sys, sup, *a));
  auto counts = microlith::count_children(sys, sup);
  REQUIRE(counts);
  CHECK(counts->second == 1);
  CHECK(ask(sys, *b) == 2);
  CHECK(board->starts_of(1) == 1); // not restarted, although permanent
  // Terminating it again is an error naming it.
  CHECK(microlith::terminate_child(sys, sup, *a));
  stop(sup);
}

TEST_CASE_METHOD(fixture, "a failed first start answers the error and keeps nothing",
                 "[unit][dynamic]") {
  auto start = [](caf::event_based_actor*, const caf::message&) -> caf::expected<caf::actor> {
    throw std::runtime_error("no database");
  };
  auto sup = microlith::spawn_dynamic_supervisor(sys, microlith::dynamic_supervisor_spec{"pool", start});
  auto child = microlith::start_child(sys, sup, caf::make_message(1));
  REQUIRE_FALSE(child);
  CHECK_THAT(microlith::describe(child.error()), Catch::Contains("no database"));
  auto counts = microlith::count_children(sys, sup);
  REQUIRE(counts);
  CHECK(counts->second == 0);
  stop(sup);
}

TEST_CASE_METHOD(fixture, "restarts beyond the intensity stop every dynamic child",
                 "[unit][dynamic]") {
  auto spec = microlith::dynamic_supervisor_spec{"pool", board_start(board)}.intensity(2, 5s);
  auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
  for (int i = 0; i < 5; ++i)
    REQUIRE(microlith::start_child(sys, sup, caf::make_message(i)));
  caf::scoped_actor self{sys};
  self->monitor(sup);
  // Three crashes within the period: the third exceeds intensity 2.
  for (int round = 0; round < 3; ++round) {
    auto victim = board->current_of(0);
    microlith::signal_exit(victim, caf::exit_reason::kill);
    if (round < 2)
      REQUIRE(eventually([&] { return board->starts_of(0) == round + 2; }));
  }
  caf::error reason;
  self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                caf::after(10s) >> [] { FAIL("the supervisor did not give up"); });
  CHECK(reason == caf::exit_reason::user_shutdown);
}

TEST_CASE_METHOD(fixture, "ten thousand dynamic children crashed at random are all restarted",
                 "[unit][dynamic]") {
  constexpr int children = 10000;
  constexpr int crashes = 2000;
  auto spec = microlith::dynamic_supervisor_spec{"pool", board_start(board)}
                .intensity(crashes + 10, 60s);
  auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
  {
    caf::scoped_actor self{sys};
    int answered = 0;
    for (int i = 0; i < children; ++i)
      self->request(sup, 30s, microlith::start_child_atom::value, caf::make_message(i))
        .receive([&](caf::actor&) { ++answered; }, [](caf::error&) {});
    REQUIRE(answered == children);
  }
  std::mt19937 rng{42};
  std::uniform_int_distribution<int> pick(0, children - 1);
  std::map<int, int> expected_starts;
  for (int i = 0; i < crashes; ++i) {
    int victim = pick(rng);
    // Crash the current instance only once it is up again, so every crash hits a live child.
    auto want = 1 + expected_starts[victim];
    REQUIRE(eventually([&] { return board->starts_of(victim) == want; }));
    microlith::signal_exit(board->current_of(victim), caf::exit_reason::kill);
    ++expected_starts[victim];
  }
  for (const auto& [victim, crashed] : expected_starts)
    REQUIRE(eventually([&, v = victim, c = crashed] { return board->starts_of(v) == c + 1; }));
  auto counts = microlith::count_children(sys, sup);
  REQUIRE(counts);
  CHECK(counts->first == std::size_t{children});
  CHECK(counts->second == std::size_t{children});
  // None lost: every child answers with its own argument.
  for (int i = 0; i < children; i += 97)
    CHECK(ask(sys, board->current_of(i)) == i);
  stop(sup);
}

TEST_CASE_METHOD(fixture, "a dynamic supervisor's snapshot lists every child", "[unit][dynamic]") {
  auto sup = microlith::spawn_dynamic_supervisor(
    sys, microlith::dynamic_supervisor_spec{"pool", board_start(board)}.child_id("worker"));
  for (int i = 0; i < 3; ++i)
    REQUIRE(microlith::start_child(sys, sup, caf::make_message(i)));
  auto tree = microlith::snapshot_of(sys, sup);
  REQUIRE(tree);
  CHECK(tree->id == "pool");
  REQUIRE(tree->children.size() == 3);
  CHECK(tree->children[0].id == "worker-1");
  CHECK(tree->children[2].id == "worker-3");
  for (const auto& c : tree->children) {
    CHECK(c.state == "running");
    CHECK(c.actor != 0);
  }
  stop(sup);
}
