// Thin RAII over the SQLite C API: a connection and prepared statements whose failures
// become StoreError with the statement's purpose and SQLite's own message.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "store/store_error.hpp"

namespace api {

// One SQLite connection. Not thread-safe: the owner serialises access.
class SqliteDb {
 public:
  // Opens (creating if needed) the database file at `path`. A new file gets mode 0600;
  // its directory is created with mode 0700 when missing. Throws StoreError for a file that
  // is a symlink, not this user's, or writable by others, and for a directory that others
  // could write (see checkFileTrusted and checkDirectoryTrusted in the .cpp).
  explicit SqliteDb(const std::string& path);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  // Runs one or more statements that return no rows. `what` names the purpose for errors.
  void exec(std::string_view sql, std::string_view what);

  // Throws StoreError for `rc` when it is not SQLITE_OK/ROW/DONE.
  void check(int rc, std::string_view what) const;

  // Calls `trace` once for every statement run on this connection, when it has finished,
  // with its SQL as written (parameters as ?N: bound values, which may be key hashes, never
  // appear) and how long it ran. Empty: no tracing, at no cost.
  using StatementTrace = std::function<void(std::string_view sql, std::int64_t took_ns)>;
  void traceStatements(StatementTrace trace);

 private:
  friend class Transaction;
  // The statements that begin and end a transaction, each prepared once per connection.
  enum Control { kBeginWrite, kBeginRead, kCommit, kRollback, kControlCount };
  // Steps one of them and resets it; SQLite's result code (SQLITE_DONE when it ran).
  int runControl(Control which) noexcept;

  static int onTrace(unsigned type, void* self, void* statement, void* detail);

  sqlite3* db_ = nullptr;
  std::array<sqlite3_stmt*, kControlCount> control_{};
  std::string path_;
  StatementTrace trace_;
};

// A statement as the stores name it: its SQL and what it does, for errors ("reading a
// key"). Every statement of the SQLite stores is a constant Query.
struct Query {
  std::string_view sql;
  std::string_view what;
};

// A prepared statement, reset after each use.
class Statement {
 public:
  // `persistent`: the statement lives as long as the connection (SQLite plans for reuse).
  Statement(SqliteDb& db, std::string_view sql, std::string_view what, bool persistent = false);
  explicit Statement(SqliteDb& db, const Query& query, bool persistent = false)
      : Statement(db, query.sql, query.what, persistent) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, std::string_view value);
  // As bind, without copying: REQUIRED: `value` stays valid until the statement is run
  // (or re-bound). For hot loops over data that outlives them.
  Statement& bindUncopied(int index, std::string_view value);
  Statement& bindNull(int index);
  Statement& bindBlob(int index, std::string_view bytes);

  // Steps once: true when a row is available, false when done.
  bool step();
  std::int64_t columnInt(int column) const;
  std::string columnText(int column) const;
  // Valid until the next step or reset.
  std::string_view columnView(int column) const;
  // Valid until the next step or reset.
  std::string_view columnBlob(int column) const;
  bool columnIsNull(int column) const;

  // Steps to completion and resets; for statements that return no rows.
  void run();
  void reset();

 private:
  SqliteDb& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string what_;
};

// The one way the SQLite stores run a transaction: begun on construction, rolled back on
// destruction unless committed (so a throw anywhere inside leaves nothing half-written).
//  - kWrite: BEGIN IMMEDIATE, taking the write lock at once, so a read-then-write cannot
//    deadlock against another writer, and what was read stays true until the commit;
//  - kRead: BEGIN (deferred): one consistent snapshot for several reads, no write lock.
// Its statements are prepared once per connection: a transaction costs no parse.
class Transaction {
 public:
  enum class Mode { kWrite, kRead };
  // REQUIRED: `what` (for errors: "a rate-limit check") outlives the transaction.
  Transaction(SqliteDb& db, std::string_view what, Mode mode = Mode::kWrite);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  SqliteDb& db_;
  std::string_view what_;
  bool open_ = true;
};

}  // namespace api
