// The code server's replica service ("modules@NODE", module_replication.hpp) in one process: it
// answers another node's request while this node's own operation is still running, as when that
// operation waits on the other node's answer (two installs received by two nodes at the same
// moment: each waits on the other's replica service).
#include "microlith/actors/error.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/registry.hpp"
#include "microlith/services/code_server.hpp"
#include "microlith/services/module_store.hpp"

#include "module_test_system.hpp"
#include "proto/microlith_modules.pb.h"
#include "support/temp_folder.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>

using namespace module_tests;

TEST_CASE("the replica service answers another node while this node's own operation is still "
          "running",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  microlith::node n{microlith::node_options{}};
  auto store = microlith::module_store::open(dir.path() / "store");
  REQUIRE(store);
  microlith::code_server server{n, std::move(*store)};
  microlith::module_cluster cluster;
  cluster.node = "a";
  cluster.nodes = {"a", "b"};
  cluster.catch_up_wait = std::chrono::milliseconds(0); // node b never comes
  server.join_cluster(cluster);
  auto failed = server.load_active();
  REQUIRE(failed.empty());
  REQUIRE(eventually([&] { return !n.registry().snapshot()->instances("modules@a").empty(); }));

  // This node's own operation runs until the test lets it finish.
  std::promise<void> release;
  auto released = release.get_future().share();
  std::atomic<bool> running{false};
  server.post([&running, released] {
    running = true;
    released.wait();
  });
  REQUIRE(eventually([&] { return running.load(); }));

  microlith::blocking_call_options options;
  options.timeout = std::chrono::seconds(20);
  options.caller = "modules@b";
  auto listed = n.call<microlith::modules::v1::ModuleList>(
    "modules@a", "List", microlith::modules::v1::ListRequest{}, options);
  release.set_value();
  INFO((listed ? std::string{} : microlith::describe(listed.error())));
  REQUIRE(listed);
  CHECK(listed->modules_size() == 0);
  server.stop();
}
