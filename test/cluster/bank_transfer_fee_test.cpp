// The toggle bank.transfer_fee on the bank split over three real node processes (ledger,
// accounts, web), its system file saying `[toggles] test_overrides = true`: the same transfers
// with the toggle on and off at once, each request giving it through the gateway header
// X-Microlith-Toggles, each sender checking its own fees, balances and ledger entries
// (test/integration/transfer_fee_scenario.hpp). The header is read by the web node; the toggle
// is checked by the accounts node, which the override reaches in the call's metadata.
#include "cluster_fixture.hpp"
#include "transfer_fee_http.hpp"
#include "transfer_fee_scenario.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <map>
#include <string>
#include <vector>

using namespace cluster_test;

TEST_CASE("on three nodes the same transfers with bank.transfer_fee on and off at once through "
          "the X-Microlith-Toggles header each get their own fee",
          "[cluster]") {
  bank_cluster bank{placement{{"ledger", {"ledger"}}, {"accounts", {"accounts"}}, {"web", {"web"}}},
                    "bank", "\n[toggles]\ntest_overrides = true\n"};
  REQUIRE(bank.ready());
  constexpr int rounds = 8;
  constexpr std::int64_t initial = 100'000;
  const std::map<std::string, bool> senders{
    {"on-1", true}, {"off-1", false}, {"on-2", true}, {"off-2", false}};
  std::vector<bank_test::fee_client> clients;
  for (std::size_t i = 0; i < senders.size(); ++i)
    clients.push_back(bank_test::http_fee_client(bank.http_port));
  std::vector<std::future<std::string>> running;
  std::size_t i = 0;
  for (const auto& [name, on] : senders) {
    running.push_back(
      std::async(std::launch::async, [&client = clients[i++], name = name, on = on] {
        return bank_test::run_fee_transfers(client, on, name, name + "-to", initial, rounds);
      }));
  }
  for (auto& r : running) {
    auto wrong = r.get();
    INFO("the nodes' logs:\n" << (wrong.empty() ? std::string{} : bank.logs()));
    CHECK(wrong == std::string{});
  }
  auto fees = bank_test::http_fee_client(bank.http_port).history("fees");
  CHECK(bank_test::check_fees_received(fees, senders, rounds) == std::string{});
}
