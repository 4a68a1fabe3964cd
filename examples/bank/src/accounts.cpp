// The accounts service's state and handlers (see accounts.hpp). Each account keeps three sums:
// the balance the ledger has recorded, the debits sent to the ledger but not yet recorded
// (held), and the credits sent but not yet recorded (incoming). A debit is accepted only if the
// recorded balance minus what is held covers it, so the recorded balance can never go negative
// whatever order the ledger's answers come in; undoing a failed change only releases what it
// held or expected. The balance written into each ledger entry is the account's balance once
// every change sent before it is recorded too, which is the ledger's running balance when the
// ledger receives the appends in the order they were sent — and the ledger refuses (aborted) an
// entry that does not continue its record, so accounts never records from a state the ledger
// does not have.
//
// The ledger is the source of truth. An Append whose outcome is unknown (its ledger died, its
// deadline passed) or that the ledger refused as not continuing its record puts the accounts it
// touches in doubt: they refuse every request (service_unavailable, "retry") until no append on
// them is in flight and the ledger's history of each has been read back (reconciled). A
// request with an Idempotency-Key is answered by the first outcome recorded with that key.
//
// With the toggle bank.transfer_fee on, a transfer's Append also holds its fee's entries (fee_out
// on the sender, fee_in on "fees", before it the opening of "fees" when it did not exist): the
// fee is held with the amount and recorded with it, or neither is.
//
// Balances live in the instance's state, so a new instance (a first start or a restart after a
// crash) rebuilds them before it serves anything: its constructor defers the start, asks the
// ledger for its whole history and replays every entry, following the ledger where it disagrees
// with the replay (each such entry is logged); only a ledger that cannot answer fails the start.
#include "accounts.hpp"

#include "fingerprint.hpp"
#include "ledger.hpp"

#include "proto/bank.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/actors/log.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace bank {

namespace {

constexpr std::int64_t max_cents = std::numeric_limits<std::int64_t>::max();

/// The memo that makes a deposit crash its handler: the example's deliberate crash trigger, a
/// stand-in for a bug that crashes on some input (see DepositRequest.memo in bank.proto).
constexpr std::string_view poison_memo = "poison";

/// The account that transfer fees are paid to (bank::fees_account), as a string to compare with.
const std::string fees_id{fees_account};

/// The sign a ledger entry's delta has for each kind, as the ledger enforces it.
enum class delta_sign { positive, negative, non_negative };

/// The sign `kind`'s delta must have; false when accounts does not know the kind.
bool sign_of(const std::string& kind, delta_sign& out) {
  if (kind == "open")
    out = delta_sign::non_negative;
  else if (kind == "deposit" || kind == "transfer_in" || kind == "fee_in")
    out = delta_sign::positive;
  else if (kind == "withdraw" || kind == "transfer_out" || kind == "fee_out")
    out = delta_sign::negative;
  else
    return false;
  return true;
}

/// Whether entries of `kind` are recorded alone, for one account, by one request (open, deposit,
/// withdraw). A transfer's entries (transfer_out, transfer_in, fee_out, an open of "fees",
/// fee_in) touch several accounts: one account's history holds only some of them.
bool single_account_kind(const std::string& kind) {
  return kind == "open" || kind == "deposit" || kind == "withdraw";
}

/// Whether `delta` has the sign `sign`.
bool has_sign(std::int64_t delta, delta_sign sign) {
  switch (sign) {
    case delta_sign::positive: return delta > 0;
    case delta_sign::negative: return delta < 0;
    case delta_sign::non_negative: return delta >= 0;
  }
  return false;
}

/// One account's sums, in cents, and where it stands with the ledger.
struct account {
  /// What the ledger has recorded.
  std::int64_t balance = 0;
  /// Debits sent to the ledger and not yet recorded.
  std::int64_t held = 0;
  /// Credits sent to the ledger and not yet recorded.
  std::int64_t incoming = 0;
  /// False until the ledger has recorded the opening.
  bool open = false;
  /// Appends in flight that touch this account.
  int pending = 0;
  /// An append's outcome is unknown, or the ledger refused one as not continuing its record:
  /// the account serves nothing until it is reconciled with the ledger.
  bool in_doubt = false;
  /// A reconciliation (the ledger's History of the account) is in flight.
  bool reconciling = false;

  /// What may be debited now.
  std::int64_t available() const noexcept { return balance - held; }

  /// The balance once every change sent so far is recorded.
  std::int64_t projected() const noexcept { return balance - held + incoming; }
};

/// An Account message.
Account make_account(const std::string& id, std::int64_t balance) {
  Account out;
  out.set_id(id);
  out.set_balance(balance);
  return out;
}

/// A ledger entry for the ledger to number and stamp.
Entry make_entry(const std::string& account_id, std::int64_t delta, std::int64_t balance_after,
                 const char* kind, const std::string& counterparty = {}) {
  Entry out;
  out.set_account_id(account_id);
  out.set_delta(delta);
  out.set_balance_after(balance_after);
  out.set_kind(kind);
  out.set_counterparty(counterparty);
  return out;
}

/// The answer a request gave, rebuilt from the ledger entries it recorded: the account of its
/// entry (Open, Deposit, Withdraw) or the receipt of its entries (Transfer: two, and those of its
/// fee). It equals the first answer, which was built from the same recorded entries.
template <class Resp>
Resp outcome_of(const std::vector<Entry>& entries);

template <>
Account outcome_of<Account>(const std::vector<Entry>& entries) {
  return make_account(entries.front().account_id(), entries.front().balance_after());
}

/// The balance of account `id` after the last of `entries` that is its (they are in order).
std::int64_t last_balance_of(const std::vector<Entry>& entries, const std::string& id) {
  std::int64_t out = 0;
  for (const auto& entry : entries)
    if (entry.account_id() == id)
      out = entry.balance_after();
  return out;
}

/// A transfer's receipt from its entries: transfer_out first (the sender), then transfer_in (the
/// receiver), then the fee's (fee_out, an open of "fees", fee_in) when it paid one. Each account
/// is answered with its balance after the last of its entries, so the sender's includes the fee.
template <>
TransferReceipt outcome_of<TransferReceipt>(const std::vector<Entry>& entries) {
  TransferReceipt receipt;
  const auto& from = entries.front().account_id();
  *receipt.mutable_from() = make_account(from, last_balance_of(entries, from));
  std::int64_t fee = 0;
  for (const auto& entry : entries) {
    if (entry.kind() == "transfer_in")
      *receipt.mutable_to() =
        make_account(entry.account_id(), last_balance_of(entries, entry.account_id()));
    else if (entry.kind() == "fee_out")
      fee -= entry.delta();
    *receipt.add_entries() = entry;
  }
  receipt.set_ledger_sequence(entries.front().sequence());
  receipt.set_fee(fee);
  return receipt;
}

/// How an Append that failed with `err` left the ledger.
enum class append_failure {
  /// Refused or never sent: nothing was recorded.
  refused,
  /// Refused because it does not continue the ledger's record (aborted): nothing was recorded,
  /// and accounts' view of the account differs from the ledger's.
  stale,
  /// Unknown: the ledger may have recorded it (its instance died, the deadline passed, ...).
  in_doubt,
};

/// Classifies the error of a failed Append. Errors that say the ledger decided (a refusal) or
/// that the call never reached it (service_unavailable) are `refused`; everything else —
/// service_down, timeout, a ledger that threw, errors of other categories — is `in_doubt`.
append_failure classify(const caf::error& err) {
  using microlith::errc;
  switch (microlith::code_of(err)) {
    case errc::aborted: return append_failure::stale;
    case errc::service_unavailable:
    case errc::bad_request:
    case errc::no_such_method:
    case errc::invalid_argument:
    case errc::failed_precondition:
    case errc::out_of_range:
    case errc::not_found:
    case errc::already_exists:
    case errc::permission_denied:
    case errc::unauthenticated:
    case errc::resource_exhausted:
    case errc::unimplemented:
    case errc::idempotency_key_reused: return append_failure::refused;
    default: return append_failure::in_doubt;
  }
}

/// The ledger's error `err` with what was not recorded in front of its message (same code).
caf::error not_recorded(const caf::error& err, const std::string& what) {
  auto code = microlith::code_of(err);
  if (code == microlith::errc::none)
    return err;
  return microlith::make_error(
    code, fmt::format("{} was not recorded by the ledger: {}", what, microlith::message_of(err)));
}

/// The ledger's error `err` when asked for its history at start (same code, context added).
caf::error history_failed(const caf::error& err) {
  auto code = microlith::code_of(err);
  return microlith::make_error(
    code == microlith::errc::none ? microlith::errc::service_unavailable : code,
    fmt::format("accounts cannot rebuild its balances: the ledger's History failed: {}",
                microlith::describe(err)));
}

/// The idempotency of one mutating request: its Idempotency-Key (empty: none) and the
/// fingerprint of the request (method and body) the key stands for.
struct request_key {
  std::string key;
  std::string fingerprint;
};

/// A key recorded in the ledger: the fingerprint of its request and the entries it recorded.
struct known_key {
  std::string fingerprint;
  std::vector<Entry> entries;
};

/// The state of one accounts instance.
class accounts_state {
public:
  /// Defers the instance's start until its balances are rebuilt from the ledger's whole
  /// history; fails the start only when the ledger cannot answer (an inconsistent history is
  /// followed, with a warning per entry at fault).
  explicit accounts_state(microlith::call_context& ctx) : base_(ctx) {
    auto gate = ctx.defer_start();
    ctx.call<HistoryReply>(ledger_service, "History", HistoryRequest{})
      .then(
        [this, gate, name = ctx.name()](const HistoryReply& history) mutable {
          auto warnings = replay(history, name);
          microlith::log::info(name, "rebuilt {} account(s) from {} ledger entries{}",
                               accounts_.size(), history.entries_size(),
                               warnings == 0 ? std::string{}
                                             : fmt::format(" ({} inconsistent entries followed "
                                                           "as the ledger recorded them)",
                                                           warnings));
          gate.open();
        },
        [gate](const caf::error& err) mutable { gate.fail(history_failed(err)); });
  }

  /// Opens account `req.id` with `req.initial_balance` cents.
  microlith::reply<Account> open(microlith::call_context& ctx, const OpenRequest& req) {
    request_key rk;
    if (auto early = admit<Account>(ctx, "bank.Accounts/Open", req, {&req.id()}, rk))
      return std::move(*early);
    if (req.id().empty())
      return refuse<Account>(
        ctx, rk,
        microlith::fail(microlith::errc::invalid_argument, "an account id must not be empty"));
    if (req.initial_balance() < 0)
      return refuse<Account>(
        ctx, rk,
        microlith::fail(microlith::errc::invalid_argument,
                        fmt::format("account {}: the initial balance must not be negative, got {}",
                                    req.id(), req.initial_balance())));
    auto [it, inserted] = accounts_.try_emplace(req.id());
    if (!inserted)
      return refuse<Account>(ctx, rk,
                             microlith::fail(microlith::errc::already_exists,
                                             fmt::format("account {} already exists", req.id())));
    it->second.incoming = req.initial_balance();
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.id(), req.initial_balance(), req.initial_balance(), "open");
    return record<Account>(
      ctx, std::move(append), std::move(rk), {req.id()},
      fmt::format("the opening of account {}", req.id()),
      [this, id = req.id(), amount = req.initial_balance()](const std::vector<Entry>& entries) {
        auto& acct = accounts_.at(id);
        acct.incoming -= amount;
        acct.balance += amount;
        acct.open = true;
        return outcome_of<Account>(entries);
      },
      [this, id = req.id(), amount = req.initial_balance()] {
        // A failed opening leaves no account behind, unless the account must be reconciled
        // (then the ledger says whether it exists).
        auto& acct = accounts_.at(id);
        acct.incoming -= amount;
        if (!acct.in_doubt && acct.pending == 0)
          accounts_.erase(id);
      });
  }

  /// Adds `req.amount` cents to an open account. A deposit whose memo is "poison" throws before
  /// anything changes: the example's deliberate crash, after which its supervisor restarts it.
  microlith::reply<Account> deposit(microlith::call_context& ctx, const DepositRequest& req) {
    if (req.memo() == poison_memo)
      throw std::runtime_error(fmt::format("poisoned deposit: {} cents to account {} carry the "
                                           "memo \"{}\", the bank example's crash trigger",
                                           req.amount(), req.account_id(), poison_memo));
    request_key rk;
    if (auto early = admit<Account>(ctx, "bank.Accounts/Deposit", req, {&req.account_id()}, rk))
      return std::move(*early);
    if (req.amount() <= 0)
      return refuse<Account>(
        ctx, rk,
        microlith::fail(microlith::errc::invalid_argument,
                        fmt::format("a deposit must be a positive amount, got {}", req.amount())));
    auto* acct = find_open(req.account_id());
    if (acct == nullptr)
      return refuse<Account>(ctx, rk, no_account(req.account_id()));
    if (acct->projected() > max_cents - req.amount())
      return refuse<Account>(
        ctx, rk,
        microlith::fail(microlith::errc::out_of_range,
                        fmt::format("account {}: a deposit of {} would overflow its balance",
                                    req.account_id(), req.amount())));
    acct->incoming += req.amount();
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.account_id(), req.amount(), acct->projected(), "deposit");
    return record<Account>(
      ctx, std::move(append), std::move(rk), {req.account_id()},
      fmt::format("a deposit of {} to account {}", req.amount(), req.account_id()),
      [this, id = req.account_id(), amount = req.amount()](const std::vector<Entry>& entries) {
        auto& acct = accounts_.at(id);
        acct.incoming -= amount;
        acct.balance += amount;
        return outcome_of<Account>(entries);
      },
      [this, id = req.account_id(), amount = req.amount()] {
        accounts_.at(id).incoming -= amount;
      });
  }

  /// Takes `req.amount` cents from an open account that has them.
  microlith::reply<Account> withdraw(microlith::call_context& ctx, const WithdrawRequest& req) {
    request_key rk;
    if (auto early = admit<Account>(ctx, "bank.Accounts/Withdraw", req, {&req.account_id()}, rk))
      return std::move(*early);
    if (req.amount() <= 0)
      return refuse<Account>(
        ctx, rk,
        microlith::fail(
          microlith::errc::invalid_argument,
          fmt::format("a withdrawal must be a positive amount, got {}", req.amount())));
    auto* acct = find_open(req.account_id());
    if (acct == nullptr)
      return refuse<Account>(ctx, rk, no_account(req.account_id()));
    if (acct->available() < req.amount())
      return refuse<Account>(ctx, rk, insufficient(req.account_id(), *acct, req.amount()));
    acct->held += req.amount();
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.account_id(), -req.amount(), acct->projected(), "withdraw");
    return record<Account>(
      ctx, std::move(append), std::move(rk), {req.account_id()},
      fmt::format("a withdrawal of {} from account {}", req.amount(), req.account_id()),
      [this, id = req.account_id(), amount = req.amount()](const std::vector<Entry>& entries) {
        auto& acct = accounts_.at(id);
        acct.held -= amount;
        acct.balance -= amount;
        return outcome_of<Account>(entries);
      },
      [this, id = req.account_id(), amount = req.amount()] { accounts_.at(id).held -= amount; });
  }

  /// Moves `req.amount` cents from `req.from` to `req.to`, recorded as two ledger entries. With
  /// the toggle bank.transfer_fee on (read once, here), the sender also pays a fee
  /// (transfer_fee(amount)) to the account "fees", recorded in the same Append — fee_out on the
  /// sender, the opening of "fees" when it does not exist yet, fee_in on "fees" — so the ledger
  /// never has a transfer without its fee or the reverse. A transfer out of "fees" pays no fee.
  microlith::reply<TransferReceipt> transfer(microlith::call_context& ctx,
                                             const TransferRequest& req) {
    // Read once: the validation, the entries and the receipt all follow this answer.
    const bool fee_on = ctx.enabled(transfer_fee_toggle);
    request_key rk;
    if (auto early =
          admit<TransferReceipt>(ctx, "bank.Accounts/Transfer", req, {&req.from(), &req.to()}, rk))
      return std::move(*early);
    const bool charged = fee_on && req.from() != fees_id;
    if (charged)
      if (auto busy = reconciling(fees_id)) // its next balance is not known until reconciled
        return busy;
    if (req.amount() <= 0)
      return refuse<TransferReceipt>(
        ctx, rk,
        microlith::fail(microlith::errc::invalid_argument,
                        fmt::format("a transfer must be a positive amount, got {}", req.amount())));
    if (req.from() == req.to())
      return refuse<TransferReceipt>(
        ctx, rk,
        microlith::fail(microlith::errc::invalid_argument,
                        fmt::format("cannot transfer from account {} to itself", req.from())));
    auto* from = find_open(req.from());
    if (from == nullptr)
      return refuse<TransferReceipt>(ctx, rk, no_account(req.from()));
    auto* to = find_open(req.to());
    if (to == nullptr)
      return refuse<TransferReceipt>(ctx, rk, no_account(req.to()));
    const std::int64_t amount = req.amount();
    const std::int64_t fee = charged ? transfer_fee(amount) : 0;
    std::int64_t debit = 0;
    if (__builtin_add_overflow(amount, fee, &debit) || from->available() < debit)
      return refuse<TransferReceipt>(ctx, rk, insufficient(req.from(), *from, amount, fee));
    // The receiver gets the fee too when it is "fees" (no overflow: credit <= debit).
    const bool fee_to_receiver = fee > 0 && req.to() == fees_id;
    const std::int64_t credit = fee_to_receiver ? debit : amount;
    if (to->projected() > max_cents - credit)
      return refuse<TransferReceipt>(
        ctx, rk,
        microlith::fail(microlith::errc::out_of_range,
                        fmt::format("account {}: a transfer of {} would overflow its balance",
                                    req.to(), credit)));
    bool opens_fees = false;
    if (fee > 0 && !fee_to_receiver) {
      auto it = accounts_.find(fees_id);
      opens_fees = it == accounts_.end();
      if (!opens_fees && it->second.projected() > max_cents - fee)
        return refuse<TransferReceipt>(
          ctx, rk,
          microlith::fail(
            microlith::errc::out_of_range,
            fmt::format("account {}: a fee of {} would overflow its balance", fees_id, fee)));
    }
    from->held += amount;
    to->incoming += amount;
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.from(), -amount, from->projected(), "transfer_out", req.to());
    *append.add_entries() =
      make_entry(req.to(), amount, to->projected(), "transfer_in", req.from());
    std::vector<std::string> ids{req.from(), req.to()};
    if (fee > 0) {
      from->held += fee;
      *append.add_entries() = make_entry(req.from(), -fee, from->projected(), "fee_out", fees_id);
      // Opened in this Append when it does not exist: its open entry comes before its fee_in, and
      // it serves only once the ledger has recorded both. A transfer handled while that Append is
      // in flight chains its fee_in on it (appends reach the ledger in the order they were sent).
      auto& payee = accounts_[fees_id];
      if (opens_fees)
        *append.add_entries() = make_entry(fees_id, 0, 0, "open");
      payee.incoming += fee;
      *append.add_entries() = make_entry(fees_id, fee, payee.projected(), "fee_in", req.from());
      if (!fee_to_receiver)
        ids.push_back(fees_id);
    }
    return record<TransferReceipt>(
      ctx, std::move(append), std::move(rk), std::move(ids),
      fee > 0 ? fmt::format("a transfer of {} from account {} to account {} with its fee of {}",
                            amount, req.from(), req.to(), fee)
              : fmt::format("a transfer of {} from account {} to account {}", amount, req.from(),
                            req.to()),
      [this, from_id = req.from(), to_id = req.to(), amount,
       fee](const std::vector<Entry>& entries) {
        auto& debited = accounts_.at(from_id);
        debited.held -= amount + fee;
        debited.balance -= amount + fee;
        auto& credited = accounts_.at(to_id);
        credited.incoming -= amount;
        credited.balance += amount;
        if (fee > 0) {
          auto& payee = accounts_.at(fees_id);
          payee.incoming -= fee;
          payee.balance += fee;
          payee.open = true; // the ledger recorded its fee_in, so its opening too
        }
        return outcome_of<TransferReceipt>(entries);
      },
      [this, from_id = req.from(), to_id = req.to(), amount, fee, opens_fees] {
        accounts_.at(from_id).held -= amount + fee;
        accounts_.at(to_id).incoming -= amount;
        if (fee > 0) {
          auto& payee = accounts_.at(fees_id);
          payee.incoming -= fee;
          // A failed opening of "fees" leaves no account behind, unless it must be reconciled
          // (then the ledger says whether it exists) or another fee waits on it.
          if (opens_fees && !payee.open && !payee.in_doubt && payee.pending == 0)
            accounts_.erase(fees_id);
        }
      });
  }

  /// Answers an open account's balance as the ledger has recorded it.
  microlith::reply<Account> balance(microlith::call_context&, const BalanceRequest& req) {
    if (auto busy = reconciling(req.account_id()))
      return busy;
    const auto* acct = find_open(req.account_id());
    if (acct == nullptr)
      return no_account(req.account_id());
    return make_account(req.account_id(), acct->balance);
  }

private:
  /// Replays the ledger's history (oldest first) into the accounts, following the ledger where
  /// it disagrees with the replay: an entry whose balance_after differs from the replayed
  /// balance, of an unknown kind or sign, for an account not opened or opened again is logged
  /// with a warning naming it, and the account continues from the entry's balance_after. Learns
  /// every idempotency key. Answers how many entries were at fault (an entry at fault for two
  /// reasons is logged twice, counted once).
  int replay(const HistoryReply& history, const std::string& name) {
    int warnings = 0;
    std::uint64_t last_at_fault = 0;
    auto warn = [&](const Entry& entry, const std::string& why) {
      if (warnings == 0 || entry.sequence() != last_at_fault)
        ++warnings;
      last_at_fault = entry.sequence();
      microlith::log::warn(name,
                           "ledger entry {} ({} of {} for account {}, balance_after {}): {}; "
                           "following the ledger",
                           entry.sequence(), entry.kind(), entry.delta(), entry.account_id(),
                           entry.balance_after(), why);
    };
    std::uint64_t last_sequence = 0;
    for (const auto& entry : history.entries()) {
      if (entry.sequence() <= last_sequence)
        warn(entry, fmt::format("it follows entry {}, out of order", last_sequence));
      last_sequence = std::max(last_sequence, entry.sequence());
      delta_sign sign{};
      if (!sign_of(entry.kind(), sign))
        warn(entry, fmt::format("unknown kind \"{}\"", entry.kind()));
      else if (!has_sign(entry.delta(), sign))
        warn(entry, fmt::format("a {} entry cannot have delta {}", entry.kind(), entry.delta()));
      auto [it, inserted] = accounts_.try_emplace(entry.account_id());
      auto& acct = it->second;
      if (entry.kind() == "open" && !inserted)
        warn(entry,
             fmt::format("the account was opened already, with the balance {}", acct.balance));
      else if (entry.kind() != "open" && inserted)
        warn(entry, "the account was never opened");
      // An open starts the account's balance afresh.
      auto start = inserted || entry.kind() == "open" ? std::int64_t{0} : acct.balance;
      std::int64_t replayed = 0;
      if (__builtin_add_overflow(start, entry.delta(), &replayed))
        warn(entry, fmt::format("the balance {} cannot take it", start));
      else if (replayed != entry.balance_after())
        warn(entry, fmt::format("replaying it gives the balance {}, the entry says {}", replayed,
                                entry.balance_after()));
      acct.open = true;
      acct.balance = entry.balance_after();
      learn(entry);
    }
    return warnings;
  }

  /// Remembers the idempotency key of a recorded entry (none: nothing to remember).
  void learn(const Entry& entry) {
    if (entry.idempotency_key().empty())
      return;
    auto& known = keys_[entry.idempotency_key()];
    for (const auto& e : known.entries)
      if (e.sequence() == entry.sequence())
        return;
    if (known.entries.empty())
      known.fingerprint = entry.request_fingerprint();
    known.entries.push_back(entry);
  }

  /// Remembers the keys of entries recorded together (one Append's, or all of a key's).
  void learn(const std::vector<Entry>& entries) {
    for (const auto& entry : entries)
      learn(entry);
  }

  /// Checks what a mutating request may do before it is validated: a key recorded already
  /// answers its first outcome (or is refused for another request), a key in flight is refused
  /// until it is answered, and an account being reconciled refuses every request. Fills `rk`
  /// and answers nullopt when the request may proceed.
  template <class Resp, class Req>
  std::optional<microlith::reply<Resp>>
  admit(const microlith::call_context& ctx, std::string_view method, const Req& req,
        std::initializer_list<const std::string*> ids, request_key& rk) {
    rk.key = ctx.idempotency_key();
    if (!rk.key.empty()) {
      rk.fingerprint = request_fingerprint(method, req);
      if (auto it = keys_.find(rk.key); it != keys_.end()) {
        if (it->second.fingerprint != rk.fingerprint)
          return microlith::reply<Resp>{key_reused(rk.key, it->second.entries)};
        microlith::log::write(microlith::log::level::info, ctx.name(), ctx.correlation_id(),
                              "Idempotency-Key \"{}\" was recorded by ledger entry {}: answering "
                              "its first outcome again",
                              rk.key, it->second.entries.front().sequence());
        return microlith::reply<Resp>{outcome_of<Resp>(it->second.entries)};
      }
      if (auto it = keys_in_flight_.find(rk.key); it != keys_in_flight_.end()) {
        if (it->second != rk.fingerprint)
          return microlith::reply<Resp>{microlith::fail(
            microlith::errc::idempotency_key_reused,
            fmt::format("Idempotency-Key \"{}\" is in use by another request (another method or "
                        "body); a key names one request",
                        rk.key))};
        return microlith::reply<Resp>{microlith::fail(
          microlith::errc::aborted,
          fmt::format("a request with Idempotency-Key \"{}\" is still in progress; retry once it "
                      "is answered",
                      rk.key))};
      }
    }
    for (const auto* id : ids)
      if (auto busy = reconciling(*id))
        return microlith::reply<Resp>{std::move(busy)};
    return std::nullopt;
  }

  /// Answers a request refused by validation: at once without a key; with a key, only once the
  /// ledger confirms it never recorded that key (a retry whose first attempt was recorded, say
  /// by an instance that crashed, answers that first outcome even when it would be refused now).
  template <class Resp>
  microlith::reply<Resp> refuse(microlith::call_context& ctx, const request_key& rk,
                                caf::error refusal) {
    if (rk.key.empty())
      return refusal;
    keys_in_flight_.emplace(rk.key, rk.fingerprint);
    auto p = ctx.make_promise<Resp>();
    HistoryRequest lookup;
    lookup.set_idempotency_key(rk.key);
    ctx.call<HistoryReply>(ledger_service, "History", std::move(lookup))
      .then(
        [this, p, rk, refusal](const HistoryReply& found) mutable {
          keys_in_flight_.erase(rk.key);
          if (found.entries().empty()) {
            p.deliver(std::move(refusal));
            return;
          }
          std::vector<Entry> entries{found.entries().begin(), found.entries().end()};
          if (entries.front().request_fingerprint() != rk.fingerprint) {
            p.deliver(key_reused(rk.key, entries));
            return;
          }
          adopt(entries);
          p.deliver(outcome_of<Resp>(entries));
        },
        [this, p, rk](const caf::error& err) mutable {
          keys_in_flight_.erase(rk.key);
          p.deliver(microlith::fail(
            microlith::errc::service_unavailable,
            fmt::format("cannot check Idempotency-Key \"{}\" with the ledger ({}); nothing was "
                        "done, retry",
                        rk.key, microlith::describe(err))));
        });
    return p;
  }

  /// Takes entries recorded with a key this instance did not know (recorded by an earlier
  /// instance after this one read the ledger, say): remembers the key and reconciles the
  /// accounts they touch, whose balances may not include them.
  void adopt(const std::vector<Entry>& entries) {
    learn(entries);
    for (const auto& entry : entries) {
      auto it = accounts_.find(entry.account_id());
      if (it == accounts_.end())
        it = accounts_.try_emplace(entry.account_id()).first;
      it->second.in_doubt = true;
      reconcile(entry.account_id());
    }
  }

  /// The refusal for account `id` while it is being reconciled (starting the reconciliation if
  /// none is in flight), or an empty error when it is not in doubt.
  caf::error reconciling(const std::string& id) {
    auto it = accounts_.find(id);
    if (it == accounts_.end() || !it->second.in_doubt)
      return {};
    reconcile(id);
    return microlith::fail(
      microlith::errc::service_unavailable,
      fmt::format("account {} is being reconciled with the ledger after a change whose outcome "
                  "was unknown; nothing was done, retry",
                  id));
  }

  /// Reconciles account `id` with the ledger once no append touching it is in flight: asks the
  /// ledger for the account's history and takes its last recorded balance (or forgets an
  /// account the ledger never opened). A failure leaves it in doubt; the next request for it
  /// tries again.
  void reconcile(const std::string& id) {
    auto it = accounts_.find(id);
    if (it == accounts_.end() || !it->second.in_doubt || it->second.reconciling
        || it->second.pending > 0)
      return;
    it->second.reconciling = true;
    HistoryRequest req;
    req.set_account_id(id);
    // From the state's own context: the call does not inherit the deadline of the request whose
    // failure caused it.
    base_.call<HistoryReply>(ledger_service, "History", std::move(req))
      .then(
        [this, id](const HistoryReply& history) {
          auto it = accounts_.find(id);
          if (it == accounts_.end())
            return;
          auto& acct = it->second;
          auto before = acct.balance;
          // A key is learnt from this history only when every entry it recorded is here: a
          // transfer's entries (and its fee's, the opening of "fees" among them) touch other
          // accounts too, so its key is left to the ledger's own lookup.
          std::unordered_map<std::string, bool> whole;
          for (const auto& entry : history.entries()) {
            auto& alone = whole.try_emplace(entry.idempotency_key(), true).first->second;
            alone = alone && single_account_kind(entry.kind());
          }
          for (const auto& entry : history.entries())
            if (whole[entry.idempotency_key()])
              learn(entry);
          if (history.entries().empty()) {
            accounts_.erase(it);
            microlith::log::warn(base_.name(),
                                 "account {} reconciled with the ledger: the ledger has no entry "
                                 "for it, so it does not exist",
                                 id);
            return;
          }
          acct.balance = history.entries(history.entries_size() - 1).balance_after();
          acct.open = true;
          acct.in_doubt = false;
          acct.reconciling = false;
          microlith::log::info(base_.name(),
                               "account {} reconciled with the ledger: balance {} (was {}) after "
                               "ledger entry {}",
                               id, acct.balance, before,
                               history.entries(history.entries_size() - 1).sequence());
        },
        [this, id](const caf::error& err) {
          if (auto it = accounts_.find(id); it != accounts_.end())
            it->second.reconciling = false;
          microlith::log::warn(base_.name(),
                               "account {} cannot be reconciled with the ledger yet: {}; the next "
                               "request for it tries again",
                               id, microlith::describe(err));
        });
  }

  /// The account `id` once its opening is recorded, else nullptr.
  account* find_open(const std::string& id) {
    auto it = accounts_.find(id);
    if (it == accounts_.end() || !it->second.open)
      return nullptr;
    return &it->second;
  }

  /// The refusal for an account that does not exist (or is still being opened).
  static caf::error no_account(const std::string& id) {
    return microlith::fail(microlith::errc::not_found, fmt::format("no account {}", id));
  }

  /// The refusal for a debit of `amount` (and a transfer's `fee`, 0: none) that the account's
  /// spendable balance does not cover.
  static caf::error insufficient(const std::string& id, const account& acct, std::int64_t amount,
                                 std::int64_t fee = 0) {
    if (fee == 0)
      return microlith::fail(microlith::errc::failed_precondition,
                             fmt::format("insufficient funds: account {} has {}, needs {}", id,
                                         acct.available(), amount));
    // Both are non-negative int64: their sum fits an unsigned 64-bit integer.
    const auto needs = static_cast<std::uint64_t>(amount) + static_cast<std::uint64_t>(fee);
    return microlith::fail(microlith::errc::failed_precondition,
                           fmt::format("insufficient funds: account {} has {}, needs {} (the "
                                       "transfer of {} and its fee of {})",
                                       id, acct.available(), needs, amount, fee));
  }

  /// The refusal for key `key`, recorded with `entries` for another request.
  static caf::error key_reused(const std::string& key, const std::vector<Entry>& entries) {
    const auto& first = entries.front();
    return microlith::fail(microlith::errc::idempotency_key_reused,
                           fmt::format("Idempotency-Key \"{}\" was first used for another request "
                                       "(recorded as ledger entry {}, {} of {} for account {}); "
                                       "a key names one request and its body",
                                       key, first.sequence(), first.kind(), first.delta(),
                                       first.account_id()));
  }

  /// Publishes the account a change left to the balances topic.
  static void publish_changes(const microlith::call_context& ctx, const Account& changed) {
    ctx.publish(balances_topic, changed);
  }

  /// Publishes both accounts of a transfer to the balances topic, and "fees" when it received
  /// the transfer's fee without being its receiver.
  static void publish_changes(const microlith::call_context& ctx, const TransferReceipt& done) {
    ctx.publish(balances_topic, done.from());
    ctx.publish(balances_topic, done.to());
    if (done.fee() > 0 && done.to().id() != fees_id)
      for (const auto& entry : done.entries())
        if (entry.kind() == "fee_in")
          ctx.publish(balances_topic, make_account(entry.account_id(), entry.balance_after()));
  }

  /// Asks the ledger to append `append` (with the request's key and fingerprint) for the
  /// accounts `ids`, and answers later:
  /// - recorded: `commit(entries)` is the answer;
  /// - replayed (the ledger had the key): `undo()`, and the first outcome is the answer; the
  ///   accounts are reconciled, since their balances may not include those entries;
  /// - refused: `undo()`, and the ledger's error is the answer;
  /// - refused as stale (aborted) or outcome unknown: `undo()`, the accounts are marked in doubt
  ///   and reconciled with the ledger once nothing else is in flight on them, and the answer
  ///   says so (for an unknown outcome: that a retry with the same Idempotency-Key is safe).
  /// `what` names the change in messages.
  template <class Resp, class Commit, class Undo>
  microlith::reply<Resp> record(microlith::call_context& ctx, AppendRequest append, request_key rk,
                                std::vector<std::string> ids, std::string what, Commit commit,
                                Undo undo) {
    auto p = ctx.make_promise<Resp>();
    append.set_idempotency_key(rk.key);
    append.set_request_fingerprint(rk.fingerprint);
    if (!rk.key.empty())
      keys_in_flight_.emplace(rk.key, rk.fingerprint);
    for (const auto& id : ids)
      ++accounts_.at(id).pending;
    auto settle = [this, ids, key = rk.key] {
      if (!key.empty())
        keys_in_flight_.erase(key);
      for (const auto& id : ids)
        --accounts_.at(id).pending;
    };
    auto reconcile_all = [this, ids] {
      for (const auto& id : ids)
        if (auto it = accounts_.find(id); it != accounts_.end() && it->second.in_doubt)
          reconcile(id);
    };
    ctx.call<AppendReply>(ledger_service, "Append", std::move(append))
      .then(
        [this, p, commit, undo, settle, reconcile_all, ctx,
         what](const AppendReply& reply) mutable {
          settle();
          std::vector<Entry> entries{reply.entries().begin(), reply.entries().end()};
          if (entries.empty()) {
            undo();
            p.deliver(microlith::fail(microlith::errc::internal,
                                      fmt::format("{}: the ledger answered no entries", what)));
            return;
          }
          if (reply.replayed()) {
            undo();
            microlith::log::write(microlith::log::level::info, ctx.name(), ctx.correlation_id(),
                                  "{}: the ledger had recorded its Idempotency-Key already (entry "
                                  "{}): answering that first outcome",
                                  what, entries.front().sequence());
            adopt(entries);
            p.deliver(outcome_of<Resp>(entries));
            return;
          }
          learn(entries);
          auto answer = commit(entries);
          publish_changes(ctx, answer);
          reconcile_all(); // an account in doubt waits for its last append to settle
          p.deliver(std::move(answer));
        },
        [this, p, undo, settle, reconcile_all, ids, what, key = rk.key, name = ctx.name(),
         correlation_id = ctx.correlation_id()](const caf::error& err) mutable {
          settle();
          auto failure = classify(err);
          if (failure != append_failure::refused)
            for (const auto& id : ids)
              accounts_.at(id).in_doubt = true;
          undo();
          reconcile_all(); // an account in doubt waits for its last append to settle
          if (failure == append_failure::refused) {
            microlith::log::write(microlith::log::level::warn, name, correlation_id,
                                  "{} was undone: {}", what, microlith::describe(err));
            p.deliver(not_recorded(err, what));
            return;
          }
          auto accounts = fmt::format("{} {} {}", ids.size() == 1 ? "account" : "accounts",
                                      fmt::join(ids, " and "), ids.size() == 1 ? "is" : "are");
          if (failure == append_failure::stale) {
            microlith::log::write(microlith::log::level::warn, name, correlation_id,
                                  "{} was refused by the ledger ({}); {} being reconciled "
                                  "with the ledger",
                                  what, microlith::describe(err), accounts);
            p.deliver(microlith::fail(
              microlith::errc::aborted,
              fmt::format("{} was not recorded: the ledger's record differs from what accounts "
                          "had ({}); {} being reconciled with the ledger; nothing was done, "
                          "retry",
                          what, microlith::message_of(err), accounts)));
            return;
          }
          microlith::log::write(microlith::log::level::warn, name, correlation_id,
                                "the outcome of {} is unknown ({}); {} reconciled with the ledger "
                                "before serving again",
                                what, microlith::describe(err), accounts);
          auto code = microlith::code_of(err);
          p.deliver(microlith::make_error(
            code == microlith::errc::timeout || code == microlith::errc::service_down
              ? code
              : microlith::errc::service_down,
            fmt::format("the outcome of {} is unknown: the ledger did not confirm it ({}); "
                        "{} reconciled with the ledger before serving again; {}",
                        what, microlith::describe(err), accounts,
                        key.empty()
                          ? "a retry may apply it twice: send an Idempotency-Key to retry safely"
                          : "a retry with the same Idempotency-Key is safe (applied at most "
                            "once)")));
        });
    return p;
  }

  /// A context of this instance outside any request, for the calls the state makes on its own
  /// (reconciliations).
  microlith::call_context base_;
  std::unordered_map<std::string, account> accounts_;
  /// Idempotency keys recorded in the ledger that this instance knows: from its rebuild, its
  /// own appends and its reconciliations.
  std::unordered_map<std::string, known_key> keys_;
  /// Keys of requests being handled now (their fingerprints).
  std::unordered_map<std::string, std::string> keys_in_flight_;
};

} // namespace

microlith::service_definition make_accounts() {
  return microlith::service<accounts_state>(accounts_service, accounts_contract)
    .handle("Open", &accounts_state::open)
    .handle("Deposit", &accounts_state::deposit)
    .handle("Withdraw", &accounts_state::withdraw)
    .handle("Transfer", &accounts_state::transfer)
    .handle("Balance", &accounts_state::balance)
    .checks_toggles({transfer_fee_toggle});
}

} // namespace bank
