// The ledger's state and handlers (see ledger.hpp). An Append is validated as a whole before
// anything is recorded, so a batch (a transfer's debit and credit) is appended completely or not
// at all.
#include "ledger.hpp"

#include "ledger_store.hpp"

#include "proto/bank.pb.h"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>
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
  {"open", sign::non_negative},     {"deposit", sign::positive},
  {"withdraw", sign::negative},     {"transfer_in", sign::positive},
  {"transfer_out", sign::negative},
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
                       "transfer_in or transfer_out)",
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
  explicit ledger_state(const std::string& database = ":memory:") : store_(database) {
  }

  /// Validates every entry of `req`, then records them all with consecutive sequence numbers and
  /// the correlation id of the current request; answers the first recorded entry.
  microlith::reply<Entry> append(microlith::call_context& ctx, const AppendRequest& req) {
    if (req.entries().empty())
      return microlith::fail(microlith::errc::invalid_argument, "ledger append needs at least one entry");
    for (int i = 0; i < req.entries_size(); ++i)
      if (auto why = check_entry(req.entries(i), i); !why.empty())
        return microlith::fail(microlith::errc::invalid_argument, std::move(why));
    std::vector<Entry> batch{req.entries().begin(), req.entries().end()};
    return store_.append(batch, ctx.correlation_id()).front();
  }

  /// Answers the entries of one account (or every entry when account_id is empty), oldest first.
  microlith::reply<HistoryReply> history(microlith::call_context&, const HistoryRequest& req) {
    HistoryReply out;
    for (auto& entry : store_.history(req.account_id()))
      *out.add_entries() = std::move(entry);
    return out;
  }

private:
  ledger_store store_;
};

} // namespace

microlith::service_definition make_ledger(std::string database) {
  microlith::service_definition def =
    microlith::service<ledger_state>(ledger_service, ledger_contract)
      .handle("Append", &ledger_state::append)
      .handle("History", &ledger_state::history);
  def.make_state = [database = std::move(database)](microlith::call_context&) {
    return std::static_pointer_cast<void>(std::make_shared<ledger_state>(database));
  };
  return def;
}

} // namespace bank
