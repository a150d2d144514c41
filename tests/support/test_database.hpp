// Which store the suites run on, and a fresh database for each test on it.
//
// PROMPT_TEST_STORE=postgres runs them on PostgreSQL: PROMPT_TEST_POSTGRES_URL names a server
// where the tests may create and drop databases (tests/with-postgres starts a throwaway one
// and sets both). Unset, or "sqlite", they run on SQLite files in temporary directories.
// Tests that exercise one backend's own mechanics (SQLite's file locks, say) are marked
// with sqliteOnly() or postgresOnly() and reported as skipped on the other.
#pragma once

#include <boost/test/tools/assertion_result.hpp>
#include <boost/test/tree/decorator.hpp>
#include <string>
#include <vector>

namespace testing_support {

bool onPostgres();

// Boost.Test preconditions: the test runs on SQLite only / PostgreSQL only, and is reported as
// skipped, saying why, on the other.
inline boost::test_tools::assertion_result sqliteOnly(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(!onPostgres());
  result.message() << "exercises SQLite's own mechanics; not run on PostgreSQL";
  return result;
}
inline boost::test_tools::assertion_result postgresOnly(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(onPostgres());
  result.message() << "exercises PostgreSQL's own mechanics; run with PROMPT_TEST_STORE=postgres";
  return result;
}

// One test's database: on SQLite the file `<dir>/api.sqlite3` (made on first opening); on
// PostgreSQL a new database on the test server, dropped (with any session still on it) when
// this goes.
class TestDatabase {
 public:
  explicit TestDatabase(const std::string& dir);
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // The SQLite file's path, or the PostgreSQL database's URL (with its password).
  const std::string& location() const { return location_; }

 private:
  std::string location_;
  std::string name_;  // PostgreSQL: the database's name
};

// Whether a location (as TestDatabase gives it) is a PostgreSQL URL.
bool isPostgresUrl(const std::string& location);

// Runs SQL without results on the location's database (setting up or breaking a store).
void execSql(const std::string& location, const std::string& sql);

// Runs one query on the location's database: its rows, each cell as text ("" for NULL).
std::vector<std::vector<std::string>> querySql(const std::string& location, const std::string& sql);
// The first cell of the first row of querySql ("" when there is none).
std::string queryValue(const std::string& location, const std::string& sql);

// A connection of its own to the location's database, as another process would hold one: to
// take and keep a lock while the code under test runs.
class SqlSession {
 public:
  explicit SqlSession(const std::string& location);
  ~SqlSession();
  SqlSession(const SqlSession&) = delete;
  SqlSession& operator=(const SqlSession&) = delete;
  // Runs SQL (results ignored); throws std::runtime_error when it fails.
  void exec(const std::string& sql);

 private:
  void* handle_ = nullptr;  // sqlite3* or PGconn*
  bool postgres_;
};

// Holds the usage writers off until released (or destroyed): SQLite's write lock on the whole
// file, or, on PostgreSQL, an ACCESS EXCLUSIVE lock on api_requests, which every batch writes.
// Key lookups go on (SQLite's readers pass a writer in WAL mode; no lookup reads api_requests).
struct WriterLock {
  explicit WriterLock(const std::string& location) : connection(location) {
    connection.exec(isPostgresUrl(location)
                        ? "BEGIN; LOCK TABLE api_requests IN ACCESS EXCLUSIVE MODE"
                        : "BEGIN EXCLUSIVE");
  }
  void release() { connection.exec("ROLLBACK"); }
  SqlSession connection;
};

}  // namespace testing_support
