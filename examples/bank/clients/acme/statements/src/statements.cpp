// The statements service's state and handler (statements.hpp). The state holds nothing: the
// statements live in the cache and the ledger is the source of every one.
#include "statements.hpp"

#include "build_settings.hpp"
#include "statement_format.hpp"
#include "statements_cache.hpp"

#include "proto/acme/statements/v1/statements.pb.h"
#include "proto/bank.pb.h"

#include <microlith/actors/error.hpp>
#include <microlith/actors/log.hpp>

#include <fmt/format.h>

#include <string>
#include <utility>

namespace acme::statements {

namespace {

using v1::CachedStatement;
using v1::Statement;
using v1::StatementRequest;
using v1::StoreRequest;

/// The bank's ledger service and its method, called by name (the module is built apart from the
/// bank's code; bank::ledger_service in examples/bank/src/ledger.hpp).
constexpr const char* ledger_service = "ledger";
constexpr const char* history_method = "History";

class statements_state {
public:
  /// The statement of the requested account: from the cache, else computed from the ledger.
  microlith::reply<Statement> get(microlith::call_context& ctx, const StatementRequest& req) {
    if (req.account_id().empty())
      return microlith::fail(microlith::errc::invalid_argument, "a statement needs an account_id");
    auto p = ctx.make_promise<Statement>();
    ctx.call<CachedStatement>(cache_service, "Lookup", req)
      .then(
        [ctx, p, id = req.account_id()](const CachedStatement& cached) mutable {
          if (cached.hit())
            p.deliver(cached.statement());
          else
            compute(ctx, std::move(p), id, &cached);
        },
        [ctx, p, id = req.account_id()](const caf::error& err) mutable {
          microlith::log::write(microlith::log::level::warn, ctx.name(), ctx.correlation_id(),
                                "the statements cache did not answer ({}); computing the "
                                "statement of account {} without it",
                                microlith::describe(err), id);
          compute(ctx, std::move(p), id, nullptr);
        });
    return p;
  }

private:
  /// Reads the account's entries from the ledger and answers its statement; stores it in the
  /// cache with the ticket of `miss` (none: the cache did not answer, nothing is stored).
  static void compute(const microlith::call_context& ctx, microlith::promise<Statement> p,
                      const std::string& id, const CachedStatement* miss) {
    bank::HistoryRequest req;
    req.set_account_id(id);
    StoreRequest store;
    const bool keep = miss != nullptr;
    if (keep) {
      store.set_ticket(miss->ticket());
      store.set_issuer(miss->issuer());
    }
    ctx.call<bank::HistoryReply>(ledger_service, history_method, req)
      .then(
        [ctx, p, id, store = std::move(store), keep](const bank::HistoryReply& history) mutable {
          auto statement = make_statement(id, history, built_format, built_version);
          if (statement.last_sequence() == 0) {
            p.deliver(
              microlith::fail(microlith::errc::not_found,
                              fmt::format("no account {}: the ledger has no entry for it", id)));
            return;
          }
          if (keep) {
            *store.mutable_statement() = statement;
            ctx.cast(cache_service, "Store", store);
          }
          p.deliver(std::move(statement));
        },
        [p, id](const caf::error& err) mutable {
          p.deliver(microlith::make_error(
            microlith::code_of(err) == microlith::errc::none ? microlith::errc::remote_error
                                                             : microlith::code_of(err),
            fmt::format("the statement of account {} needs the ledger's History, which failed: {}",
                        id, microlith::describe(err))));
        });
  }
};

} // namespace

microlith::service_definition make_statements() {
  return microlith::service<statements_state>(statements_service, statements_contract)
    .handle("Get", &statements_state::get);
}

} // namespace acme::statements
