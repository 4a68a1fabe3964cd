// The accounts service's state and handlers (see accounts.hpp). Each account keeps three sums:
// the balance the ledger has recorded, the debits sent to the ledger but not yet recorded
// (held), and the credits sent but not yet recorded (incoming). A debit is accepted only if the
// recorded balance minus what is held covers it, so the recorded balance can never go negative
// whatever order the ledger's answers come in; undoing a failed change only releases what it
// held or expected. The balance written into each ledger entry is the account's balance once
// every change sent before it is recorded too, which is exactly the ledger's running balance,
// since the ledger receives the appends in the order they were sent.
//
// Balances live in the instance's state, so a new instance (a first start or a restart after a
// crash) rebuilds them before it serves anything: its constructor defers the start, asks the
// ledger for its whole history, replays every entry — checking each against the balance the
// entry says the account had after it — and only then opens; a ledger that cannot answer, or a
// history that does not add up, fails the start instead.
#include "accounts.hpp"

#include "ledger.hpp"

#include "proto/bank.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/actors/log.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace bank {

namespace {

constexpr std::int64_t max_cents = std::numeric_limits<std::int64_t>::max();

/// The memo that makes a deposit crash its handler: the example's deliberate crash trigger, a
/// stand-in for a bug that crashes on some input (see DepositRequest.memo in bank.proto).
constexpr std::string_view poison_memo = "poison";

/// The sign a ledger entry's delta has for each kind, as the ledger enforces it.
enum class delta_sign { positive, negative, non_negative };

/// The sign `kind`'s delta must have; false when accounts does not know the kind.
bool sign_of(const std::string& kind, delta_sign& out) {
  if (kind == "open")
    out = delta_sign::non_negative;
  else if (kind == "deposit" || kind == "transfer_in")
    out = delta_sign::positive;
  else if (kind == "withdraw" || kind == "transfer_out")
    out = delta_sign::negative;
  else
    return false;
  return true;
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

/// One account's sums, in cents.
struct account {
  /// What the ledger has recorded.
  std::int64_t balance = 0;
  /// Debits sent to the ledger and not yet recorded.
  std::int64_t held = 0;
  /// Credits sent to the ledger and not yet recorded.
  std::int64_t incoming = 0;
  /// False until the ledger has recorded the opening.
  bool open = false;

  /// What may be debited now.
  std::int64_t available() const noexcept {
    return balance - held;
  }

  /// The balance once every change sent so far is recorded.
  std::int64_t projected() const noexcept {
    return balance - held + incoming;
  }
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

/// The state of one accounts instance.
class accounts_state {
public:
  /// Defers the instance's start until its balances are rebuilt from the ledger's whole
  /// history; fails the start when the ledger cannot answer or its history does not add up.
  explicit accounts_state(microlith::call_context& ctx) {
    auto gate = ctx.defer_start();
    ctx.call<HistoryReply>(ledger_service, "History", HistoryRequest{})
      .then(
        [this, gate, name = ctx.name()](const HistoryReply& history) mutable {
          if (auto why = replay(history); !why.empty()) {
            accounts_.clear();
            gate.fail(microlith::fail(
              fmt::format("accounts cannot rebuild its balances from the ledger: {}", why)));
            return;
          }
          microlith::log::info(name, "rebuilt {} account(s) from {} ledger entries",
                               accounts_.size(), history.entries_size());
          gate.open();
        },
        [gate](const caf::error& err) mutable {
          gate.fail(history_failed(err));
        });
  }

  /// Opens account `req.id` with `req.initial_balance` cents.
  microlith::reply<Account> open(microlith::call_context& ctx, const OpenRequest& req) {
    if (req.id().empty())
      return microlith::fail(microlith::errc::invalid_argument, "an account id must not be empty");
    if (req.initial_balance() < 0)
      return microlith::fail(microlith::errc::invalid_argument,
                             fmt::format("account {}: the initial balance must not be negative, "
                                         "got {}",
                                         req.id(), req.initial_balance()));
    auto [it, inserted] = accounts_.try_emplace(req.id());
    if (!inserted)
      return microlith::fail(microlith::errc::already_exists,
                             fmt::format("account {} already exists", req.id()));
    it->second.incoming = req.initial_balance();
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.id(), req.initial_balance(), req.initial_balance(), "open");
    return record<Account>(
      ctx, std::move(append), fmt::format("opening account {}", req.id()),
      [this, id = req.id(), amount = req.initial_balance()](const Entry& entry) {
        auto& acct = accounts_.at(id);
        acct.incoming -= amount;
        acct.balance += amount;
        acct.open = true;
        return make_account(id, entry.balance_after());
      },
      [this, id = req.id()] { accounts_.erase(id); });
  }

  /// Adds `req.amount` cents to an open account. A deposit whose memo is "poison" throws before
  /// anything changes: the example's deliberate crash, after which its supervisor restarts it.
  microlith::reply<Account> deposit(microlith::call_context& ctx, const DepositRequest& req) {
    if (req.memo() == poison_memo)
      throw std::runtime_error(fmt::format("poisoned deposit: {} cents to account {} carry the "
                                           "memo \"{}\", the bank example's crash trigger",
                                           req.amount(), req.account_id(), poison_memo));
    if (req.amount() <= 0)
      return microlith::fail(microlith::errc::invalid_argument,
        fmt::format("a deposit must be a positive amount, got {}", req.amount()));
    auto* acct = find_open(req.account_id());
    if (acct == nullptr)
      return no_account(req.account_id());
    if (acct->projected() > max_cents - req.amount())
      return microlith::fail(microlith::errc::out_of_range,
                             fmt::format("account {}: a deposit of {} would overflow its balance",
                                         req.account_id(), req.amount()));
    acct->incoming += req.amount();
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.account_id(), req.amount(), acct->projected(), "deposit");
    return record<Account>(
      ctx, std::move(append), fmt::format("a deposit to {}", req.account_id()),
      [this, id = req.account_id(), amount = req.amount()](const Entry& entry) {
        auto& acct = accounts_.at(id);
        acct.incoming -= amount;
        acct.balance += amount;
        return make_account(id, entry.balance_after());
      },
      [this, id = req.account_id(), amount = req.amount()] {
        accounts_.at(id).incoming -= amount;
      });
  }

  /// Takes `req.amount` cents from an open account that has them.
  microlith::reply<Account> withdraw(microlith::call_context& ctx, const WithdrawRequest& req) {
    if (req.amount() <= 0)
      return microlith::fail(microlith::errc::invalid_argument,
        fmt::format("a withdrawal must be a positive amount, got {}", req.amount()));
    auto* acct = find_open(req.account_id());
    if (acct == nullptr)
      return no_account(req.account_id());
    if (acct->available() < req.amount())
      return insufficient(req.account_id(), *acct, req.amount());
    acct->held += req.amount();
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.account_id(), -req.amount(), acct->projected(), "withdraw");
    return record<Account>(
      ctx, std::move(append), fmt::format("a withdrawal from {}", req.account_id()),
      [this, id = req.account_id(), amount = req.amount()](const Entry& entry) {
        auto& acct = accounts_.at(id);
        acct.held -= amount;
        acct.balance -= amount;
        return make_account(id, entry.balance_after());
      },
      [this, id = req.account_id(), amount = req.amount()] { accounts_.at(id).held -= amount; });
  }

  /// Moves `req.amount` cents from `req.from` to `req.to`, recorded as two ledger entries.
  microlith::reply<TransferReceipt> transfer(microlith::call_context& ctx,
                                             const TransferRequest& req) {
    if (req.amount() <= 0)
      return microlith::fail(microlith::errc::invalid_argument,
        fmt::format("a transfer must be a positive amount, got {}", req.amount()));
    if (req.from() == req.to())
      return microlith::fail(microlith::errc::invalid_argument,
        fmt::format("cannot transfer from account {} to itself", req.from()));
    auto* from = find_open(req.from());
    if (from == nullptr)
      return no_account(req.from());
    auto* to = find_open(req.to());
    if (to == nullptr)
      return no_account(req.to());
    if (from->available() < req.amount())
      return insufficient(req.from(), *from, req.amount());
    if (to->projected() > max_cents - req.amount())
      return microlith::fail(microlith::errc::out_of_range,
                             fmt::format("account {}: a transfer of {} would overflow its balance",
                                         req.to(), req.amount()));
    from->held += req.amount();
    to->incoming += req.amount();
    AppendRequest append;
    *append.add_entries() =
      make_entry(req.from(), -req.amount(), from->projected(), "transfer_out", req.to());
    *append.add_entries() =
      make_entry(req.to(), req.amount(), to->projected(), "transfer_in", req.from());
    auto from_after = from->projected();
    auto to_after = to->projected();
    return record<TransferReceipt>(
      ctx, std::move(append), fmt::format("a transfer from {} to {}", req.from(), req.to()),
      [this, from_id = req.from(), to_id = req.to(), amount = req.amount(), from_after,
       to_after](const Entry& first) {
        auto& debited = accounts_.at(from_id);
        debited.held -= amount;
        debited.balance -= amount;
        auto& credited = accounts_.at(to_id);
        credited.incoming -= amount;
        credited.balance += amount;
        TransferReceipt receipt;
        *receipt.mutable_from() = make_account(from_id, from_after);
        *receipt.mutable_to() = make_account(to_id, to_after);
        receipt.set_ledger_sequence(first.sequence());
        return receipt;
      },
      [this, from_id = req.from(), to_id = req.to(), amount = req.amount()] {
        accounts_.at(from_id).held -= amount;
        accounts_.at(to_id).incoming -= amount;
      });
  }

  /// Answers an open account's balance as the ledger has recorded it.
  microlith::reply<Account> balance(microlith::call_context&, const BalanceRequest& req) {
    const auto* acct = find_open(req.account_id());
    if (acct == nullptr)
      return no_account(req.account_id());
    return make_account(req.account_id(), acct->balance);
  }

private:
  /// Replays the ledger's history (oldest first) into the accounts; answers why it does not add
  /// up (an entry out of order, of an unknown kind or sign, for an account not open, or whose
  /// balance_after differs from the replayed balance), or an empty string.
  std::string replay(const HistoryReply& history) {
    std::uint64_t last_sequence = 0;
    for (const auto& entry : history.entries()) {
      auto where = [&entry] {
        return fmt::format("ledger entry {} ({} of {} for account {})", entry.sequence(),
                           entry.kind(), entry.delta(), entry.account_id());
      };
      if (entry.sequence() <= last_sequence)
        return fmt::format("{}: it follows entry {}, out of order", where(), last_sequence);
      last_sequence = entry.sequence();
      delta_sign sign{};
      if (!sign_of(entry.kind(), sign))
        return fmt::format("{}: unknown kind \"{}\"", where(), entry.kind());
      if (!has_sign(entry.delta(), sign))
        return fmt::format("{}: a {} entry cannot have delta {}", where(), entry.kind(),
                           entry.delta());
      account* acct = nullptr;
      if (entry.kind() == "open") {
        auto [it, inserted] = accounts_.try_emplace(entry.account_id());
        if (!inserted)
          return fmt::format("{}: the account was opened already", where());
        it->second.open = true;
        acct = &it->second;
      } else {
        acct = find_open(entry.account_id());
        if (acct == nullptr)
          return fmt::format("{}: the account was never opened", where());
      }
      if (entry.delta() > 0 ? acct->balance > max_cents - entry.delta()
                            : acct->balance + entry.delta() < 0)
        return fmt::format("{}: the balance {} cannot take it", where(), acct->balance);
      acct->balance += entry.delta();
      if (acct->balance != entry.balance_after())
        return fmt::format("{}: replaying it gives the balance {}, the entry says {}", where(),
                           acct->balance, entry.balance_after());
    }
    return {};
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

  /// The refusal for a debit that the account's spendable balance does not cover.
  static caf::error insufficient(const std::string& id, const account& acct,
                                 std::int64_t amount) {
    return microlith::fail(microlith::errc::failed_precondition,
                           fmt::format("insufficient funds: account {} has {}, needs {}", id,
                                       acct.available(), amount));
  }

  /// Publishes the account a change left to the balances topic.
  static void publish_changes(const microlith::call_context& ctx, const Account& changed) {
    ctx.publish(balances_topic, changed);
  }

  /// Publishes both accounts of a transfer to the balances topic.
  static void publish_changes(const microlith::call_context& ctx, const TransferReceipt& done) {
    ctx.publish(balances_topic, done.from());
    ctx.publish(balances_topic, done.to());
  }

  /// Asks the ledger to append `append` and answers later: with `commit(first entry)` once the
  /// ledger has recorded it, or, after `undo()`, with the ledger's error. `what` names the change
  /// in error messages.
  template <class Resp, class Commit, class Undo>
  microlith::reply<Resp> record(microlith::call_context& ctx, AppendRequest append,
                                std::string what, Commit commit, Undo undo) {
    auto p = ctx.make_promise<Resp>();
    ctx.call<Entry>(ledger_service, "Append", append)
      .then([p, commit, ctx](const Entry& first) mutable {
              auto answer = commit(first);
              publish_changes(ctx, answer);
              p.deliver(std::move(answer));
            },
            [p, undo, what = std::move(what), name = ctx.name(),
             correlation_id = ctx.correlation_id()](const caf::error& err) mutable {
              undo();
              microlith::log::write(microlith::log::level::warn, name, correlation_id,
                                    "{} was undone: {}", what, microlith::describe(err));
              p.deliver(not_recorded(err, what));
            });
    return p;
  }

  std::unordered_map<std::string, account> accounts_;
};

} // namespace

microlith::service_definition make_accounts() {
  return microlith::service<accounts_state>(accounts_service, accounts_contract)
    .handle("Open", &accounts_state::open)
    .handle("Deposit", &accounts_state::deposit)
    .handle("Withdraw", &accounts_state::withdraw)
    .handle("Transfer", &accounts_state::transfer)
    .handle("Balance", &accounts_state::balance);
}

} // namespace bank
