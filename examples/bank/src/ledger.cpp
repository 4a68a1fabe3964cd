// The ledger's state and handlers (see ledger.hpp). An Append is validated as a whole before
// anything is recorded, so a batch (a transfer's debit and credit) is appended completely or not
// at all: first its form here (kinds, signs, no negative balance: invalid_argument), then, in
// the store's transaction, whether it continues each account's record (aborted) and whether its
// idempotency key was recorded before (the first entries answered again, or
// idempotency_key_reused).
#include "ledger.hpp"

#include "fingerprint.hpp"
#include "ledger_store.hpp"

#include "proto/bank.pb.h"

#include <microlith/actors/error.hpp>

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bank {

namespace {

/// The sign a kind's delta must have.
enum class sign { positive, negative, non_negative };

/// A kind of entry and the sign its delta must have.
struct kind_rule {
  std::string_view kind;
  sign delta_sign;
};

constexpr kind_rule kind_rules[] = {
  {"open", sign::non_negative},    {"deposit", sign::positive},      {"withdraw", sign::negative},
  {"transfer_in", sign::positive}, {"transfer_out", sign::negative}, {"fee_in", sign::positive},
  {"fee_out", sign::negative},
};

/// The rule of `kind`, or nullptr for a kind the ledger does not know.
const kind_rule* find_rule(std::string_view kind) {
  for (const auto& rule : kind_rules)
    if (rule.kind == kind)
      return &rule;
  return nullptr;
}

/// Why `entry` (the `index`-th of its batch) cannot be appended, or an empty string.
std::string check_entry(const Entry& entry, int index) {
  if (entry.account_id().empty())
    return fmt::format("ledger entry {}: account_id is empty", index);
  const auto* rule = find_rule(entry.kind());
  if (rule == nullptr)
    return fmt::format("ledger entry {}: unknown kind \"{}\" (expected open, deposit, withdraw, "
                       "transfer_in, transfer_out, fee_out or fee_in)",
                       index, entry.kind());
  bool sign_ok = false;
  switch (rule->delta_sign) {
    case sign::positive: sign_ok = entry.delta() > 0; break;
    case sign::negative: sign_ok = entry.delta() < 0; break;
    case sign::non_negative: sign_ok = entry.delta() >= 0; break;
  }
  if (!sign_ok)
    return fmt::format("ledger entry {}: a {} entry cannot have delta {}", index, entry.kind(),
                       entry.delta());
  if (entry.balance_after() < 0)
    return fmt::format("ledger entry {}: account {} would have the negative balance {}", index,
                       entry.account_id(), entry.balance_after());
  return {};
}

/// The state of one ledger instance: its store.
class ledger_state {
public:
  explicit ledger_state(const std::string& database = ":memory:") : store_(database) {}

  /// Validates every entry of `req`, then, in one transaction of the store: answers the entries
  /// first recorded with the request's idempotency key when it was recorded before (or refuses a
  /// key reused for another request), else records them all with consecutive sequence numbers
  /// and the correlation id of the current request if they continue the accounts' record, else
  /// refuses them (aborted).
  microlith::reply<AppendReply> append(microlith::call_context& ctx, const AppendRequest& req) {
    if (req.entries().empty())
      return microlith::fail(microlith::errc::invalid_argument,
                             "ledger append needs at least one entry");
    for (int i = 0; i < req.entries_size(); ++i)
      if (auto why = check_entry(req.entries(i), i); !why.empty())
        return microlith::fail(microlith::errc::invalid_argument, std::move(why));
    const std::string& key =
      req.idempotency_key().empty() ? ctx.idempotency_key() : req.idempotency_key();
    std::string fingerprint = req.request_fingerprint();
    if (!key.empty() && fingerprint.empty()) {
      AppendRequest bare = req;
      bare.clear_idempotency_key();
      bare.clear_request_fingerprint();
      fingerprint = request_fingerprint("bank.Ledger/Append", bare);
    }
    std::vector<Entry> batch{req.entries().begin(), req.entries().end()};
    auto result = store_.append(batch, ctx.correlation_id(), key, fingerprint);
    switch (result.result) {
      case append_result::outcome::mismatch:
        return microlith::fail(microlith::errc::aborted, std::move(result.reason));
      case append_result::outcome::key_reused:
        return microlith::fail(microlith::errc::idempotency_key_reused, std::move(result.reason));
      case append_result::outcome::recorded:
      case append_result::outcome::replayed: break;
    }
    AppendReply out;
    out.set_replayed(result.result == append_result::outcome::replayed);
    for (auto& entry : result.entries)
      *out.add_entries() = std::move(entry);
    return out;
  }

  /// Answers the entries of one account (or every entry when account_id is empty), only those
  /// recorded with an idempotency key when one is given, oldest first.
  microlith::reply<HistoryReply> history(microlith::call_context&, const HistoryRequest& req) {
    HistoryReply out;
    for (auto& entry : store_.history(req.account_id(), req.idempotency_key()))
      *out.add_entries() = std::move(entry);
    return out;
  }

private:
  ledger_store store_;
};

} // namespace

microlith::service_definition make_ledger(std::string database) {
  return microlith::service<ledger_state>(ledger_service, ledger_contract, std::move(database))
    .handle("Append", &ledger_state::append)
    .handle("History", &ledger_state::history);
}

} // namespace bank
