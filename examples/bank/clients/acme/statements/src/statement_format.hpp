// An acme statement, apart from the actors that serve it so that it is tested without them:
// make_statement() turns an account's ledger entries (what bank.Ledger's History answers) into a
// Statement — the balance the account was opened with, one line per movement since, the closing
// balance — and lays its text out in one of the two formats the module can be built with.
#pragma once

#include "proto/acme/statements/v1/statements.pb.h"
#include "proto/bank.pb.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace acme::statements {

/// How a statement's text is laid out (the module's ACME_STATEMENTS_FORMAT: 1 or 2).
enum class statement_format : int {
  text = 1, ///< a plain text page, amounts in units with two decimals
  csv = 2,  ///< CSV rows (RFC 4180 quoting), amounts in cents
};

/// The name a statement carries in its `format` field: "text" or "csv".
std::string_view name_of(statement_format format) noexcept;

/// The statement of `account_id` from its ledger entries in sequence order (`history`; entries
/// of other accounts are skipped), its text laid out in `format`, made by module version
/// `version`. The account's "open" entry sets the opening balance; every later entry is a line.
/// When the first entry is no "open" (a ledger that lost it), the opening balance is the balance
/// before that entry and it is a line too. No entries: opening and closing balance 0, no lines.
v1::Statement make_statement(const std::string& account_id, const bank::HistoryReply& history,
                             statement_format format, const std::string& version);

/// The plain text page of `statement` (its lines and balances; `text` is not read).
std::string render_text(const v1::Statement& statement);

/// The CSV rows of `statement`: a header, the opening balance, one row a line, the closing
/// balance (`text` is not read).
std::string render_csv(const v1::Statement& statement);

/// Cents as units with two decimals: 12345 -> "123.45", -5 -> "-0.05".
std::string format_cents(std::int64_t cents);

} // namespace acme::statements
