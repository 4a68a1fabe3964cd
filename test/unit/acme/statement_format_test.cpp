// The acme.statements module's statements without actors (statement_format.hpp): the balances
// and lines made from ledger entries, and both layouts of the text.
#include "statement_format.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <string>

using namespace acme::statements;

namespace {

/// Appends an entry of `account` to `history`.
void add_entry(bank::HistoryReply& history, std::uint64_t sequence, const std::string& account,
               const std::string& kind, std::int64_t delta, std::int64_t balance_after,
               const std::string& counterparty = {}) {
  auto& entry = *history.add_entries();
  entry.set_sequence(sequence);
  entry.set_account_id(account);
  entry.set_kind(kind);
  entry.set_delta(delta);
  entry.set_balance_after(balance_after);
  entry.set_counterparty(counterparty);
}

/// ada: opened with 1.00, +0.50, a transfer of 0.20 to bob, +0.25; bob's entries between them.
bank::HistoryReply ada_and_bob() {
  bank::HistoryReply history;
  add_entry(history, 1, "ada", "open", 100, 100);
  add_entry(history, 2, "bob", "open", 0, 0);
  add_entry(history, 3, "ada", "deposit", 50, 150);
  add_entry(history, 4, "ada", "transfer_out", -20, 130, "bob");
  add_entry(history, 5, "bob", "transfer_in", 20, 20, "ada");
  add_entry(history, 6, "ada", "deposit", 25, 155);
  return history;
}

} // namespace

TEST_CASE("a statement opens with the account's opening and has a line per later entry", "[unit]") {
  auto statement = make_statement("ada", ada_and_bob(), statement_format::text, "1.0.0");
  CHECK(statement.account_id() == "ada");
  CHECK(statement.version() == "1.0.0");
  CHECK(statement.opening_balance() == 100);
  CHECK(statement.closing_balance() == 155);
  CHECK(statement.last_sequence() == 6);
  REQUIRE(statement.lines_size() == 3);
  CHECK(statement.lines(0).sequence() == 3);
  CHECK(statement.lines(0).kind() == "deposit");
  CHECK(statement.lines(0).amount() == 50);
  CHECK(statement.lines(0).balance_after() == 150);
  CHECK(statement.lines(1).kind() == "transfer_out");
  CHECK(statement.lines(1).amount() == -20);
  CHECK(statement.lines(1).counterparty() == "bob");
  CHECK(statement.lines(2).balance_after() == 155);

  SECTION("a record without its opening starts from the balance before its first entry") {
    bank::HistoryReply history;
    add_entry(history, 7, "cy", "deposit", 30, 80);
    add_entry(history, 8, "cy", "withdraw", -5, 75);
    auto partial = make_statement("cy", history, statement_format::text, "1.0.0");
    CHECK(partial.opening_balance() == 50);
    CHECK(partial.closing_balance() == 75);
    CHECK(partial.lines_size() == 2);
  }
  SECTION("no entries: no lines and nothing is the last sequence") {
    auto empty = make_statement("nobody", ada_and_bob(), statement_format::text, "1.0.0");
    CHECK(empty.lines_size() == 0);
    CHECK(empty.last_sequence() == 0);
    CHECK(empty.closing_balance() == 0);
  }
}

TEST_CASE("format 1 lays a statement out as a plain text page", "[unit]") {
  auto statement = make_statement("ada", ada_and_bob(), statement_format::text, "1.0.0");
  CHECK(statement.format() == "text");
  CHECK(statement.text()
        == "Statement of account ada\n"
           "Opening balance                                               1.00\n"
           "     3  deposit                               +0.50           1.50\n"
           "     4  transfer to bob                       -0.20           1.30\n"
           "     6  deposit                               +0.25           1.55\n"
           "Closing balance                                               1.55\n"
           "acme.statements 1.0.0\n");
}

TEST_CASE("format 1 describes a transfer's fee on the sender and on fees", "[unit]") {
  // ada pays bob 0.20 and a fee of 0.01 to fees, which the transfer opens (bank.transfer_fee).
  bank::HistoryReply history;
  add_entry(history, 1, "ada", "open", 150, 150);
  add_entry(history, 2, "bob", "open", 0, 0);
  add_entry(history, 3, "ada", "transfer_out", -20, 130, "bob");
  add_entry(history, 4, "bob", "transfer_in", 20, 20, "ada");
  add_entry(history, 5, "ada", "fee_out", -1, 129, "fees");
  add_entry(history, 6, "fees", "open", 0, 0);
  add_entry(history, 7, "fees", "fee_in", 1, 1, "ada");
  CHECK(make_statement("ada", history, statement_format::text, "1.0.0").text()
        == "Statement of account ada\n"
           "Opening balance                                               1.50\n"
           "     3  transfer to bob                       -0.20           1.30\n"
           "     5  transfer fee                          -0.01           1.29\n"
           "Closing balance                                               1.29\n"
           "acme.statements 1.0.0\n");
  CHECK(make_statement("fees", history, statement_format::text, "1.0.0").text()
        == "Statement of account fees\n"
           "Opening balance                                               0.00\n"
           "     7  transfer fee from ada                 +0.01           0.01\n"
           "Closing balance                                               0.01\n"
           "acme.statements 1.0.0\n");
}

TEST_CASE("format 2 lays a statement out as CSV rows in cents", "[unit]") {
  auto statement = make_statement("ada", ada_and_bob(), statement_format::csv, "2.0.0");
  CHECK(statement.format() == "csv");
  CHECK(statement.version() == "2.0.0");
  CHECK(statement.text()
        == "account_id,sequence,kind,amount,balance_after,counterparty\n"
           "ada,,opening_balance,,100,\n"
           "ada,3,deposit,50,150,\n"
           "ada,4,transfer_out,-20,130,bob\n"
           "ada,6,deposit,25,155,\n"
           "ada,,closing_balance,,155,\n");

  SECTION("a field holding a comma, a quote or a line break is quoted") {
    bank::HistoryReply history;
    add_entry(history, 1, "a,\"b\"", "open", 10, 10);
    add_entry(history, 2, "a,\"b\"", "transfer_in", 5, 15, "c\nd");
    auto quoted = make_statement("a,\"b\"", history, statement_format::csv, "2.0.0");
    CHECK(quoted.text()
          == "account_id,sequence,kind,amount,balance_after,counterparty\n"
             "\"a,\"\"b\"\"\",,opening_balance,,10,\n"
             "\"a,\"\"b\"\"\",2,transfer_in,5,15,\"c\nd\"\n"
             "\"a,\"\"b\"\"\",,closing_balance,,15,\n");
  }
}

TEST_CASE("cents are shown as units with two decimals, the lowest int64 included", "[unit]") {
  CHECK(format_cents(0) == "0.00");
  CHECK(format_cents(5) == "0.05");
  CHECK(format_cents(-5) == "-0.05");
  CHECK(format_cents(12345) == "123.45");
  CHECK(format_cents(std::numeric_limits<std::int64_t>::max()) == "92233720368547758.07");
  CHECK(format_cents(std::numeric_limits<std::int64_t>::min()) == "-92233720368547758.08");
}
