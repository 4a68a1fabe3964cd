// The dynamic supervisor (simple_one_for_one): children started from one template with their
// own args, restarted by their restart type with the same args, terminated one by one, many
// thousands at a time, and stopped all together.
#include <microlith/actors/atoms.hpp>
#include <microlith/actors/error.hpp>
#include <microlith/actors/exit.hpp>
#include <microlith/supervision/child_error.hpp>
#include <microlith/supervision/dynamic_supervisor.hpp>
#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>

using namespace std::chrono_literals;

namespace {

// What the children of one test did: starts and stops per argument (with the reason of the
// last stop), requests to stop a child ignored, and the current instance per argument.
struct child_board {
  std::mutex mutex;
  std::map<int, int> starts;
  std::map<int, int> stops;
  std::map<int, int> ignored;
  std::map<int, std::string> reasons;
  std::map<int, caf::actor_addr> current; // weak: the children hold this board

  void started(int arg, caf::actor_addr self) {
    std::lock_guard<std::mutex> guard{mutex};
    ++starts[arg];
    current[arg] = std::move(self);
  }

  void stopped(int arg, const caf::error& reason) {
    std::lock_guard<std::mutex> guard{mutex};
    ++stops[arg];
    reasons[arg] = !reason || reason == caf::exit_reason::normal ? "normal"
                   : reason == caf::exit_reason::kill            ? "kill"
                   : reason == caf::exit_reason::user_shutdown   ? "user_shutdown"
                                                                 : "other";
  }

  void ignored_stop(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    ++ignored[arg];
  }

  int starts_of(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    return starts[arg];
  }

  int stops_of(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    return stops[arg];
  }

  int ignored_of(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    return ignored[arg];
  }

  std::string reason_of(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    return reasons[arg];
  }

  // True when every instance that started has stopped.
  bool all_stopped() {
    std::lock_guard<std::mutex> guard{mutex};
    for (const auto& [arg, n] : starts)
      if (stops[arg] != n)
        return false;
    return true;
  }

  caf::actor current_of(int arg) {
    std::lock_guard<std::mutex> guard{mutex};
    return caf::actor_cast<caf::actor>(current[arg]);
  }
};

// A child that records its start and stop (the stop as it exits, before its supervisor can
// learn of it) and answers its argument; "exit" ends it normally. Flags, the start's optional
// second argument: "ready" sends ready_atom to the supervisor at once, "wait" only when it gets
// "go"; "trap" ignores every request to stop (only a kill ends it).
class board_child final : public caf::event_based_actor {
public:
  board_child(caf::actor_config& cfg, std::shared_ptr<child_board> board, int arg,
              std::string flags, caf::actor_addr parent)
    : caf::event_based_actor(cfg), board_(std::move(board)), arg_(arg), flags_(std::move(flags)),
      parent_(std::move(parent)) {}

  caf::behavior make_behavior() override {
    board_->started(arg_, address());
    if (has("trap"))
      set_exit_handler([this](caf::exit_msg&) { board_->ignored_stop(arg_); });
    if (has("ready"))
      tell_ready();
    return {
      [this](int) { return arg_; },
      [this](const std::string& what) {
        if (what == "exit")
          quit();
        else if (what == "go")
          tell_ready();
      },
    };
  }

  void on_exit() override { board_->stopped(arg_, fail_state()); }

private:
  bool has(const char* flag) const { return flags_.find(flag) != std::string::npos; }

  void tell_ready() {
    if (auto parent = caf::actor_cast<caf::actor>(parent_))
      send(parent, microlith::ready_atom::value);
  }

  std::shared_ptr<child_board> board_;
  int arg_;
  std::string flags_;
  caf::actor_addr parent_;
};

microlith::dynamic_start_function board_start(std::shared_ptr<child_board> board) {
  return
    [board](caf::event_based_actor* sup, const caf::message& args) -> caf::expected<caf::actor> {
      std::string flags;
      if (args.size() > 1 && args.match_element<std::string>(1))
        flags = args.get_as<std::string>(1);
      return sup->spawn<board_child>(board, args.get_as<int>(0), flags, sup->address());
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

  fixture() : sys(prep(cfg)) {}

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
  CHECK(counts->active == 2);
  CHECK(counts->workers == 2);
  CHECK(counts->specs == 1); // OTP: a simple_one_for_one supervisor has one spec, its template
  CHECK(counts->supervisors == 0);
  stop(sup);
}

TEST_CASE_METHOD(fixture, "dynamic children follow their restart type", "[unit][dynamic]") {
  auto run = [&](microlith::restart_type type, bool abnormal) {
    auto spec =
      microlith::dynamic_supervisor_spec{"pool", board_start(board)}.restart(type).intensity(10,
                                                                                             5s);
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
      return board->starts_of(1) == 2 || (now && now->workers == 0);
    });
    bool restarted = board->starts_of(1) == 2;
    auto counts = microlith::count_children(sys, sup);
    REQUIRE(counts);
    stop(sup);
    return std::make_pair(restarted, counts->workers);
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
  CHECK(counts->workers == 1);
  CHECK(ask(sys, *b) == 2);
  CHECK(board->starts_of(1) == 1); // not restarted, although permanent
  // Terminating it again: OTP's not_found.
  CHECK(microlith::child_error_of(microlith::terminate_child(sys, sup, *a))
        == microlith::child_errc::not_found);
  stop(sup);
}

TEST_CASE_METHOD(fixture, "a failed first start answers the error and keeps nothing",
                 "[unit][dynamic]") {
  auto start = [](caf::event_based_actor*, const caf::message&) -> caf::expected<caf::actor> {
    throw std::runtime_error("no database");
  };
  auto sup =
    microlith::spawn_dynamic_supervisor(sys, microlith::dynamic_supervisor_spec{"pool", start});
  auto child = microlith::start_child(sys, sup, caf::make_message(1));
  REQUIRE_FALSE(child);
  CHECK_THAT(microlith::describe(child.error()), Catch::Contains("no database"));
  auto counts = microlith::count_children(sys, sup);
  REQUIRE(counts);
  CHECK(counts->workers == 0);
  stop(sup);
}

TEST_CASE_METHOD(fixture, "restarts beyond the intensity stop every dynamic child",
                 "[unit][dynamic]") {
  auto spec = microlith::dynamic_supervisor_spec{"pool", board_start(board)}.intensity(2, 60s);
  auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
  for (int i = 0; i < 5; ++i)
    REQUIRE(microlith::start_child(sys, sup, caf::make_message(i)));
  // start_child answers once the child is spawned; it records its instance when it runs.
  REQUIRE(eventually([&] {
    for (int i = 0; i < 5; ++i)
      if (board->starts_of(i) != 1)
        return false;
    return true;
  }));
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
  // It exits once every child is gone: each stop was recorded before it could know of it.
  CHECK(board->starts_of(0) == 3); // the third crash was not followed by a restart
  CHECK(board->stops_of(0) == 3);
  CHECK(board->reason_of(0) == "kill");
  for (int i = 1; i < 5; ++i) {
    CHECK(board->stops_of(i) == 1);
    CHECK(board->reason_of(i) == "user_shutdown");
  }
  CHECK(board->all_stopped());
}

TEST_CASE_METHOD(fixture, "restarts of different dynamic children count in one window",
                 "[unit][dynamic]") {
  auto spec = microlith::dynamic_supervisor_spec{"pool", board_start(board)}.intensity(2, 60s);
  auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
  for (int i = 0; i < 3; ++i)
    REQUIRE(microlith::start_child(sys, sup, caf::make_message(i)));
  // start_child answers once the child is spawned; it records its instance when it runs.
  REQUIRE(eventually([&] {
    return board->starts_of(0) == 1 && board->starts_of(1) == 1 && board->starts_of(2) == 1;
  }));
  caf::scoped_actor self{sys};
  self->monitor(sup);
  // One crash each of children 0 and 1: two restarts, within intensity 2.
  for (int i = 0; i < 2; ++i) {
    microlith::signal_exit(board->current_of(i), caf::exit_reason::kill);
    REQUIRE(eventually([&] { return board->starts_of(i) == 2; }));
  }
  // A crash of child 2 is the third restart within the period: one too many.
  microlith::signal_exit(board->current_of(2), caf::exit_reason::kill);
  caf::error reason;
  self->receive([&](caf::down_msg& msg) { reason = msg.reason; },
                caf::after(10s) >> [] { FAIL("the supervisor did not give up"); });
  CHECK(reason == caf::exit_reason::user_shutdown);
  CHECK(board->starts_of(2) == 1);
  CHECK(board->all_stopped());
}

TEST_CASE_METHOD(fixture, "a dynamic child's restarts are not counted by the supervisor above",
                 "[unit][dynamic]") {
  // root allows no restart at all; pool, its child, allows ten. pool's handle is kept (weak)
  // by its start function.
  auto pool = microlith::dynamic_supervisor_spec{"pool", board_start(board)}.intensity(10, 60s);
  auto base = microlith::dynamic_supervisor_child(pool);
  auto pool_addr = std::make_shared<std::promise<caf::actor_addr>>();
  auto pool_started = pool_addr->get_future();
  auto recorded =
    microlith::child("pool",
                     [inner = base.start(), pool_addr](caf::event_based_actor* parent) {
                       auto started = inner(parent);
                       if (started && *started)
                         pool_addr->set_value((*started)->address());
                       return started;
                     })
      .kind(microlith::child_kind::supervisor)
      .await_ready();
  auto root = microlith::supervisor_spec{"root"}.intensity(0, 60s).child(recorded);
  auto sup = microlith::start_supervisor(sys, root);
  REQUIRE(sup);
  REQUIRE(pool_started.wait_for(10s) == std::future_status::ready);
  auto pool_handle = caf::actor_cast<caf::actor>(pool_started.get());
  REQUIRE(pool_handle);
  REQUIRE(microlith::start_child(sys, pool_handle, caf::make_message(1)));
  REQUIRE(eventually([&] { return board->starts_of(1) == 1; })); // it runs: its instance is known
  // Three restarts in pool: each would make root give up, had root counted it.
  for (int round = 0; round < 3; ++round) {
    microlith::signal_exit(board->current_of(1), caf::exit_reason::kill);
    REQUIRE(eventually([&] { return board->starts_of(1) == round + 2; }));
  }
  auto tree = microlith::snapshot_of(sys, *sup); // root answers: it runs on
  REQUIRE(tree);
  CHECK(tree->state == "running");
  REQUIRE(tree->children.size() == 1);
  CHECK(tree->children.at(0).state == "running");
  CHECK(tree->children.at(0).restarts == 0); // pool itself was never restarted
  REQUIRE(tree->children.at(0).children.size() == 1);
  CHECK(tree->children.at(0).children.at(0).restarts == 3);
  pool_handle = nullptr;
  stop(*sup);
  CHECK(board->all_stopped());
}

TEST_CASE_METHOD(fixture,
                 "a stopping dynamic supervisor answers start requests "
                 "service_unavailable",
                 "[unit][dynamic]") {
  auto spec =
    microlith::dynamic_supervisor_spec{"pool", board_start(board)}.await_ready().shutdown(60s);
  auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
  // Child 1 ignores the request to stop (so the supervisor stays stopping); child 2 has not
  // signalled ready when the stop begins (its start request is pending).
  REQUIRE(microlith::start_child(sys, sup, caf::make_message(1, std::string{"trap ready"})));
  auto pending = std::async(std::launch::async, [&] {
    return microlith::start_child(sys, sup, caf::make_message(2, std::string{"wait"}), 30s);
  });
  REQUIRE(eventually([&] { return board->starts_of(2) == 1; }));
  caf::scoped_actor self{sys};
  self->monitor(sup);
  microlith::signal_exit(sup, caf::exit_reason::user_shutdown);
  REQUIRE(eventually([&] { return board->ignored_of(1) == 1; })); // it is stopping now

  SECTION("a pending one") {
    auto r = pending.get();
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), microlith::errc::service_unavailable));
    CHECK(microlith::message_of(r.error()) == "pool is shutting down");
  }
  SECTION("a new one") {
    auto r = microlith::start_child(sys, sup, caf::make_message(3, std::string{"ready"}));
    REQUIRE_FALSE(r);
    CHECK(microlith::is(r.error(), microlith::errc::service_unavailable));
    CHECK(microlith::message_of(r.error()) == "pool is shutting down");
    CHECK(board->starts_of(3) == 0);
    REQUIRE_FALSE(pending.get());
  }
  // Child 2 went at once; child 1 is killed once its shutdown time is up (60 s): kill it now.
  microlith::signal_exit(board->current_of(1), caf::exit_reason::kill);
  self->receive([](caf::down_msg&) {},
                caf::after(10s) >> [] { FAIL("the supervisor did not stop"); });
  CHECK(board->reason_of(2) == "user_shutdown");
  CHECK(board->all_stopped());
}

TEST_CASE_METHOD(fixture, "a child waiting to signal ready does not hold up other starts",
                 "[unit][dynamic]") {
  auto spec = microlith::dynamic_supervisor_spec{"pool", board_start(board)}.await_ready();
  auto sup = microlith::spawn_dynamic_supervisor(sys, spec);
  auto slow = std::async(std::launch::async, [&] {
    return microlith::start_child(sys, sup, caf::make_message(1, std::string{"wait"}), 30s);
  });
  REQUIRE(eventually([&] { return board->starts_of(1) == 1; }));
  // Child 1 cannot be ready: it has not been told "go". Child 2 starts meanwhile.
  auto quick = microlith::start_child(sys, sup, caf::make_message(2, std::string{"ready"}));
  REQUIRE(quick);
  CHECK(ask(sys, *quick) == 2);
  auto counts = microlith::count_children(sys, sup);
  REQUIRE(counts);
  CHECK(counts->active == 2); // both run; child 1 is still starting
  // Now child 1 signals ready, and its start request is answered.
  caf::anon_send(board->current_of(1), std::string{"go"});
  auto r = slow.get();
  REQUIRE(r);
  CHECK(ask(sys, *r) == 1);
  stop(sup);
  CHECK(board->all_stopped());
}

TEST_CASE_METHOD(fixture, "ten thousand dynamic children crashed at random are all restarted",
                 "[unit][dynamic]") {
  constexpr int children = 10000;
  constexpr int crashes = 2000;
  auto spec =
    microlith::dynamic_supervisor_spec{"pool", board_start(board)}.intensity(crashes + 10, 60s);
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
  CHECK(counts->active == std::size_t{children});
  CHECK(counts->workers == std::size_t{children});
  // None lost: every child answers with its own argument.
  for (int i = 0; i < children; i += 97)
    CHECK(ask(sys, board->current_of(i)) == i);
  stop(sup);
  CHECK(board->all_stopped());
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

TEST_CASE_METHOD(fixture,
                 "a dynamic supervisor answers which_children and refuses the static-only "
                 "operations as OTP's simple_one_for_one",
                 "[unit][dynamic]") {
  auto sup = microlith::spawn_dynamic_supervisor(
    sys, microlith::dynamic_supervisor_spec{"pool", board_start(board)}.child_id("worker"));
  auto a = microlith::start_child(sys, sup, caf::make_message(1));
  auto b = microlith::start_child(sys, sup, caf::make_message(2));
  REQUIRE(a);
  REQUIRE(b);
  auto children = microlith::which_children(sys, sup);
  REQUIRE(children);
  REQUIRE(children->size() == 2);
  CHECK((*children)[0].id == "worker-1");
  CHECK((*children)[0].actor == *a);
  CHECK((*children)[1].id == "worker-2");
  CHECK((*children)[1].actor == *b);
  CHECK_FALSE((*children)[1].restarting);
  auto not_applicable = [](const caf::error& err) {
    return microlith::child_error_of(err) == microlith::child_errc::not_applicable;
  };
  CHECK(not_applicable(microlith::restart_child(sys, sup, "worker-1").error()));
  CHECK(not_applicable(microlith::delete_child(sys, sup, "worker-1")));
  CHECK(not_applicable(microlith::terminate_child(sys, sup, std::string{"worker-1"})));
  // Both children were left alone.
  CHECK(ask(sys, *a) == 1);
  CHECK(board->starts_of(1) == 1);
  stop(sup);
}
