// The bank's transfer-fee scenario (the toggle bank.transfer_fee, examples/bank/README.md),
// written once and run against the bank through any client that can give one call the toggle on
// or off: the C++ API (a call's own toggle values) and HTTP (a header), in one process or split
// over nodes. Each sender sends its transfers with the toggle on, or off, for every call, while
// other senders run at the same time with the other value; each checks the fee, the balances and
// the ledger entries of its own accounts. What "fees" received is checked once all have finished
// (check_fees_received). The JSON readers below read the gateway's answers (fields in the
// contract's order, int64 as strings) without a JSON library, so that the cluster tests, which
// link no contract, read them too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <vector>

namespace bank_test {

/// One transfer's answer as the scenario reads it.
struct transfer_answer {
  /// Empty when the transfer succeeded; else what failed.
  std::string error;
  std::int64_t fee = 0;
  std::int64_t from_balance = 0;
  std::int64_t to_balance = 0;
  /// The kinds of the receipt's entries, in order.
  std::vector<std::string> kinds;
};

/// One ledger entry as the scenario reads it.
struct entry_seen {
  std::string kind;
  std::int64_t delta = 0;
  std::int64_t balance_after = 0;
  std::string counterparty;
};

/// How the scenario reaches the bank.
struct fee_client {
  /// Opens account `id` with `initial` cents; answers what failed (empty: opened).
  std::function<std::string(const std::string& id, std::int64_t initial)> open;
  /// Transfers `amount` cents with the toggle `on` for this call alone.
  std::function<transfer_answer(bool on, const std::string& from, const std::string& to,
                                std::int64_t amount)>
    transfer;
  /// The ledger's entries of `account`, in order.
  std::function<std::vector<entry_seen>(const std::string& account)> history;
};

/// The amount of a sender's `round`-th transfer (from 1): 150, 300, 450 ... cents, so that fees
/// of 1, 3, 4 ... cents are paid (1% rounded down, at least 1).
inline std::int64_t fee_round_amount(int round) {
  return 150 * static_cast<std::int64_t>(round);
}

/// What a sender with the toggle on pays in fees for `rounds` rounds.
inline std::int64_t fees_of_rounds(int rounds) {
  std::int64_t out = 0;
  for (int i = 1; i <= rounds; ++i)
    out += std::max<std::int64_t>(1, fee_round_amount(i) / 100);
  return out;
}

/// What the transfers of `rounds` rounds move.
inline std::int64_t amounts_of_rounds(int rounds) {
  std::int64_t out = 0;
  for (int i = 1; i <= rounds; ++i)
    out += fee_round_amount(i);
  return out;
}

/// One sender: opens `from` with `initial` cents and `to` empty, sends `rounds` transfers from
/// one to the other with the toggle `on` for each call, and checks each receipt (its fee, both
/// balances, its entries' kinds) and then both accounts' ledger entries. Answers what went wrong,
/// one line each (empty: nothing).
inline std::string run_fee_transfers(const fee_client& client, bool on, const std::string& from,
                                     const std::string& to, std::int64_t initial, int rounds) {
  std::string wrong;
  auto expect = [&wrong](bool ok, const std::string& what) {
    if (!ok)
      wrong += what + "\n";
    return ok;
  };
  const std::string who = from + (on ? " (toggle on)" : " (toggle off)");
  if (auto failed = client.open(from, initial); !expect(failed.empty(), failed))
    return wrong;
  if (auto failed = client.open(to, 0); !expect(failed.empty(), failed))
    return wrong;
  std::int64_t sender = initial;
  std::int64_t receiver = 0;
  for (int i = 1; i <= rounds; ++i) {
    const auto amount = fee_round_amount(i);
    const std::int64_t fee = on ? std::max<std::int64_t>(1, amount / 100) : 0;
    auto answer = client.transfer(on, from, to, amount);
    const auto what = who + ", transfer " + std::to_string(i) + " of " + std::to_string(amount);
    if (!expect(answer.error.empty(), what + " failed: " + answer.error))
      return wrong;
    sender -= amount + fee;
    receiver += amount;
    expect(answer.fee == fee,
           what + ": fee " + std::to_string(answer.fee) + ", expected " + std::to_string(fee));
    expect(answer.from_balance == sender, what + ": sender's balance "
                                            + std::to_string(answer.from_balance) + ", expected "
                                            + std::to_string(sender));
    expect(answer.to_balance == receiver, what + ": receiver's balance "
                                            + std::to_string(answer.to_balance) + ", expected "
                                            + std::to_string(receiver));
    // With the fee, "open" (of fees) comes before fee_in in the one transfer that opened it.
    using kinds = std::vector<std::string>;
    const bool kinds_ok =
      on ? answer.kinds == kinds{"transfer_out", "transfer_in", "fee_out", "fee_in"}
             || answer.kinds == kinds{"transfer_out", "transfer_in", "fee_out", "open", "fee_in"}
         : answer.kinds == kinds{"transfer_out", "transfer_in"};
    std::string listed;
    for (const auto& k : answer.kinds)
      listed += " " + k;
    expect(kinds_ok, what + ": the receipt's entries are" + listed);
  }
  // The ledger: the sender's opening, then each transfer's debit and (on) its fee, in order.
  auto entries = client.history(from);
  if (!expect(entries.size() == 1 + static_cast<std::size_t>(rounds) * (on ? 2 : 1),
              who + ": " + std::to_string(entries.size()) + " ledger entries"))
    return wrong;
  std::size_t at = 1;
  std::int64_t running = initial;
  for (int i = 1; i <= rounds; ++i) {
    const auto amount = fee_round_amount(i);
    const auto& debit = entries[at++];
    running -= amount;
    expect(debit.kind == "transfer_out" && debit.delta == -amount && debit.balance_after == running
             && debit.counterparty == to,
           who + ": ledger entry " + std::to_string(at - 1) + " is " + debit.kind + " of "
             + std::to_string(debit.delta));
    if (on) {
      const std::int64_t fee = std::max<std::int64_t>(1, amount / 100);
      const auto& paid = entries[at++];
      running -= fee;
      expect(paid.kind == "fee_out" && paid.delta == -fee && paid.balance_after == running
               && paid.counterparty == "fees",
             who + ": ledger entry " + std::to_string(at - 1) + " is " + paid.kind + " of "
               + std::to_string(paid.delta) + ", expected fee_out of " + std::to_string(-fee));
    }
  }
  auto received = client.history(to);
  expect(received.size() == 1 + static_cast<std::size_t>(rounds)
           && received.back().balance_after == amounts_of_rounds(rounds),
         who + ": the receiver " + to + " has " + std::to_string(received.size())
           + " ledger entries");
  for (std::size_t i = 1; i < received.size(); ++i)
    expect(received[i].kind == "transfer_in", who + ": the receiver has a " + received[i].kind);
  return wrong;
}

/// Checks the fee_in entries of "fees" against the senders that ran (sender -> whether its
/// toggle was on), each for `rounds` rounds: each sender with the toggle on paid
/// fees_of_rounds(rounds), each with it off nothing; `fees` is every entry of "fees". Answers
/// what went wrong (empty: nothing).
inline std::string check_fees_received(const std::vector<entry_seen>& fees,
                                       const std::map<std::string, bool>& senders, int rounds) {
  std::map<std::string, std::int64_t> paid;
  std::int64_t running = 0;
  int opens = 0;
  std::string wrong;
  for (const auto& e : fees) {
    if (e.kind == "open")
      ++opens;
    else if (e.kind == "fee_in")
      paid[e.counterparty] += e.delta;
    running += e.delta;
    if (e.balance_after != running)
      wrong += "fees: an entry says balance_after " + std::to_string(e.balance_after)
               + ", the entries before it add up to " + std::to_string(running) + "\n";
  }
  if (opens != 1)
    wrong += "fees was opened " + std::to_string(opens) + " times\n";
  for (const auto& [sender, on] : senders) {
    const auto expected = on ? fees_of_rounds(rounds) : 0;
    if (paid[sender] != expected)
      wrong += "fees received " + std::to_string(paid[sender]) + " from " + sender + ", expected "
               + std::to_string(expected) + "\n";
  }
  return wrong;
}

/// The int64 that the gateway's JSON `text` holds (as a string) right after `key` (say
/// "\"fee\":"), searching from `from`; 0 when there is none.
inline std::int64_t json_int_after(const std::string& text, const std::string& key,
                                   std::size_t from = 0) {
  auto at = text.find(key, from);
  if (at == std::string::npos)
    return 0;
  at += key.size();
  if (at < text.size() && text[at] == '"')
    ++at;
  return std::stoll(text.substr(at, 24));
}

/// A transfer receipt as the gateway answers it in JSON (a 200's body), or the status and body
/// as the error.
inline transfer_answer receipt_from_json(unsigned status, const std::string& body) {
  transfer_answer out;
  if (status != 200) {
    out.error = std::to_string(status) + " " + body;
    return out;
  }
  out.from_balance = json_int_after(body, "\"balance\":", body.find("\"from\":"));
  out.to_balance = json_int_after(body, "\"balance\":", body.find("\"to\":"));
  out.fee = json_int_after(body, "\"fee\":");
  static const std::regex kind{"\"kind\":\"([a-z_]+)\""};
  for (auto it = std::sregex_iterator(body.begin(), body.end(), kind); it != std::sregex_iterator();
       ++it)
    out.kinds.push_back((*it)[1]);
  return out;
}

/// The entries of a ledger History answered by the gateway in JSON.
inline std::vector<entry_seen> entries_from_json(const std::string& body) {
  static const std::regex entry{"\"delta\":\"(-?[0-9]+)\",\"balance_after\":\"(-?[0-9]+)\","
                                "\"kind\":\"([a-z_]+)\",\"correlation_id\":\"[^\"]*\","
                                "\"counterparty\":\"([^\"]*)\""};
  std::vector<entry_seen> out;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), entry);
       it != std::sregex_iterator(); ++it)
    out.push_back(entry_seen{(*it)[3], std::stoll((*it)[1]), std::stoll((*it)[2]), (*it)[4]});
  return out;
}

} // namespace bank_test
