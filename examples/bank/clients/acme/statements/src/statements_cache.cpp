// The statements cache's state and handlers (statements_cache.hpp). Tickets count up from 1 in
// each instance; an account's `changed_at_` is the last ticket issued before its latest change,
// so a ticket is current when it is newer than that.
#include "statements_cache.hpp"

#include "build_settings.hpp"

#include "proto/acme/statements/v1/statements.pb.h"
#include "proto/bank.pb.h"

#include <caf/event_based_actor.hpp>

#include <cstdint>
#include <string>
#include <unordered_map>

namespace acme::statements {

namespace {

using v1::CachedStatement;
using v1::Statement;
using v1::StatementRequest;
using v1::StoreReply;
using v1::StoreRequest;

class statements_cache_state {
public:
  explicit statements_cache_state(microlith::call_context& ctx) : issuer_(ctx.self()->id()) {
    ctx.subscribe<bank::Account>(
      bank_balances_topic,
      [this](microlith::call_context&, const bank::Account& changed) { forget(changed.id()); });
  }

  /// The account's statement if cached; else a ticket to store one with.
  microlith::reply<CachedStatement> lookup(microlith::call_context&, const StatementRequest& req) {
    CachedStatement answer;
    if (auto found = statements_.find(req.account_id()); found != statements_.end()) {
      answer.set_hit(true);
      *answer.mutable_statement() = found->second;
      return answer;
    }
    answer.set_ticket(++last_ticket_);
    answer.set_issuer(issuer_);
    return answer;
  }

  /// Keeps the statement unless its ticket is outdated or another version of the module made it.
  microlith::reply<StoreReply> store(microlith::call_context&, const StoreRequest& req) {
    StoreReply answer;
    const auto& account = req.statement().account_id();
    if (req.statement().version() != built_version)
      return answer; // another version's layout (its instances call this one during a replace)
    if (req.issuer() != issuer_ || req.ticket() == 0 || req.ticket() > last_ticket_)
      return answer; // issued by another instance
    if (auto changed = changed_at_.find(account);
        changed != changed_at_.end() && req.ticket() <= changed->second)
      return answer; // the account changed since the ticket was issued
    statements_[account] = req.statement();
    answer.set_stored(true);
    return answer;
  }

private:
  /// The account's balance changed: its statement is stale, and so are tickets issued so far.
  void forget(const std::string& account) {
    statements_.erase(account);
    changed_at_[account] = last_ticket_;
  }

  /// This instance's actor id: tells its tickets from those of an instance before a restart.
  std::uint64_t issuer_;
  std::uint64_t last_ticket_ = 0;
  std::unordered_map<std::string, Statement> statements_;
  /// Per account that changed: the last ticket issued before its latest change.
  std::unordered_map<std::string, std::uint64_t> changed_at_;
};

} // namespace

microlith::service_definition make_statements_cache() {
  return microlith::service<statements_cache_state>(cache_service, cache_contract)
    .handle("Lookup", &statements_cache_state::lookup)
    .handle("Store", &statements_cache_state::store);
}

} // namespace acme::statements
