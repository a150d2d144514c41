// TestDatabase and friends.
#include "test_database.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace testing_support {
namespace {

std::string adminUrl() {
  const char* url = std::getenv("PROMPT_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error(
        "PROMPT_TEST_STORE=postgres needs PROMPT_TEST_POSTGRES_URL (run the suite through "
        "tests/with-postgres, which starts a throwaway server)");
  }
  return url;
}

// The admin URL with another database name (libpq takes the last dbname given).
std::string urlOfDatabase(const std::string& admin, const std::string& name) {
  return admin + (admin.find('?') == std::string::npos ? "?" : "&") + "dbname=" + name;
}

void adminExec(const std::string& sql) {
  PGconn* conn = PQconnectdb(adminUrl().c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string reason = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("cannot reach the test PostgreSQL server: " + reason);
  }
  PGresult* result = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  const std::string reason = PQresultErrorMessage(result);
  PQclear(result);
  PQfinish(conn);
  if (!ok) {
    throw std::runtime_error("test PostgreSQL server: " + sql + ": " + reason);
  }
}

}  // namespace

bool onPostgres() {
  const char* store = std::getenv("PROMPT_TEST_STORE");
  return store != nullptr && std::string(store) == "postgres";
}

bool isPostgresUrl(const std::string& location) {
  return location.rfind("postgres", 0) == 0;
}

TestDatabase::TestDatabase(const std::string& dir) {
  if (!onPostgres()) {
    location_ = dir + "/api.sqlite3";
    return;
  }
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  name_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
          std::to_string(random() % 1'000'000);
  adminExec("CREATE DATABASE " + name_);
  location_ = urlOfDatabase(adminUrl(), name_);
}

TestDatabase::~TestDatabase() {
  if (name_.empty()) {
    return;
  }
  try {
    adminExec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {  // the server is gone already; the throwaway cluster goes with it
  }
}

void execSql(const std::string& location, const std::string& sql) {
  if (!isPostgresUrl(location)) {
    sqlite3* db = nullptr;
    char* error = nullptr;
    const int rc = sqlite3_open(location.c_str(), &db);
    const int exec_rc =
        rc == SQLITE_OK ? sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error) : rc;
    const std::string reason = error != nullptr ? error : sqlite3_errmsg(db);
    sqlite3_free(error);
    sqlite3_close(db);
    if (exec_rc != SQLITE_OK) {
      throw std::runtime_error("a test's SQL failed: " + sql + ": " + reason);
    }
    return;
  }
  PGconn* conn = PQconnectdb(location.c_str());
  PGresult* result = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  const std::string reason = PQresultErrorMessage(result);
  PQclear(result);
  PQfinish(conn);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error("a test's SQL failed: " + sql + ": " + reason);
  }
}

std::vector<std::vector<std::string>> querySql(const std::string& location,
                                               const std::string& sql) {
  std::vector<std::vector<std::string>> rows;
  if (!isPostgresUrl(location)) {
    sqlite3* db = nullptr;
    sqlite3_stmt* statement = nullptr;
    int rc = sqlite3_open(location.c_str(), &db);
    if (rc == SQLITE_OK) {
      rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr);
    }
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
      rc = sqlite3_step(statement);
      if (rc == SQLITE_ROW) {
        auto& row = rows.emplace_back();
        for (int i = 0; i < sqlite3_column_count(statement); ++i) {
          const auto* text = sqlite3_column_text(statement, i);
          row.emplace_back(text == nullptr ? "" : reinterpret_cast<const char*>(text));
        }
      }
    }
    const std::string reason = sqlite3_errmsg(db);
    sqlite3_finalize(statement);
    sqlite3_close(db);
    if (rc != SQLITE_DONE) {
      throw std::runtime_error("a test's query failed: " + sql + ": " + reason);
    }
    return rows;
  }
  PGconn* conn = PQconnectdb(location.c_str());
  PGresult* result = PQexec(conn, sql.c_str());
  const bool ok = PQresultStatus(result) == PGRES_TUPLES_OK;
  const std::string reason = PQresultErrorMessage(result);
  if (ok) {
    for (int r = 0; r < PQntuples(result); ++r) {
      auto& row = rows.emplace_back();
      for (int c = 0; c < PQnfields(result); ++c) {
        row.emplace_back(PQgetvalue(result, r, c));
      }
    }
  }
  PQclear(result);
  PQfinish(conn);
  if (!ok) {
    throw std::runtime_error("a test's query failed: " + sql + ": " + reason);
  }
  return rows;
}

std::string queryValue(const std::string& location, const std::string& sql) {
  const auto rows = querySql(location, sql);
  return rows.empty() || rows.front().empty() ? "" : rows.front().front();
}

HeldConnection::HeldConnection(const std::string& location) {
  if (!isPostgresUrl(location)) {
    sqlite3* db = nullptr;
    if (sqlite3_open(location.c_str(), &db) != SQLITE_OK) {
      const std::string reason = sqlite3_errmsg(db);
      sqlite3_close(db);
      throw std::runtime_error("a test's connection failed: " + reason);
    }
    sqlite_ = db;
    return;
  }
  PGconn* conn = PQconnectdb(location.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string reason = PQerrorMessage(conn);
    PQfinish(conn);
    throw std::runtime_error("a test's connection failed: " + reason);
  }
  postgres_ = conn;
}

HeldConnection::~HeldConnection() {
  if (sqlite_ != nullptr) {
    sqlite3_close(static_cast<sqlite3*>(sqlite_));
  }
  if (postgres_ != nullptr) {
    PQfinish(static_cast<PGconn*>(postgres_));
  }
}

void HeldConnection::exec(const std::string& sql) {
  if (sqlite_ != nullptr) {
    char* error = nullptr;
    const int rc =
        sqlite3_exec(static_cast<sqlite3*>(sqlite_), sql.c_str(), nullptr, nullptr, &error);
    const std::string reason =
        error != nullptr ? error : sqlite3_errmsg(static_cast<sqlite3*>(sqlite_));
    sqlite3_free(error);
    if (rc != SQLITE_OK) {
      throw std::runtime_error("a test's SQL failed: " + sql + ": " + reason);
    }
    return;
  }
  PGresult* result = PQexec(static_cast<PGconn*>(postgres_), sql.c_str());
  const ExecStatusType status = PQresultStatus(result);
  const std::string reason = PQresultErrorMessage(result);
  PQclear(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error("a test's SQL failed: " + sql + ": " + reason);
  }
}

}  // namespace testing_support
