// Modules installed into a running node (code_server.hpp, docs/modules.md): real archives of real
// shared libraries built by the test build (test/modules/), uploaded to a real host's gateway over
// HTTP with the admin token, served at their routes, replaced and rolled back under load, loaded
// again after a restart, and every refusal the issue lists with nothing running touched (an
// upload over [modules] max_archive_bytes refused on its head, before its body is read).
#include "microlith/actors/error.hpp"
#include "microlith/actors/node.hpp"
#include "microlith/actors/service.hpp"
#include "microlith/services/code_server.hpp"
#include "microlith/services/host.hpp"
#include "microlith/services/module.hpp"
#include "microlith/services/system_file.hpp"

#include "integration/http_client.hpp"
#include "module_test_system.hpp"
#include "proto/microlith_modules.pb.h"
#include "proto/test.pb.h"
#include "support/temp_folder.hpp"
#include "test_module_paths.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

using Catch::Matchers::Contains;
using namespace module_tests;

namespace {

// A linked-in module whose group serves a service called "greeter" (the test contract's Echo),
// as the test modules' service is called.
class occupier {
public:
  microlith::reply<microlith::test::PingReply> ping(microlith::call_context&,
                                                    const microlith::test::PingRequest& req) {
    microlith::test::PingReply reply;
    reply.set_text(req.text());
    return reply;
  }
};

// The group of the occupier module, for a system file.
const std::string occupier_group = "[groups.occupier]\nmodule = \"test.occupier\"\n";

// Sends only the head of an install whose archive is `length` bytes, with `Expect:
// 100-continue`, and answers the gateway's first answer: an interim 100 Continue when it is
// ready to read the archive, a final status (with its body) when the head alone refuses it.
bank_test::http_answer answer_to_upload_head(std::uint16_t port, std::size_t length) {
  namespace asio = boost::asio;
  asio::io_context ioc;
  boost::beast::tcp_stream stream{ioc};
  const asio::ip::tcp::endpoint to{asio::ip::address_v4::loopback(), port};
  const std::chrono::seconds limit{30};
  bank_test::run_bounded(ioc, stream, limit, "connect",
                         [&](auto done) { stream.async_connect(to, done); });
  const std::string head = fmt::format("POST {} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       "Authorization: Bearer {}\r\nContent-Type: "
                                       "application/octet-stream\r\nContent-Length: {}\r\n"
                                       "Expect: 100-continue\r\n\r\n",
                                       install_target("/c", true), admin_token, length);
  bank_test::run_bounded(ioc, stream, limit, "write", [&](auto done) {
    asio::async_write(stream, asio::buffer(head),
                      [done](boost::system::error_code ec, std::size_t) { done(ec); });
  });
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> answer;
  bank_test::run_bounded(ioc, stream, limit, "read", [&](auto done) {
    http::async_read(stream, buffer, answer,
                     [done](boost::system::error_code ec, std::size_t) { done(ec); });
  });
  return bank_test::http_answer{answer.result_int(), answer.body(), {}};
}

} // namespace

MICROLITH_MODULE(test_occupier) {
  return microlith::module_definition{"test.occupier"}.group(
    "occupier", [](microlith::group_context& g) {
      return microlith::children{
        g.service(microlith::service<occupier>("greeter", "microlith.test.Echo")
                    .handle("Ping", &occupier::ping))};
    });
}

TEST_CASE("an installed module is served at its route under its prefix and by name", "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  auto installed = sys.admin(http::verb::post, install_target("/clients/t", true), read_bytes(v1));
  INFO(installed.body);
  REQUIRE(installed.status == 200);
  CHECK_THAT(installed.body, Contains("\"name\":\"test.greeter\""));
  CHECK_THAT(installed.body, Contains("\"loaded\":true"));
  auto answer = sys.get("/clients/t/greet/bob");
  INFO(answer.body);
  CHECK(answer.status == 200);
  CHECK_THAT(answer.body, Contains("hello bob from 1.0.0"));
  // Not served without its prefix.
  CHECK(sys.get("/greet/bob").status == 404);
  auto all = listed(sys.n);
  REQUIRE(all.modules_size() == 1);
  CHECK(all.modules(0).version() == "1.0.0");
  CHECK(all.modules(0).active());
  CHECK(all.modules(0).route_prefix() == "/clients/t");
  CHECK(all.modules(0).sha256().size() == 64);
}

TEST_CASE("a replace moves HTTP requests to the new version and a rollback moves them back",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  REQUIRE(sys.admin(http::verb::post, install_target("/c", true), read_bytes(v1)).status == 200);
  {
    auto second = sys.admin(http::verb::post, install_target("/c", false), read_bytes(v2));
    INFO(second.body);
    REQUIRE(second.status == 200);
  }
  CHECK_THAT(sys.get("/c/greet/a").body, Contains("from 1.0.0"));
  auto replaced =
    sys.admin(http::verb::post, "/_microlith/modules/test.greeter/activate?version=2.0.0");
  INFO(replaced.body);
  REQUIRE(replaced.status == 200);
  CHECK_THAT(sys.get("/c/greet/a").body, Contains("from 2.0.0"));
  auto back =
    sys.admin(http::verb::post, "/_microlith/modules/test.greeter/activate?version=1.0.0");
  REQUIRE(back.status == 200);
  CHECK_THAT(sys.get("/c/greet/a").body, Contains("from 1.0.0"));
  auto all = listed(sys.n);
  REQUIRE(all.modules_size() == 2);
  for (const auto& m : all.modules())
    CHECK(m.active() == (m.version() == "1.0.0"));
}

TEST_CASE("a version installed without a route prefix is served where the active version is",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  REQUIRE(sys.admin(http::verb::post, install_target("/c", true), read_bytes(v1)).status == 200);
  auto second = sys.admin(http::verb::post, "/_microlith/modules?activate=true", read_bytes(v2));
  INFO(second.body);
  REQUIRE(second.status == 200);
  CHECK_THAT(second.body, Contains("\"route_prefix\":\"/c\""));
  CHECK_THAT(sys.get("/c/greet/a").body, Contains("from 2.0.0"));
  CHECK(sys.get("/greet/a").status == 404);
}

TEST_CASE("fifty replaces and rollbacks under continuous HTTP load fail no request",
          "[modules][load]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  REQUIRE(sys.admin(http::verb::post, install_target("/c", true), read_bytes(v1)).status == 200);
  {
    auto second = sys.admin(http::verb::post, install_target("/c", false), read_bytes(v2));
    INFO(second.body);
    REQUIRE(second.status == 200);
  }
  std::atomic<bool> stop{false};
  std::atomic<long> ok{0};
  std::atomic<long> failed{0};
  std::atomic<long> from_v2{0};
  std::string last_failure;
  std::mutex failure_mutex;
  std::vector<std::thread> clients;
  for (int i = 0; i < 2; ++i)
    clients.emplace_back([&] {
      bank_test::http_client c{sys.port};
      while (!stop) {
        auto a = c.request(http::verb::get, "/c/greet/load");
        if (a.status == 200 && a.body.find("hello load from") != std::string::npos) {
          ++ok;
          if (a.body.find("from 2.0.0") != std::string::npos)
            ++from_v2;
        } else {
          ++failed;
          std::lock_guard<std::mutex> guard{failure_mutex};
          last_failure = std::to_string(a.status) + " " + a.body;
        }
      }
    });
  for (int i = 0; i < 25; ++i) {
    auto up =
      sys.admin(http::verb::post, "/_microlith/modules/test.greeter/activate?version=2.0.0");
    REQUIRE(up.status == 200);
    auto down =
      sys.admin(http::verb::post, "/_microlith/modules/test.greeter/activate?version=1.0.0");
    REQUIRE(down.status == 200);
  }
  stop = true;
  for (auto& t : clients)
    t.join();
  INFO(last_failure);
  CHECK(failed == 0);
  CHECK(ok > 0);
  CHECK(from_v2 > 0);
}

TEST_CASE("a restarted node loads the active version again before it is ready", "[modules]") {
  test_support::temp_folder dir{"modules"};
  {
    running_system sys{dir.path()};
    REQUIRE(sys.admin(http::verb::post, install_target("/c", true), read_bytes(v1)).status == 200);
    {
      auto second = sys.admin(http::verb::post, install_target("/c", false), read_bytes(v2));
      INFO(second.body);
      REQUIRE(second.status == 200);
    }
    REQUIRE(
      sys.admin(http::verb::post, "/_microlith/modules/test.greeter/activate?version=2.0.0").status
      == 200);
  }
  running_system again{dir.path()};
  // start() returned: the modules are loaded, the node is ready.
  CHECK(again.h.ready());
  auto answer = again.get("/c/greet/again");
  INFO(answer.body);
  CHECK(answer.status == 200);
  CHECK_THAT(answer.body, Contains("from 2.0.0"));
}

TEST_CASE("an archive built for another ABI is refused before any of its code runs", "[modules]") {
  test_support::temp_folder dir{"modules"};
  auto marker = dir.path() / "static-initializer-ran";
  ::setenv("MICROLITH_TEST_STATIC_INIT_MARKER", marker.c_str(), 1);
  running_system sys{dir.path()};
  auto refused = sys.admin(http::verb::post, install_target("/c", true),
                           read_bytes(test_modules::abi_mismatch.package));
  INFO(refused.body);
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body, Contains("CAF 0.0.0 (library) vs"));
  CHECK_THAT(refused.body, Contains("(this process)"));
  CHECK_FALSE(std::filesystem::exists(marker));
  CHECK(listed(sys.n).modules_size() == 0);
}

TEST_CASE("a node chosen for a module in a system running in one process is refused", "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  auto refused =
    sys.admin(http::verb::post, install_target("/c", true) + "&node=n1", read_bytes(v1));
  INFO(refused.body);
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body,
             Contains("node \\\"n1\\\" was chosen, but this system runs in one process"));
  CHECK(listed(sys.n).modules_size() == 0);
}

TEST_CASE("a changed contract without a new package is refused naming the file and the symbol",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  REQUIRE(sys.admin(http::verb::post, install_target("/c", true), read_bytes(v1)).status == 200);
  auto refused = sys.admin(http::verb::post, install_target("/c", true),
                           read_bytes(test_modules::greeter_changed.package));
  INFO(refused.body);
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body, Contains("greeter.proto"));
  CHECK_THAT(refused.body, Contains("microlith.test.greeter."));
  CHECK_THAT(refused.body, Contains("nothing was installed"));
  CHECK_THAT(sys.get("/c/greet/a").body, Contains("from 1.0.0"));
  CHECK(listed(sys.n).modules_size() == 1);
}

TEST_CASE("a service name the system already serves is refused and nothing running is touched",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path(), occupier_group};
  auto refused = sys.admin(http::verb::post, install_target("/c", true), read_bytes(v1));
  INFO(refused.body);
  CHECK(refused.status == 409);
  CHECK_THAT(refused.body, Contains("service greeter is already served"));
  CHECK_THAT(refused.body, Contains("installed but not activated"));
  // The system's own "greeter" still answers; the module's route is not served.
  CHECK(sys.get("/c/greet/a").status == 404);
  auto answer =
    sys.n.call<microlith::test::PingReply>("greeter", "Ping", microlith::test::PingRequest{});
  CHECK(answer);
  auto all = listed(sys.n);
  REQUIRE(all.modules_size() == 1);
  CHECK_FALSE(all.modules(0).active());
  CHECK_FALSE(all.modules(0).loaded());
}

TEST_CASE("a module served under the gateway's admin path is refused and the admin path "
          "still answers",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  auto refused =
    sys.admin(http::verb::post, install_target("/_microlith/modules", true), read_bytes(v1));
  INFO(refused.body);
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body, Contains("lies under /_microlith/modules/, which the gateway serves "
                                    "itself"));
  CHECK_THAT(refused.body, Contains("installed but not activated"));
  // The admin path is still the gateway's own: it lists the version, inactive.
  auto list = sys.admin(http::verb::get, "/_microlith/modules");
  INFO(list.body);
  CHECK(list.status == 200);
  auto all = listed(sys.n);
  REQUIRE(all.modules_size() == 1);
  CHECK_FALSE(all.modules(0).active());
  CHECK_FALSE(all.modules(0).loaded());
}

TEST_CASE("an archive with a path escaping its folder is refused and nothing is stored",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  // One ustar header naming "../escape" and one 512-byte block of content, then two zero blocks.
  std::string tar(512, '\0');
  auto put = [&](std::size_t at, const std::string& text) { tar.replace(at, text.size(), text); };
  put(0, "../escape");
  put(100, "0000644");
  put(108, "0000000");
  put(116, "0000000");
  put(124, "00000000005");
  put(136, "00000000000");
  put(156, "0");
  put(257, "ustar");
  put(263, "00");
  put(148, "        ");
  unsigned sum = 0;
  for (unsigned char c : tar)
    sum += c;
  char checksum[8];
  std::snprintf(checksum, sizeof checksum, "%06o", sum);
  put(148, std::string(checksum, 6) + std::string("\0 ", 2));
  tar += std::string("hello") + std::string(507, '\0') + std::string(1024, '\0');
  auto refused = sys.admin(http::verb::post, install_target("/c", true), tar);
  INFO(refused.body);
  CHECK(refused.status == 400);
  CHECK_THAT(refused.body, Contains("../escape"));
  CHECK(listed(sys.n).modules_size() == 0);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "escape"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "modules" / "escape"));
}

TEST_CASE("an upload is held to [modules] max_archive_bytes on its head before any byte of it "
          "is read",
          "[modules]") {
  test_support::temp_folder dir{"modules"};
  SECTION("a limit below the gateway's default for admin uploads (64 MiB)") {
    running_system sys{dir.path(), {}, "max_archive_bytes = 65536\n"};
    auto over = answer_to_upload_head(sys.port, 65537);
    INFO(over.body);
    CHECK(over.status == 413);
    CHECK_THAT(over.body, Contains("exceeds 65536 bytes"));
    CHECK(answer_to_upload_head(sys.port, 65536).status == 100);
    CHECK(listed(sys.n).modules_size() == 0);
  }
  SECTION("a limit above it") {
    running_system sys{dir.path(), {}, "max_archive_bytes = 104857600\n"}; // 100 MiB
    CHECK(answer_to_upload_head(sys.port, 80 * 1024 * 1024).status == 100);
    auto over = answer_to_upload_head(sys.port, 104857601);
    INFO(over.body);
    CHECK(over.status == 413);
    CHECK_THAT(over.body, Contains("exceeds 104857600 bytes"));
  }
}

TEST_CASE("a corrupt archive is refused and nothing is stored", "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  auto bytes = read_bytes(v1);
  bytes[bytes.size() / 2] ^= 0x5a; // inside the library's bytes: its digest no longer matches
  auto refused = sys.admin(http::verb::post, install_target("/c", true), bytes);
  INFO(refused.body);
  CHECK(refused.status == 400);
  // Refused by the library's checksum, which the manifest records, naming the entry.
  CHECK_THAT(refused.body, Contains("\"lib/libtest_greeter_v1.so\\\" has sha256")
                             && Contains("manifest.toml says"));
  CHECK(listed(sys.n).modules_size() == 0);
  CHECK(sys.get("/c/greet/a").status == 404);
  CHECK(std::filesystem::is_empty(dir.path() / "modules" / ".incoming"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "modules" / "test.greeter"));
}

TEST_CASE("admin requests on modules without the token are refused with 401", "[modules]") {
  test_support::temp_folder dir{"modules"};
  running_system sys{dir.path()};
  bank_test::http_client c{sys.port};
  auto refused = c.request(http::verb::get, "/_microlith/modules");
  CHECK(refused.status == 401);
  auto listed_ok = sys.admin(http::verb::get, "/_microlith/modules");
  CHECK(listed_ok.status == 200);
  CHECK_THAT(listed_ok.body, Contains("\"modules\":[]"));
}
