// Readiness across nodes, in one process: hosts for different nodes of one system file, each on
// its own actor system, joined over real TCP on 127.0.0.1. A permanent group counts as running
// while it runs on this node or while a joined node the file places it on announces it; the
// reasons say, per placed node, what is wrong there. The same with real processes (SIGKILL,
// SIGSTOP) is tested in test/cluster.
#include <microlith/net/cluster/cluster.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include <caf/all.hpp>

#include "support/free_port.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

class idle_child final : public caf::event_based_actor {
public:
  explicit idle_child(caf::actor_config& cfg) : caf::event_based_actor(cfg) {}

  caf::behavior make_behavior() override {
    return {[](int x) { return x; }};
  }
};

microlith::children one_idle_child(microlith::group_context&) {
  return {microlith::child("worker", [](caf::event_based_actor* sup) -> caf::expected<caf::actor> {
    return sup->spawn<idle_child>();
  })};
}

} // namespace

MICROLITH_MODULE(test_readiness) {
  return microlith::module_definition{"test.readiness"}
    .group("front", one_idle_child)
    .group("back", one_idle_child)
    .group("aside", one_idle_child);
}

namespace {

using test_support::free_port;

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  auto until = steady::now() + limit;
  while (!done()) {
    if (steady::now() > until)
      return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// front (needs back) and the transient aside on node one; back replicated on two and three.
microlith::system_config three_nodes() {
  auto port = [] { return std::to_string(free_port()); };
  return microlith::parse_system_file(
    "[system]\nname = \"ready\"\nthreads = 2\n"
    "[groups.back]\nmodule = \"test.readiness\"\n"
    "[groups.front]\nmodule = \"test.readiness\"\nneeds = [\"back\"]\n"
    "[groups.aside]\nmodule = \"test.readiness\"\nrestart = \"transient\"\n"
    "[nodes.one]\nlisten = \"127.0.0.1:"
      + port()
      + "\"\ngroups = [\"front\", \"aside\"]\n"
        "[nodes.two]\nlisten = \"127.0.0.1:"
      + port()
      + "\"\ngroups = [\"back\"]\n"
        "[nodes.three]\nlisten = \"127.0.0.1:"
      + port()
      + "\"\ngroups = [\"back\"]\n"
        "[cluster]\ncookie = \"readiness\"\n",
    "inline.toml");
}

/// A node of the system file and the host running its groups.
struct placed {
  microlith::node node;
  microlith::host host;

  placed(const microlith::system_config& config, const std::string& name)
    : node(microlith::node_options_for(config, name)),
      host(node, config, microlith::module_catalogue::global(), name) {}

  ~placed() {
    host.stop();
    node.shutdown();
  }

  /// "name: reason" of every unready group, in start order.
  std::vector<std::string> unready() const {
    std::vector<std::string> out;
    for (const auto& g : host.unready_groups())
      out.push_back(g.name + ": " + g.reason);
    return out;
  }

  bool sees(const std::string& peer, const std::string& group) const {
    auto* m = host.membership();
    if (m == nullptr)
      return false;
    for (const auto& x : m->members())
      if (x.name == peer)
        return group.empty()
               || std::find(x.groups.begin(), x.groups.end(), group) != x.groups.end();
    return false;
  }
};

} // namespace

TEST_CASE("one process: readiness names the permanent groups that are not running",
          "[unit][host]") {
  auto config = microlith::parse_system_file("[system]\nname = \"ready\"\nthreads = 2\n"
                                             "[groups.back]\nmodule = \"test.readiness\"\n"
                                             "[groups.aside]\nmodule = \"test.readiness\"\n"
                                             "restart = \"temporary\"\n",
                                             "inline.toml");
  microlith::node n{microlith::node_options_for(config)};
  microlith::host h{n, config};
  SECTION("before start, every permanent group is missing") {
    REQUIRE(h.unready_groups().size() == 1);
    CHECK(h.unready_groups()[0].name == "back");
    CHECK(h.unready_groups()[0].reason == "permanent group back is not running");
    CHECK_FALSE(h.ready());
  }
  SECTION("running, then stopped") {
    REQUIRE_FALSE(h.start());
    CHECK(h.unready_groups().empty());
    CHECK(h.ready());
    h.stop();
    CHECK_FALSE(h.ready());
  }
  n.shutdown();
}

TEST_CASE("across nodes: a permanent group counts while a joined node the file places it on "
          "runs it",
          "[unit][host]") {
  auto config = three_nodes();
  const std::string back_nowhere =
    "back: permanent group back runs on no reachable node (placed on two: not joined, three: not "
    "joined)";

  // Node one alone: back runs nowhere, and front waits for it (placed here, not running).
  auto one = std::make_unique<placed>(config, "one");
  auto started = std::async(std::launch::async, [&] { return one->host.start(); });
  // Should a check below fail while start() still waits, end the wait before the future's
  // destructor waits for it.
  struct end_wait {
    microlith::host& h;
    ~end_wait() { h.request_stop(); }
  } guard{one->host};
  CHECK(eventually([&] {
    return one->unready()
           == std::vector<std::string>{back_nowhere,
                                       "front: permanent group front runs on no reachable node "
                                       "(placed on one: this node, not running it)"};
  }));

  // A node that joins but runs nothing: joined, not running it.
  {
    auto bare_opts = microlith::node_options_for(config, "three");
    microlith::node bare{bare_opts};
    auto joined =
      microlith::cluster::membership::join(bare, microlith::cluster_options_for(config, "three"));
    REQUIRE(joined);
    CHECK(eventually([&] {
      auto now = one->unready();
      return !now.empty()
             && now[0]
                  == "back: permanent group back runs on no reachable node (placed on two: "
                     "not joined, three: joined, not running it)";
    }));
    (*joined)->leave();
    joined->reset();
    bare.shutdown();
  }
  CHECK(eventually([&] { return !one->sees("three", ""); }));

  // Node two runs back: front starts on one, and both nodes are ready.
  auto two = std::make_unique<placed>(config, "two");
  REQUIRE_FALSE(two->host.start());
  REQUIRE(started.wait_for(10s) == std::future_status::ready);
  REQUIRE_FALSE(started.get());
  CHECK(eventually([&] { return one->host.ready() && two->host.ready(); }));

  // A group on several nodes is up while any of them runs it.
  auto three = std::make_unique<placed>(config, "three");
  REQUIRE_FALSE(three->host.start());
  REQUIRE(eventually([&] { return one->sees("three", "back"); }));
  two.reset(); // stops its groups and leaves
  REQUIRE(eventually([&] { return !one->sees("two", ""); }));
  CHECK(one->unready().empty());
  CHECK(three->host.ready());

  // None runs it: not ready, naming back and where it is placed.
  three.reset();
  CHECK(eventually([&] { return one->unready() == std::vector<std::string>{back_nowhere}; }));
  CHECK_FALSE(one->host.ready());
}
