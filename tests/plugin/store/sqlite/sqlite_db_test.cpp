// SqliteDb, Statement and Transaction: failures become StoreError naming the statement's
// purpose and SQLite's reason, never a bound value; a transaction left without commit rolls
// back.
#include "store/sqlite/sqlite_db.hpp"

#include <boost/test/unit_test.hpp>
#include <functional>
#include <string>

#include "process.hpp"

namespace {

using api::Query;
using api::SqliteDb;
using api::Statement;
using api::StoreError;
using testing_support::TempDir;

std::string errorOf(const std::function<void()>& run) {
  try {
    run();
  } catch (const StoreError& e) {
    return e.what();
  }
  return "(no error)";
}

constexpr Query kCreate{"CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
                        "creating the test table"};
constexpr Query kInsert{"INSERT INTO t (name) VALUES (?1)", "inserting a test row"};
constexpr Query kCount{"SELECT count(*) FROM t", "counting test rows"};

std::int64_t count(SqliteDb& db) {
  Statement select(db, kCount);
  BOOST_REQUIRE(select.step());
  return select.columnInt(0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sqlite_db)

BOOST_AUTO_TEST_CASE(a_failing_statement_names_its_purpose_and_the_reason_not_its_values) {
  TempDir dir;
  SqliteDb db(dir.path() + "/t.db");
  db.exec(kCreate.sql, kCreate.what);
  Statement(db, kInsert).bind(1, std::string_view("secret-value-1")).run();
  const std::string error =
      errorOf([&] { Statement(db, kInsert).bind(1, std::string_view("secret-value-1")).run(); });
  BOOST_TEST(error.find("inserting a test row") != std::string::npos, error);
  BOOST_TEST(error.find("UNIQUE") != std::string::npos, error);
  BOOST_TEST(error.find("secret-value-1") == std::string::npos, error);
}

BOOST_AUTO_TEST_CASE(a_statement_that_does_not_prepare_names_its_purpose) {
  TempDir dir;
  SqliteDb db(dir.path() + "/t.db");
  const std::string error = errorOf([&] { Statement(db, Query{"SELEC 1", "probing"}); });
  BOOST_TEST(error.find("probing") != std::string::npos, error);
}

BOOST_AUTO_TEST_CASE(a_transaction_rolls_back_unless_committed) {
  TempDir dir;
  SqliteDb db(dir.path() + "/t.db");
  db.exec(kCreate.sql, kCreate.what);
  {
    api::Transaction transaction(db, "a test transaction");
    Statement(db, kInsert).bind(1, std::string_view("a")).run();
  }
  BOOST_TEST(count(db) == 0);
  {
    api::Transaction transaction(db, "a test transaction");
    Statement(db, kInsert).bind(1, std::string_view("b")).run();
    transaction.commit();
  }
  BOOST_TEST(count(db) == 1);
}

BOOST_AUTO_TEST_CASE(columns_read_text_blobs_and_nulls_with_their_lengths) {
  TempDir dir;
  SqliteDb db(dir.path() + "/t.db");
  Statement select(db, Query{"SELECT 'a' || char(0) || 'b', x'00ff', NULL, ''", "reading"});
  BOOST_REQUIRE(select.step());
  BOOST_TEST(select.columnText(0) == std::string("a\0b", 3));
  BOOST_TEST(select.columnView(0).size() == 3u);
  BOOST_TEST(select.columnBlob(1) == std::string("\x00\xff", 2));
  BOOST_TEST(select.columnIsNull(2));
  BOOST_TEST(select.columnView(2).empty());
  BOOST_TEST(!select.columnIsNull(3));
  BOOST_TEST(select.columnText(3).empty());
}

BOOST_AUTO_TEST_SUITE_END()
