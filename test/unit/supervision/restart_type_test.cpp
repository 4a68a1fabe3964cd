// Restart types (supervision/src/supervisor.cpp): whether a child that exited is restarted,
// depending on its type (permanent, transient, temporary) and on how it exited.
#include "test_children.hpp"

#include <microlith/supervision/supervisor.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace unit_supervision;
using microlith::restart_type;
using strings = std::vector<std::string>;

namespace {

enum class exit_kind {
  normal,   ///< the child quits normally
  shutdown, ///< someone other than its supervisor asks it to stop (user_shutdown)
  crash,    ///< the child fails (sec::runtime_error)
  kill,     ///< someone kills it
};

const char* name_of(exit_kind x) {
  switch (x) {
    case exit_kind::normal: return "normal exit";
    case exit_kind::shutdown: return "user_shutdown from outside";
    case exit_kind::crash: return "runtime_error";
    case exit_kind::kill: return "killed";
  }
  return "?";
}

void make_exit(const caf::actor& child, exit_kind how) {
  switch (how) {
    case exit_kind::normal: caf::anon_send(child, finish_atom::value); break;
    case exit_kind::shutdown: caf::anon_send_exit(child, caf::exit_reason::user_shutdown); break;
    case exit_kind::crash: caf::anon_send(child, crash_atom::value); break;
    case exit_kind::kill: caf::anon_send_exit(child, caf::exit_reason::kill); break;
  }
}

} // namespace

TEST_CASE_METHOD(supervision_fixture,
                 "the restart type decides whether a child that exited is restarted", "[unit]") {
  auto how = GENERATE(exit_kind::normal, exit_kind::shutdown, exit_kind::crash, exit_kind::kill);
  INFO("the child exits by " << name_of(how));
  const bool abnormal = how == exit_kind::crash || how == exit_kind::kill;

  // Child w has the type under test; its sibling s is permanent. Once the supervisor has
  // restarted s, which crashed after w had gone, it has also decided about w.
  auto restarted = [&](restart_type type) {
    microlith::supervisor_spec spec{"sup"};
    spec.intensity(10, 5s);
    spec.child(microlith::child("w", start_child(log, "w")).restart(type))
      .child(microlith::child("s", start_child(log, "s")));
    auto sup = start(spec);
    make_exit(log->handle("w"), how);
    REQUIRE(log->wait_gone("w", 1));
    caf::anon_send(log->handle("s"), crash_atom::value);
    REQUIRE(log->wait_for("start s", 2));
    // The supervisor is still there, whatever happened to w: it answers.
    CHECK(microlith::snapshot_of(node.system(), sup));
    return log->count("start w") == 2;
  };

  SECTION("permanent: always") {
    CHECK(restarted(restart_type::permanent));
  }

  SECTION("transient: only after an abnormal exit") {
    CHECK(restarted(restart_type::transient) == abnormal);
  }

  SECTION("temporary: never, and it is forgotten") {
    CHECK_FALSE(restarted(restart_type::temporary));
    // Stopping the supervisor stops only s: w is no longer one of its children.
    auto sup = supervisors.back();
    auto mark = log->size();
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    REQUIRE(wait_exit(node.system(), sup, 3s));
    CHECK(log->events_since(mark) == strings{"stop s"});
  }
}
