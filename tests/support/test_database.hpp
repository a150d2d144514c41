// Which store the suites run on, and a fresh database for each test on it.
//
// PROMPT_TEST_STORE=postgres runs them on PostgreSQL: PROMPT_TEST_POSTGRES_URL names a server
// where the tests may create and drop databases (tests/with-postgres starts a throwaway one
// and sets both). Unset, or "sqlite", they run on SQLite files in temporary directories.
// Tests that exercise one backend's own mechanics (SQLite's file locks, say) are marked
// with sqliteOnly() or postgresOnly() and reported as skipped on the other.
#pragma once

#include <string>
#include <vector>

namespace testing_support {

bool onPostgres();

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

// A connection of the test's own to the location's database, kept open: to hold a lock in a
// transaction (SQLite's write lock, a PostgreSQL table lock) while the store under test works.
// Closing it ends (rolls back) any transaction it holds.
class HeldConnection {
 public:
  explicit HeldConnection(const std::string& location);
  ~HeldConnection();
  HeldConnection(const HeldConnection&) = delete;
  HeldConnection& operator=(const HeldConnection&) = delete;

  // Runs SQL without results; throws std::runtime_error (without the URL) on failure.
  void exec(const std::string& sql);

 private:
  void* sqlite_ = nullptr;    // sqlite3*
  void* postgres_ = nullptr;  // PGconn*
};

}  // namespace testing_support
