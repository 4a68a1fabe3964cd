// The system the tests of installed modules run (installed_modules_test.cpp,
// state_handover_test.cpp): a real host with a gateway group (admin on, OS-chosen port) and a
// module store in a temp folder, driven over HTTP with the admin token and through the built-in
// `modules` service.
#pragma once

#include "microlith/actors/error.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/services/host.hpp"
#include "microlith/services/system_file.hpp"

#include "integration/http_client.hpp"
#include "proto/microlith_modules.pb.h"
#include "test_module_paths.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

namespace module_tests {

namespace http = boost::beast::http;

inline const std::string admin_token = "module-test-admin-token-0123456789";

inline std::string read_bytes(const std::string& file) {
  std::ifstream in{file, std::ios::binary};
  REQUIRE(in);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Polls `done` every 10 ms until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

// A system of one gateway group (admin on, OS-chosen port), a module store in `dir` (with the
// further [modules] keys `modules`) and `groups`.
inline microlith::system_config system_with_store(const std::filesystem::path& dir,
                                                  const std::string& groups = {},
                                                  const std::string& modules = {}) {
  std::string text = "[system]\nname = \"modules-test\"\nthreads = 2\n" + groups
                     + "[admin]\ntoken = \"" + admin_token + "\"\n[modules]\ndir = \""
                     + (dir / "modules").string() + "\"\n" + modules
                     + "[groups.web]\nmodule = \"microlith.gateway\"\n"
                       "[groups.web.http]\nadmin = true\nlisten = \"127.0.0.1:0\"\n";
  return microlith::parse_system_file(text, (dir / "system.toml").string());
}

// A node running the system, with its gateway's port.
struct running_system {
  explicit running_system(const std::filesystem::path& dir, const std::string& groups = {},
                          const std::string& modules = {})
    : n(microlith::node_options{}), h(n, system_with_store(dir, groups, modules)) {
    auto err = h.start();
    INFO(microlith::describe(err));
    REQUIRE_FALSE(err);
    REQUIRE(eventually([&] { return h.http_port("web") != 0; }));
    port = h.http_port("web");
  }

  bank_test::http_answer admin(http::verb verb, const std::string& target,
                               const std::string& body = {}) {
    bank_test::http_client c{port};
    return c.request(verb, target, body, {{"Authorization", "Bearer " + admin_token}});
  }

  bank_test::http_answer get(const std::string& target) {
    bank_test::http_client c{port};
    return c.request(http::verb::get, target);
  }

  microlith::node n;
  microlith::host h;
  std::uint16_t port = 0;
};

// The installed versions, as the built-in `modules` service lists them.
inline microlith::modules::v1::ModuleList listed(microlith::node& n) {
  auto all = n.call<microlith::modules::v1::ModuleList>("modules", "List",
                                                        microlith::modules::v1::ListRequest{});
  if (!all)
    FAIL("modules.List failed: " << microlith::describe(all.error()));
  return *all;
}

inline const std::string v1 = test_modules::greeter_v1.package;
inline const std::string v2 = test_modules::greeter_v2.package;

inline std::string install_target(const std::string& prefix, bool activate) {
  return "/_microlith/modules?route_prefix=" + prefix + (activate ? "&activate=true" : "");
}

} // namespace module_tests
