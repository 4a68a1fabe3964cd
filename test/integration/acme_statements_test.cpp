// The module acme.statements (examples/bank/clients/acme/statements) linked in beside the bank:
// the bank's system file plus a group `statements`, started in one process, and the statements
// asked for over HTTP at the route the module declares (the file names no such route).
#include "bank_system.hpp"
#include "http_client.hpp"

#include "proto/acme/statements/v1/statements.pb.h"

#include <microlith/services/gateway_module.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/system_file.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

using namespace bank_test;
using Catch::Matchers::Contains;
using verb = boost::beast::http::verb;

namespace {

/// The group added to bank.toml: acme's statements, reading the bank's ledger.
constexpr const char* statements_group = R"(
# acme's statements (module acme.statements): read the ledger, listen to the balances topic.
[groups.statements]
module = "acme.statements"
needs = ["ledger"]
)";

/// bank.toml with the statements group, written into `folder` and loaded, its gateway moved to a
/// free port.
microlith::system_config load_bank_with_statements(const temp_folder& folder) {
  std::stringstream text;
  text << std::ifstream{bank_file()}.rdbuf() << statements_group;
  auto path = folder.path() / "bank-with-statements.toml";
  std::ofstream{path} << text.str();
  auto config = microlith::load_system_file(path.string());
  for (auto& g : config.groups)
    if (auto* web = std::any_cast<microlith::gateway_settings>(&g.settings))
      web->options.port = free_port();
  return config;
}

/// The bank and acme's statements in one process: started on construction, stopped on
/// destruction.
struct bank_with_statements {
  temp_folder folder{"acme-statements"};
  microlith::system_config config = load_bank_with_statements(folder);
  microlith::node node{microlith::node_options_for(config)};
  microlith::host host{node, config};

  bank_with_statements() {
    auto err = host.start();
    REQUIRE_FALSE(err);
  }

  ~bank_with_statements() {
    host.stop();
    node.shutdown();
  }

  /// True when the statements cache holds a statement of `account` now.
  bool cached(const std::string& account) {
    acme::statements::v1::StatementRequest req;
    req.set_account_id(account);
    auto answer =
      node.call<acme::statements::v1::CachedStatement>("statements_cache", "Lookup", req);
    REQUIRE(answer);
    return answer->hit();
  }
};

/// Checks `done` until it holds, for at most 5 s; answers whether it did.
bool eventually(const std::function<bool()>& done) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

} // namespace

TEST_CASE("acme's statements over HTTP: the ledger's lines and balances, a deposit after a cached "
          "statement in the next one, 404 naming an unknown account",
          "[integration]") {
  bank_with_statements bank;
  http_client client{gateway_port(bank.config)};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":100})").status
          == 200);
  REQUIRE(client.request(verb::post, "/accounts/ada/deposit", R"({"amount":50})").status == 200);
  REQUIRE(client.request(verb::post, "/accounts/ada/deposit", R"({"amount":25})").status == 200);

  auto first = client.request(verb::get, "/statements/ada");
  REQUIRE(first.status == 200);
  CHECK_THAT(first.body, Contains(R"("account_id":"ada","format":"text")"));
  CHECK_THAT(first.body, Contains(R"("opening_balance":"100","closing_balance":"175")"));
  CHECK_THAT(first.body,
             Contains(R"("lines":[)"
                      R"({"sequence":"2","kind":"deposit","amount":"50","balance_after":"150",)"
                      R"("counterparty":""},)"
                      R"({"sequence":"3","kind":"deposit","amount":"25","balance_after":"175",)"
                      R"("counterparty":""}])"));
  CHECK_THAT(first.body, Contains(R"(Closing balance)") && Contains(R"(1.75\n)"));
  CHECK_THAT(first.body, Contains(R"("version":"1.0.0")"));

  // The statement answered is now the cache's; a deposit makes the cache forget it.
  REQUIRE(eventually([&] { return bank.cached("ada"); }));
  REQUIRE(client.request(verb::post, "/accounts/ada/deposit", R"({"amount":10})").status == 200);
  std::string next;
  CHECK(eventually([&] {
    auto answer = client.request(verb::get, "/statements/ada");
    next = answer.body;
    return answer.status == 200 && answer.body.find(R"("closing_balance":"185")") != next.npos;
  }));
  CHECK_THAT(next, Contains(R"({"sequence":"4","kind":"deposit","amount":"10",)"
                            R"("balance_after":"185",)"));

  auto unknown = client.request(verb::get, "/statements/nobody");
  CHECK(unknown.status == 404);
  CHECK_THAT(unknown.body, Contains(R"("error":"not_found")"));
  CHECK_THAT(unknown.body, Contains("no account nobody"));
}

TEST_CASE("acme's statements cache keeps only statements its own version of the module made",
          "[integration]") {
  bank_with_statements bank;
  http_client client{gateway_port(bank.config)};
  REQUIRE(client.request(verb::post, "/accounts", R"({"id":"ada","initial_balance":100})").status
          == 200);
  acme::statements::v1::StatementRequest ada;
  ada.set_account_id("ada");
  // Stores a statement of `version` with the ticket of a miss of ada's; answers whether the
  // cache kept it.
  auto store = [&](const acme::statements::v1::CachedStatement& miss, const std::string& version) {
    acme::statements::v1::StoreRequest req;
    req.set_ticket(miss.ticket());
    req.set_issuer(miss.issuer());
    req.mutable_statement()->set_account_id("ada");
    req.mutable_statement()->set_version(version);
    auto answer =
      bank.node.call<acme::statements::v1::StoreReply>("statements_cache", "Store", req);
    REQUIRE(answer);
    return answer->stored();
  };
  auto lookup = [&] {
    auto answer =
      bank.node.call<acme::statements::v1::CachedStatement>("statements_cache", "Lookup", ada);
    REQUIRE(answer);
    return *answer;
  };

  // With the ticket of one miss, another version's statement (as the old version's statements
  // service stores one into the new version's cache while a replace is under way) and then this
  // version's (1.0.0). Changes only ever outdate a ticket, so a ticket that keeps this version's
  // statement was current for the other one too: that one was refused for its version. (Tried
  // until the opening's change has reached the cache, which outdates earlier tickets.)
  bool other_version_kept = false;
  REQUIRE(eventually([&] {
    auto miss = lookup();
    REQUIRE_FALSE(miss.hit());
    other_version_kept = other_version_kept || store(miss, "2.0.0");
    return store(miss, "1.0.0");
  }));
  CHECK_FALSE(other_version_kept);
  auto cached = lookup();
  CHECK(cached.hit());
  CHECK(cached.statement().version() == "1.0.0");
}
