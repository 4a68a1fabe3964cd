// The bank, started from examples/bank/bank.toml in this process for one test (its ledger on a
// SQLite file in a temp folder), with blocking helpers for its calls. Shared by the integration
// tests.
#pragma once

#include "proto/bank.pb.h"
#include "support/free_port.hpp"
#include "support/temp_folder.hpp"

#include <microlith/actors/error.hpp>
#include <microlith/actors/node.hpp>
#include <microlith/actors/registry.hpp>
#include <microlith/services/gateway_module.hpp>
#include <microlith/services/host.hpp>
#include <microlith/services/module.hpp>
#include <microlith/services/system_file.hpp>

#include <caf/all.hpp>

#include <catch2/catch.hpp>

#include <any>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace bank_test {

/// The bank's system file in the source tree.
inline std::string bank_file() {
  return std::string{MICROLITH_SOURCE_DIR} + "/examples/bank/bank.toml";
}

using test_support::free_port;

using test_support::temp_folder;

/// The bank's system file, its gateway moved to a free port and, when `ledger_db` is given, the
/// ledger's record in that SQLite file (so a restarted ledger has it) and the folder of that
/// file as the data folder (where the job store, jobs.sqlite, is kept).
inline microlith::system_config load_bank(const std::filesystem::path& ledger_db = {}) {
  auto config = microlith::load_system_file(bank_file(), microlith::module_catalogue::global(),
                                            ledger_db.empty() ? std::string{}
                                                              : ledger_db.parent_path().string());
  for (auto& g : config.groups) {
    if (auto* web = std::any_cast<microlith::gateway_settings>(&g.settings))
      web->options.port = free_port();
    if (g.name == "ledger" && !ledger_db.empty())
      g.config["database"] = ledger_db.string();
  }
  return config;
}

/// The port of the bank's gateway in `config`.
inline std::uint16_t gateway_port(const microlith::system_config& config) {
  for (const auto& g : config.groups)
    if (const auto* web = std::any_cast<microlith::gateway_settings>(&g.settings))
      return web->options.port;
  FAIL("the bank has no gateway group");
  return 0;
}

/// The admin token of a bank that serves the admin endpoint (serve_admin).
inline const std::string admin_token = "bank-test-admin-token-0123456789";

/// Makes the bank's gateway serve the admin endpoint (admin = true, the toggles under
/// /_microlith/toggles among it), behind admin_token.
inline void serve_admin(microlith::system_config& config) {
  config.admin.token = admin_token;
  for (auto& g : config.groups)
    if (auto* web = std::any_cast<microlith::gateway_settings>(&g.settings))
      web->admin = true;
}

/// The whole bank in one process, its ledger on a SQLite file in a temp folder: started on
/// construction, stopped on destruction.
struct bank_system {
  temp_folder folder;
  microlith::system_config config = load_bank(folder.path() / "ledger.db");
  microlith::node node{microlith::node_options_for(config)};
  microlith::host host{node, config};

  bank_system() { start(); }

  /// The bank with `adjust` applied to its system file's settings first.
  template <class Adjust>
  explicit bank_system(Adjust adjust)
    : config(adjusted(load_bank(folder.path() / "ledger.db"), adjust)) {
    start();
  }

  ~bank_system() {
    host.stop();
    node.shutdown();
  }

  /// Starts the host; fails the test when it does not start.
  void start() {
    auto err = host.start();
    REQUIRE_FALSE(err);
  }

  /// `config` once `adjust` changed it.
  template <class Adjust>
  static microlith::system_config adjusted(microlith::system_config config, Adjust adjust) {
    adjust(config);
    return config;
  }

  caf::expected<bank::Account> open(const std::string& id, std::int64_t initial) {
    bank::OpenRequest req;
    req.set_id(id);
    req.set_initial_balance(initial);
    return node.call<bank::Account>("accounts", "Open", req);
  }

  caf::expected<bank::Account> deposit(const std::string& id, std::int64_t amount,
                                       const std::string& memo = {}) {
    bank::DepositRequest req;
    req.set_account_id(id);
    req.set_amount(amount);
    req.set_memo(memo);
    return node.call<bank::Account>("accounts", "Deposit", req);
  }

  caf::expected<bank::TransferReceipt> transfer(const std::string& from, const std::string& to,
                                                std::int64_t amount,
                                                microlith::blocking_call_options opts = {}) {
    bank::TransferRequest req;
    req.set_from(from);
    req.set_to(to);
    req.set_amount(amount);
    return node.call<bank::TransferReceipt>("accounts", "Transfer", req, std::move(opts));
  }

  caf::expected<bank::Account>
  balance_of(const std::string& id, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    bank::BalanceRequest req;
    req.set_account_id(id);
    microlith::blocking_call_options opts;
    opts.timeout = timeout;
    return node.call<bank::Account>("accounts", "Balance", req, std::move(opts));
  }

  /// The balance of `id`; fails the test when it cannot be read.
  std::int64_t balance(const std::string& id) {
    auto account = balance_of(id);
    REQUIRE(account);
    return account->balance();
  }

  /// Waits up to 5 s until accounts answers the balance of `id` (an account in doubt refuses
  /// until it is reconciled with the ledger); answers it, or -1 when it never did.
  std::int64_t settled_balance(const std::string& id) {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (;;) {
      auto account = balance_of(id);
      if (account)
        return account->balance();
      if (std::chrono::steady_clock::now() > until)
        return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  /// The ledger's history of `account_id` (all of it when empty); fails the test on error.
  bank::HistoryReply history(const std::string& account_id = {}) {
    bank::HistoryRequest req;
    req.set_account_id(account_id);
    auto reply = node.call<bank::HistoryReply>("ledger", "History", req);
    if (!reply)
      FAIL("History failed: " << microlith::describe(reply.error()));
    return *reply;
  }

  /// The registered instance of `service` (null while there is none).
  caf::actor instance_of(const std::string& service) {
    auto xs = node.registry().snapshot()->instances(service);
    return xs.empty() ? caf::actor{} : xs.front();
  }
};

} // namespace bank_test
