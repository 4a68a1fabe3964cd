// Building an acme statement from ledger entries and laying out its text (statement_format.hpp).
#include "statement_format.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace acme::statements {

namespace {

/// Width of the text layout's columns: sequence, description, amount, balance.
constexpr int sequence_width = 6;
constexpr int description_width = 28;
constexpr int amount_width = 14;
constexpr int balance_width = 14;
/// Where the balance column starts: a balance row's label is padded to it.
constexpr int label_width = sequence_width + 2 + description_width + 1 + amount_width + 1;

/// A line's description in the text layout: its kind, and the other account of a transfer or
/// of a transfer's fee.
std::string describe(const v1::Line& line) {
  if (line.kind() == "transfer_out")
    return fmt::format("transfer to {}", line.counterparty());
  if (line.kind() == "transfer_in")
    return fmt::format("transfer from {}", line.counterparty());
  if (line.kind() == "fee_out")
    return "transfer fee";
  if (line.kind() == "fee_in")
    return fmt::format("transfer fee from {}", line.counterparty());
  if (!line.counterparty().empty())
    return fmt::format("{} ({})", line.kind(), line.counterparty());
  return line.kind();
}

/// A signed amount in the text layout: "+1.50", "-0.20".
std::string signed_cents(std::int64_t cents) {
  return cents > 0 ? "+" + format_cents(cents) : format_cents(cents);
}

/// One CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
std::string csv_field(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos)
    return std::string{value};
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"')
      quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

/// One CSV row of the statement of `account`.
std::string csv_row(const std::string& account, std::string_view sequence, std::string_view kind,
                    std::string_view amount, std::int64_t balance, std::string_view counterparty) {
  return fmt::format("{},{},{},{},{},{}\n", csv_field(account), sequence, csv_field(kind), amount,
                     balance, csv_field(counterparty));
}

} // namespace

std::string_view name_of(statement_format format) noexcept {
  return format == statement_format::csv ? "csv" : "text";
}

v1::Statement make_statement(const std::string& account_id, const bank::HistoryReply& history,
                             statement_format format, const std::string& version) {
  v1::Statement statement;
  statement.set_account_id(account_id);
  statement.set_format(std::string{name_of(format)});
  statement.set_version(version);
  bool first = true;
  for (const auto& entry : history.entries()) {
    if (entry.account_id() != account_id)
      continue;
    statement.set_last_sequence(entry.sequence());
    statement.set_closing_balance(entry.balance_after());
    if (first) {
      first = false;
      if (entry.kind() == "open") {
        statement.set_opening_balance(entry.balance_after());
        continue;
      }
      statement.set_opening_balance(entry.balance_after() - entry.delta());
    }
    auto& line = *statement.add_lines();
    line.set_sequence(entry.sequence());
    line.set_kind(entry.kind());
    line.set_amount(entry.delta());
    line.set_balance_after(entry.balance_after());
    line.set_counterparty(entry.counterparty());
  }
  statement.set_text(format == statement_format::csv ? render_csv(statement)
                                                     : render_text(statement));
  return statement;
}

std::string render_text(const v1::Statement& statement) {
  std::string text = fmt::format("Statement of account {}\n", statement.account_id());
  text += fmt::format("{:<{}}{:>{}}\n", "Opening balance", label_width,
                      format_cents(statement.opening_balance()), balance_width);
  for (const auto& line : statement.lines())
    text += fmt::format("{:>{}}  {:<{}} {:>{}} {:>{}}\n", line.sequence(), sequence_width,
                        describe(line), description_width, signed_cents(line.amount()),
                        amount_width, format_cents(line.balance_after()), balance_width);
  text += fmt::format("{:<{}}{:>{}}\n", "Closing balance", label_width,
                      format_cents(statement.closing_balance()), balance_width);
  text += fmt::format("acme.statements {}\n", statement.version());
  return text;
}

std::string render_csv(const v1::Statement& statement) {
  const auto& account = statement.account_id();
  std::string text = "account_id,sequence,kind,amount,balance_after,counterparty\n";
  text += csv_row(account, "", "opening_balance", "", statement.opening_balance(), "");
  for (const auto& line : statement.lines())
    text += csv_row(account, std::to_string(line.sequence()), line.kind(),
                    std::to_string(line.amount()), line.balance_after(), line.counterparty());
  text += csv_row(account, "", "closing_balance", "", statement.closing_balance(), "");
  return text;
}

std::string format_cents(std::int64_t cents) {
  // The magnitude as unsigned, so that the lowest int64 has one too.
  auto magnitude =
    cents < 0 ? 0 - static_cast<std::uint64_t>(cents) : static_cast<std::uint64_t>(cents);
  return fmt::format("{}{}.{:02}", cents < 0 ? "-" : "", magnitude / 100, magnitude % 100);
}

} // namespace acme::statements
