// The bank example's accounts service: opens accounts, moves money in cents, and answers
// balances. Every change is recorded by the ledger service before it is confirmed to the caller:
// a handler reserves what it changes at once, asks the ledger to append the entries, and answers
// when the ledger has answered — or undoes the reservation and answers the ledger's error. Money
// being debited is held from the moment the request is accepted, so concurrent withdrawals and
// transfers can never overdraw an account; money being credited becomes spendable only once the
// ledger has recorded it.
//
// The ledger is the source of truth and where an instance's balances come from: a new instance
// (first start or restart) rebuilds them from the ledger's history before it is registered, so a
// crash loses no recorded money; an account whose last change has an unknown outcome refuses
// requests until it is reconciled with the ledger. Mutating requests with an idempotency key
// (the gateway's Idempotency-Key header) are applied at most once: a repeat answers the first
// outcome. A deposit with the memo "poison" crashes the instance on purpose (the example's crash
// trigger).
//
// With the toggle bank.transfer_fee on (declared by the bank.accounts module, off by default), a
// transfer also moves a fee of 1% of its amount, rounded down, at least 1, from the sender to the
// account "fees", which accounts opens with balance 0 when it first needs it; the fee's entries
// are recorded in the same Append as the transfer's. A transfer out of "fees" pays no fee.
//
// Every confirmed change is published to the topic "balances" as the bank.Account it left
// (a transfer publishes both accounts, and "fees" when it paid a fee), so a gateway's WebSocket
// clients can watch balances.
#pragma once

#include <microlith/actors/service.hpp>

#include <algorithm>
#include <cstdint>

namespace bank {

/// The name callers use to reach the accounts service.
inline constexpr const char* accounts_service = "accounts";

/// The topic where every confirmed change publishes the account it changed (bank.Account).
inline constexpr const char* balances_topic = "balances";

/// The Protobuf service the accounts service implements.
inline constexpr const char* accounts_contract = "bank.Accounts";

/// The toggle that puts a fee on transfers; the accounts service checks it once per transfer.
inline constexpr const char* transfer_fee_toggle = "bank.transfer_fee";

/// The account that transfer fees are paid to. accounts opens it (balance 0) in the Append of the
/// first transfer that pays a fee while it does not exist; a client may also open it.
inline constexpr const char* fees_account = "fees";

/// The fee of a transfer of `amount` cents (positive) while bank.transfer_fee is on: 1%, rounded
/// down, at least 1 cent.
constexpr std::int64_t transfer_fee(std::int64_t amount) noexcept {
  return std::max<std::int64_t>(1, amount / 100);
}

/// The accounts service's definition (service "accounts", contract bank.Accounts), ready to
/// spawn or supervise. It needs the ledger service (bank::make_ledger) to record changes and to
/// start: an instance rebuilds its balances from the ledger's history (following the ledger, with
/// a warning, where its entries do not add up), and its start fails when the ledger cannot answer.
/// It checks the toggle bank.transfer_fee (checks_toggles): an instance does not start on a node
/// where it is not declared (the bank.accounts module declares it).
microlith::service_definition make_accounts();

} // namespace bank
