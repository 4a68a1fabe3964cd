// The transfer-fee scenario's client over HTTP (transfer_fee_scenario.hpp): the bank's gateway on
// 127.0.0.1, each transfer carrying the per-call override `X-Microlith-Toggles:
// bank.transfer_fee=on` (or `=off`), which the gateway honours while the node honours overrides
// (`[toggles] test_overrides = true`). One keep-alive connection per client: a client is used by
// one sender's thread. A failure is answered as the scenario's error, never thrown.
#pragma once

#include "http_client.hpp"
#include "transfer_fee_scenario.hpp"

#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bank_test {

/// The header that gives one request bank.transfer_fee `on` or off.
inline std::pair<std::string, std::string> fee_override_header(bool on) {
  return {"X-Microlith-Toggles", on ? "bank.transfer_fee=on" : "bank.transfer_fee=off"};
}

/// The scenario's client over HTTP to the gateway on 127.0.0.1:port.
inline fee_client http_fee_client(std::uint16_t port) {
  namespace http = boost::beast::http;
  struct connection {
    std::uint16_t port;
    std::unique_ptr<http_client> client;

    /// One request, connecting first when there is no connection (at first, after a failure).
    /// Throws what it failed with.
    http_answer request(http::verb verb, const std::string& target, const std::string& json,
                        const std::vector<std::pair<std::string, std::string>>& headers) {
      if (!client)
        client = std::make_unique<http_client>(port);
      return client->request(verb, target, json, headers);
    }
  };
  auto conn = std::make_shared<connection>(connection{port, nullptr});
  fee_client c;
  c.open = [conn](const std::string& id, std::int64_t initial) {
    try {
      auto answer = conn->request(
        http::verb::post, "/accounts",
        R"({"id":")" + id + R"(","initial_balance":)" + std::to_string(initial) + "}", {});
      return answer.status == 200
               ? std::string{}
               : "opening " + id + ": " + std::to_string(answer.status) + " " + answer.body;
    } catch (const std::exception& e) {
      conn->client.reset();
      return "opening " + id + ": " + e.what();
    }
  };
  c.transfer = [conn](bool on, const std::string& from, const std::string& to,
                      std::int64_t amount) {
    try {
      auto answer = conn->request(http::verb::post, "/transfers",
                                  R"({"from":")" + from + R"(","to":")" + to + R"(","amount":)"
                                    + std::to_string(amount) + "}",
                                  {fee_override_header(on)});
      return receipt_from_json(answer.status, answer.body);
    } catch (const std::exception& e) {
      conn->client.reset();
      transfer_answer failed;
      failed.error = e.what();
      return failed;
    }
  };
  c.history = [conn](const std::string& account) {
    try {
      auto answer = conn->request(http::verb::get, "/accounts/" + account + "/history", {}, {});
      return answer.status == 200 ? entries_from_json(answer.body) : std::vector<entry_seen>{};
    } catch (const std::exception&) {
      conn->client.reset();
      return std::vector<entry_seen>{};
    }
  };
  return c;
}

} // namespace bank_test
