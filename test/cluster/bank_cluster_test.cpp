// The bank split over real processes on 127.0.0.1 (`microlith run FILE --node NAME`), driven
// through its HTTP/WebSocket API: the same assertions against one process, two nodes and three
// nodes; a node killed with SIGKILL or frozen with SIGSTOP is detected, the survivors keep
// answering (fast failures, then a surviving replica), and the node rejoins and serves when it
// comes back; the web node's /readyz is 503 naming the group that runs on no reachable node
// while its node is killed or frozen, and 200 again once it is back; a node with the wrong
// cookie or of another system is refused. How fast a lost node is detected is measured by
// bench/cluster_bench.cpp, not here.
#include "cluster_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace cluster_test;
using Catch::Matchers::Contains;
using verb = boost::beast::http::verb;

namespace {

/// Returns once a balance published by accounts, wherever it runs, reaches `ws`, subscribed to
/// "balances", and every message published before that one has been received. On a cluster the
/// gateway's subscription reaches the other nodes asynchronously (docs/gateway.md): a message
/// published there before it arrives is not delivered. So probe accounts are opened (a bounded
/// number, paced) until one's balance arrives; then one more, whose balance comes after those of
/// every earlier probe (one accounts instance publishes them in order).
void wait_until_subscribed_everywhere(std::uint16_t port, ws_client& ws) {
  std::atomic<bool> seen{false};
  std::thread prober{[&] {
    try {
      http_client probes{port};
      for (int i = 0; !seen && i < 600; ++i) {
        probes.request(verb::post, "/accounts", R"({"id":"probe-)" + std::to_string(i) + "\"}");
        std::this_thread::sleep_for(50ms); // pacing: a probe every 50 ms, at most 30 s of them
      }
    } catch (const std::exception&) {
      // the receive below fails with the gateway's logs
    }
  }};
  struct joiner {
    std::atomic<bool>& seen;
    std::thread& t;
    ~joiner() {
      seen = true;
      if (t.joinable())
        t.join();
    }
  } join_prober{seen, prober};
  CHECK_THAT(ws.receive(), Contains(R"("id":"probe-)"));
  seen = true;
  prober.join();
  http_client client{port};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"probes-end"})").status == 200);
  for (std::string frame; (frame = ws.receive()).find("probes-end") == std::string::npos;)
    CHECK_THAT(frame, Contains(R"("id":"probe-)"));
}

/// The bank's API over HTTP and WebSocket: the assertions of test/integration/bank_http_test.cpp.
void bank_answers_its_api(std::uint16_t port) {
  http_client client{port};
  ws_client ws{port, "/ws"};
  ws.send(R"({"subscribe":"balances"})");
  REQUIRE(ws.receive() == R"({"subscribed":"balances"})");
  wait_until_subscribed_everywhere(port, ws);

  auto opened = client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":100})");
  CHECK(opened.status == 200);
  CHECK_THAT(opened.body, Contains(R"("balance":"100")"));
  CHECK(ws.receive() == R"({"topic":"balances","message":{"id":"ada","balance":"100"}})");
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"bob"})").status == 200);
  CHECK(ws.receive() == R"({"topic":"balances","message":{"id":"bob","balance":"0"}})");

  CHECK(client.request(verb::post, "/accounts/ada/deposit", R"({"amount":50})").status == 200);
  CHECK(client.request(verb::post, "/accounts/ada/withdraw", R"({"amount":30})").status == 200);
  auto moved = client.request(verb::post, "/transfers", R"({"from":"ada","to":"bob","amount":20})");
  CHECK(moved.status == 200);
  CHECK_THAT(moved.body, Contains(R"("to":{"id":"bob","balance":"20"})"));
  auto balance = client.request(verb::get, "/accounts/ada");
  CHECK(balance.status == 200);
  CHECK_THAT(balance.body, Contains(R"("balance":"100")"));
  auto history = client.request(verb::get, "/accounts/ada/history");
  CHECK(history.status == 200);
  CHECK_THAT(history.body, Contains(R"("kind":"open")"));
  CHECK_THAT(history.body, Contains(R"("kind":"transfer_out")"));

  auto broke = client.request(verb::post, "/accounts/bob/withdraw", R"({"amount":500})");
  CHECK(broke.status == 400);
  CHECK_THAT(broke.body, Contains(R"("error":"failed_precondition")"));
  CHECK_THAT(broke.body, Contains("insufficient funds: account bob has 20, needs 500"));
  auto typo = client.request(verb::post, "/accounts/ada/deposit", R"({"amout":5})");
  CHECK(typo.status == 400);
  CHECK_THAT(typo.body, Contains(R"("field":"amout")"));

  auto deposit = client.request(verb::post, "/accounts/ada/deposit", R"({"amount":1})");
  REQUIRE(deposit.status == 200);
  auto traced = client.request(verb::get, "/accounts/ada/history");
  CHECK_THAT(traced.body, Contains(R"("correlation_id":")" + deposit.request_id + "\""));
}

/// Deposits to `account` in a loop on its own keep-alive connection until stopped, counting
/// answers by status and the slowest answer.
struct load {
  std::uint16_t port;
  std::string account;
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::atomic<long> slowest_ms{0};
  std::thread worker;

  load(std::uint16_t p, std::string a) : port(p), account(std::move(a)) {
    worker = std::thread{[this] {
      std::unique_ptr<http_client> client;
      while (!stop) {
        try {
          if (!client)
            client = std::make_unique<http_client>(port);
          auto t0 = steady::now();
          auto answer =
            client->request(verb::post, "/accounts/" + account + "/deposit", R"({"amount":1})");
          auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
          if (ms > slowest_ms)
            slowest_ms = ms;
          (answer.status == 200 ? ok : failed)++;
        } catch (const std::exception&) {
          client.reset();
          ++failed;
        }
        std::this_thread::sleep_for(2ms);
      }
    }};
  }

  ~load() {
    stop = true;
    worker.join();
  }
};

long elapsed_ms(steady::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - since).count();
}

} // namespace

TEST_CASE("the bank answers the same API in one process, on two nodes and on three nodes "
          "with the ledger replicated",
          "[cluster]") {
  // The ledger's replicas share one SQLite file, so History is the same whichever answers.
  auto where = GENERATE(
    placement{}, placement{{"front", {"web", "ledger"}}, {"back", {"accounts"}}},
    placement{{"ledger", {"ledger"}}, {"accounts", {"accounts", "ledger"}}, {"web", {"web"}}});
  INFO("placement: " << (where.empty() ? std::string{"one process"}
                                       : std::to_string(where.size()) + " nodes"));
  bank_cluster bank{where};
  REQUIRE(bank.ready());
  INFO(bank.logs());
  bank_answers_its_api(bank.http_port);
}

TEST_CASE("a node started before its peers waits for them, then serves", "[cluster]") {
  temp_folder folder;
  auto http_port = free_port();
  placement where{{"ledger", {"ledger"}}, {"accounts", {"accounts"}}, {"web", {"web"}}};
  auto file = write_file(folder.path(), "bank.toml",
                         bank_file_text(http_port, folder.path() / "ledger.db", where));
  auto web = run_node(folder.path(), file, "web");
  REQUIRE(wait_for_log(*web, "group web waits for group(s) accounts, ledger", 10s));
  std::this_thread::sleep_for(1s);
  CHECK_FALSE(gateway_ready(http_port));
  // The gateway group has not started: nothing listens on its address yet (docs/cluster.md).
  CHECK_FALSE(accepts_connections(http_port));
  auto ledger = run_node(folder.path(), file, "ledger");
  auto accounts = run_node(folder.path(), file, "accounts");
  CHECK(eventually([&] { return gateway_ready(http_port); }, 15s));
  http_client client{http_port};
  CHECK(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":3})").status
        == 200);
  CHECK(web->stop() == 0);
  CHECK(accounts->stop() == 0);
  CHECK(ledger->stop() == 0);
}

TEST_CASE("a call in flight to a killed replica fails at once with service_down, the surviving "
          "replica serves, and the restarted node rejoins and serves",
          "[cluster]") {
  // How fast a lost node is detected is measured by bench/cluster_bench.cpp; this checks what
  // callers see. The ledger runs on two nodes; accounts (on front) calls the replicas in turn,
  // both remote. The heartbeat timeout is long because ledger-1 is frozen for a moment before it
  // is killed (to hold a call), and must not be declared down by missing heartbeats meanwhile: a
  // killed node is detected by its closed sockets. (bank_file_text ends with [cluster].)
  temp_folder folder;
  auto http_port = free_port();
  placement where{
    {"front", {"web", "accounts"}}, {"ledger-1", {"ledger"}}, {"ledger-2", {"ledger"}}};
  auto file = write_file(folder.path(), "bank.toml",
                         bank_file_text(http_port, folder.path() / "ledger.db", where)
                           + "heartbeat_timeout = \"60s\"\n");
  std::map<std::string, std::unique_ptr<process>> nodes;
  auto logs = [&] {
    std::string out;
    for (const auto& [name, p] : nodes)
      out += "--- " + name + "\n" + p->output();
    return out;
  };
  // The replicas run their ledger before front starts, so front learns both instances with each
  // replica's state ("serves 5 instance(s)": its ledger, its built-in toggles service, its
  // toggles replica service toggles@NODE, the built-in jobs service, since bank.toml has a
  // job store for its payments, and its observer, observer@NODE), and the turns alternate between
  // them from the start.
  nodes["ledger-1"] = run_node(folder.path(), file, "ledger-1");
  nodes["ledger-2"] = run_node(folder.path(), file, "ledger-2");
  for (const char* name : {"ledger-1", "ledger-2"})
    if (!wait_for_log(*nodes[name], "node " + std::string{name} + " of system bank running", 30s))
      FAIL(name << " is not running\n" << logs());
  nodes["front"] = run_node(folder.path(), file, "front");
  auto& front = *nodes["front"];
  for (const char* name : {"ledger-1", "ledger-2"})
    if (!wait_for_log(front, "node " + std::string{name} + " serves 5 instance(s)", 30s))
      FAIL("front did not learn " << name << "'s instances\n" << logs());
  REQUIRE(eventually([&] { return gateway_ready(http_port); }, 30s));
  INFO(logs());
  {
    http_client client{http_port};
    REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada"})").status == 200);
    REQUIRE(client.request(verb::post, "/accounts", R"({"id":"bob"})").status == 200);
    load traffic{http_port, "ada"};
    CHECK(eventually([&] { return traffic.ok.load() >= 20; }, 30s));
  } // the traffic stops: nothing is in flight when ledger-1 freezes

  // Frozen, ledger-1 holds whatever reaches it. Two deposits at once: accounts sends one Append
  // to each replica, so one answers through ledger-2 and the other waits at ledger-1.
  REQUIRE(nodes["ledger-1"]->freeze());
  auto deposit = [&](const std::string& account) {
    return std::async(std::launch::async, [&, account] {
      http_client client{http_port};
      return client.request(verb::post, "/accounts/" + account + "/deposit", R"({"amount":1})");
    });
  };
  auto to_ada = deposit("ada");
  auto to_bob = deposit("bob");
  auto answered = [](std::future<bank_test::http_answer>& f) {
    return f.wait_for(1ms) == std::future_status::ready;
  };
  REQUIRE(eventually([&] { return answered(to_ada) || answered(to_bob); }, 30s));
  bool ada_first = answered(to_ada);
  auto& first = ada_first ? to_ada : to_bob;
  auto& waiting = ada_first ? to_bob : to_ada;
  CHECK(first.get().status == 200);

  auto killed_at = steady::now();
  nodes["ledger-1"]->kill9();
  auto failed = waiting.get();
  // Its deadline is the gateway's request_timeout (10 s), which would answer 504 timeout; the
  // kernel closes the killed node's sockets at once, so 5 s is generous even on a loaded machine.
  CHECK(failed.status == 503);
  CHECK_THAT(failed.body, Contains("service_down"));
  CHECK(elapsed_ms(killed_at) < 5000);
  REQUIRE(wait_for_log(front, "node ledger-1 is down", 30s));

  // The survivor serves, and calls keep being served after ledger-1 comes back (a new process on
  // the same port) and rejoins without restarting anyone. (On a loaded machine a single call may
  // miss its deadline while the two replicas take turns on their SQLite file: not counted here.)
  {
    load traffic{http_port, "ada"};
    CHECK(eventually([&] { return traffic.ok.load() >= 20; }, 30s));
    nodes["ledger-1"] = run_node(folder.path(), file, "ledger-1");
    REQUIRE(wait_for_log(front, "node ledger-1 joined", 30s, 2));
    auto ok_at_rejoin = traffic.ok.load();
    CHECK(eventually([&] { return traffic.ok.load() >= ok_at_rejoin + 20; }, 30s));
  }

  // The rejoined node serves: with ledger-2 gone, a deposit can only be recorded by ledger-1.
  CHECK(nodes["ledger-2"]->stop() == 0);
  REQUIRE(wait_for_log(front, "node ledger-2 left", 30s));
  http_client client{http_port};
  CHECK(eventually(
    [&] {
      return client.request(verb::post, "/accounts/bob/deposit", R"({"amount":1})").status == 200;
    },
    30s));
}

TEST_CASE("a frozen node (SIGSTOP) is declared down, its callers fail fast, and it rejoins after "
          "SIGCONT",
          "[cluster]") {
  // How long detection takes is measured by bench/cluster_bench.cpp; this checks what callers see.
  bank_cluster bank{placement{{"front", {"web", "ledger"}}, {"back", {"accounts"}}}};
  REQUIRE(bank.ready());
  auto& front = *bank.nodes.at("front");
  auto& back = *bank.nodes.at("back");
  http_client client{bank.http_port};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada"})").status == 200);

  REQUIRE(back.freeze());
  // A call made while the node is frozen but not yet declared down is in flight to it: it fails
  // with service_down when the node is declared down, not at its 5 s deadline.
  auto in_flight = std::async(std::launch::async, [&] {
    http_client other{bank.http_port};
    return other.request(verb::get, "/accounts/ada");
  });
  // Generous: detection takes about heartbeat_timeout (1 s) plus one interval.
  REQUIRE(wait_for_log(front, "node back is down", 30s));
  INFO(bank.logs());
  // Its deadline is the gateway's request_timeout (10 s), which would answer 504 timeout.
  auto stuck = in_flight.get();
  CHECK(stuck.status == 503);
  CHECK_THAT(stuck.body, Contains("service_down"));
  // While it is frozen, a call fails at once: no instance of accounts is known any more.
  auto refused = client.request(verb::get, "/accounts/ada");
  CHECK(refused.status == 503);
  CHECK_THAT(refused.body, Contains("service_unavailable"));

  back.signal(SIGCONT);
  REQUIRE(wait_for_log(front, "node back joined", 10s, 2));
  CHECK(eventually([&] { return client.request(verb::get, "/accounts/ada").status == 200; }, 5s));
}

TEST_CASE("/readyz on the web node is 503 naming the permanent group that runs on no reachable "
          "node (killed, or frozen until declared down) and 200 again once it is back",
          "[cluster]") {
  bank_cluster bank{
    placement{{"ledger", {"ledger"}}, {"accounts", {"accounts"}}, {"web", {"web"}}}};
  REQUIRE(bank.ready());
  auto& web = *bank.nodes.at("web");
  auto ready = readyz(bank.http_port);
  REQUIRE(ready.status == 200);
  CHECK_THAT(ready.body, Contains(R"("status":"ready")"));
  // Polls /readyz until it answers `status`, at most `limit`; answers the last answer.
  auto until = [&](unsigned status, std::chrono::milliseconds limit) {
    bank_test::http_answer last;
    eventually([&] { return (last = readyz(bank.http_port)).status == status; }, limit);
    return last;
  };

  // The ledger runs on no node.
  auto killed_at = steady::now();
  bank.nodes.at("ledger")->kill9();
  auto gone = until(503, 15s);
  auto to_503_killed = elapsed_ms(killed_at);
  INFO(bank.logs());
  REQUIRE(gone.status == 503);
  CHECK_THAT(gone.body, Contains(R"("status":"not ready")"));
  CHECK_THAT(gone.body, Contains(R"("not_running":["ledger"])"));
  CHECK_THAT(gone.body, Contains("permanent group ledger runs on no reachable node (placed on "
                                 "ledger: not joined)"));

  // A new ledger process on the same address: ready again.
  auto restarted_at = steady::now();
  bank.nodes["ledger"] = run_node(bank.folder.path(), bank.file, "ledger");
  auto back = until(200, 15s);
  auto to_200_restarted = elapsed_ms(restarted_at);
  REQUIRE(back.status == 200);
  CHECK_THAT(back.body, Contains(R"("status":"ready")"));

  // The accounts node frozen: ready until it is declared down, then 503 naming accounts.
  auto& accounts = *bank.nodes.at("accounts");
  auto frozen_at = steady::now();
  REQUIRE(accounts.freeze());
  auto frozen = until(503, 15s);
  auto to_503_frozen = elapsed_ms(frozen_at);
  REQUIRE(frozen.status == 503);
  CHECK(wait_for_log(web, "node accounts is down", 1s));
  // payments runs beside accounts (bank_file_text), so it is gone with it.
  CHECK_THAT(frozen.body, Contains(R"("not_running":["accounts","payments"])"));
  CHECK_THAT(frozen.body, Contains("permanent group accounts runs on no reachable node (placed "
                                   "on accounts: not joined)"));
  CHECK_THAT(frozen.body, Contains("permanent group payments runs on no reachable node (placed "
                                   "on accounts: not joined)"));

  // It resumes, finds its connections closed and rejoins: ready again.
  auto resumed_at = steady::now();
  accounts.signal(SIGCONT);
  auto resumed = until(200, 15s);
  auto to_200_resumed = elapsed_ms(resumed_at);
  REQUIRE(resumed.status == 200);
  // /readyz is the web node's view (accounts and ledger joined to it); the call also needs the
  // accounts node's own link to the ledger back, which may come a moment later.
  // (A new account id each try: one that failed may still have opened its account.)
  http_client client{bank.http_port};
  int tries = 0;
  CHECK(eventually(
    [&] {
      auto body = R"({"id":"ada)" + std::to_string(++tries) + R"("})";
      return client.request(verb::post, "/accounts", body).status == 200;
    },
    10s));
  WARN("/readyz 503 after SIGKILL of the ledger node: "
       << to_503_killed
       << " ms; 200 after its "
          "restart: "
       << to_200_restarted << " ms; 503 after SIGSTOP of the accounts node: " << to_503_frozen
       << " ms; 200 after SIGCONT: " << to_200_resumed << " ms");
}

TEST_CASE("a node with another cookie or of another system is refused, with a log line on both "
          "sides",
          "[cluster]") {
  temp_folder folder;
  auto http_port = free_port();
  placement where{{"front", {"web", "ledger"}}, {"back", {"accounts"}}};
  auto file = write_file(folder.path(), "bank.toml",
                         bank_file_text(http_port, folder.path() / "ledger.db", where));
  auto front = run_node(folder.path(), file, "front");

  SECTION("another cookie (MICROLITH_COOKIE overrides the file's)") {
    auto back = run_node(folder.path(), file, "back", {{"MICROLITH_COOKIE", "a-guess"}});
    CHECK(wait_for_log(*front, "the cookies differ", 10s));
    CHECK(wait_for_log(*back, "the cookies differ", 10s));
    CHECK(back->output().find("joined") == std::string::npos);
    CHECK(front->output().find("joined") == std::string::npos);
    CHECK_FALSE(gateway_ready(http_port));
  }
  SECTION("another system") {
    auto text = read_text(file);
    auto other = write_file(folder.path(), "other.toml",
                            text.replace(text.find("name = \"bank\""), 13, "name = \"bonk\""));
    auto back = run_node(folder.path(), other, "back");
    CHECK(wait_for_log(*front, "system \"bonk\"", 10s));
    CHECK(wait_for_log(*back, "system \"bank\"", 10s));
    CHECK(back->output().find("joined") == std::string::npos);
    CHECK(front->output().find("joined") == std::string::npos);
    CHECK_FALSE(gateway_ready(http_port));
  }
  CHECK(front->stop() == 0);
}

TEST_CASE("run --node with a node the file does not name is refused with the names it has",
          "[cluster]") {
  temp_folder folder;
  placement where{{"front", {"web", "ledger"}}, {"back", {"accounts"}}};
  auto file = write_file(folder.path(), "bank.toml",
                         bank_file_text(free_port(), folder.path() / "ledger.db", where));
  auto nobody = run_node(folder.path(), file, "nobody");
  CHECK(nobody->wait_exit(10s) == 2);
  CHECK_THAT(nobody->output(), Contains("no node \"nobody\" (nodes: front, back)"));
}
