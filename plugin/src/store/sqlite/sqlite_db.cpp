#include "store/sqlite/sqlite_db.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace api {
namespace {

std::string parentOf(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) {
    return slash == 0 ? "/" : ".";
  }
  return path.substr(0, slash);
}

void makeDirectories(const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") {
    return;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      throw StoreError("cannot create database: '" + dir + "' exists and is not a directory");
    }
    return;
  }
  makeDirectories(parentOf(dir));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw StoreError("cannot create directory '" + dir + "': " + std::strerror(errno));
  }
}

// Creates the file with mode 0600 before SQLite opens it, so the database (and the -wal and
// -shm files, which SQLite gives the database file's mode) is never readable by others.
// An existing file is not touched: closing any descriptor of a file drops every POSIX lock
// this process holds on it, so opening and closing it beside a live connection would make
// other processes believe that connection gone (and, closing last, delete its WAL).
void createPrivateFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) {
      return;  // checkFileTrusted and SQLite look at what is there
    }
    throw StoreError("cannot create database file '" + path + "': " + std::strerror(errno));
  }
  ::close(fd);  // new: no connection can hold locks on it yet
}

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// Refuses, as ssh refuses a loose ~/.ssh, a database that someone else could have planted or
// could change: the file must be a regular file (never a symlink: SQLite is also told not
// to follow one) owned by this user, writable by nobody else, in a directory owned by this
// user or root that nobody else can write (a sticky directory such as /tmp protects a file
// of ours from the others who may write it): the directory before anything is created in
// it, the file before SQLite opens it. By path, without opening the file: see
// createPrivateFile on why an open beside a live connection is harmful.
void checkDirectoryTrusted(const std::string& dir) {
  const uid_t me = ::geteuid();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    throw StoreError("cannot check database directory '" + dir + "': " + std::strerror(errno));
  }
  if (st.st_uid != me && st.st_uid != 0) {
    throw StoreError("refusing database directory '" + dir + "': it is owned by uid " +
                     std::to_string(st.st_uid) + ", not by this user (uid " + std::to_string(me) +
                     ") or root");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    throw StoreError("refusing database directory '" + dir + "': mode " + octal(st.st_mode) +
                     " lets others replace the database; make it writable by its owner only "
                     "(chmod go-w)");
  }
}

void checkFileTrusted(const std::string& path) {
  const uid_t me = ::geteuid();
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    throw StoreError("cannot check database file '" + path + "': " + std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) {
    throw StoreError("refusing database file '" + path +
                     "': it is a symbolic link; set databasePath to the file itself");
  }
  if (!S_ISREG(st.st_mode)) {
    throw StoreError("refusing database file '" + path + "': it is not a regular file");
  }
  if (st.st_uid != me) {
    throw StoreError("refusing database file '" + path + "': it is owned by uid " +
                     std::to_string(st.st_uid) + ", not by this user (uid " + std::to_string(me) +
                     "); another user's database could hold keys only they know");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    throw StoreError("refusing database file '" + path + "': mode " + octal(st.st_mode) +
                     " lets others write it; make it private (chmod 600)");
  }
}

}  // namespace

SqliteDb::SqliteDb(const std::string& path) : path_(path) {
  // A URL is never a database file here: taken as one it would become directories named
  // after it, password and all. Not shown, for the same reason.
  if (path.find("://") != std::string::npos) {
    throw StoreError(
        "refusing a database path that holds a URL (\"://\"; not shown, as it may hold a "
        "password): the SQLite store takes a file path; a PostgreSQL database is named by "
        "databaseUrl");
  }
  makeDirectories(parentOf(path));
  checkDirectoryTrusted(parentOf(path));
  createPrivateFile(path);
  checkFileTrusted(path);
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw StoreError("cannot open database '" + path + "': " + message);
  }
  sqlite3_extended_result_codes(db_, 1);
}

namespace {
bool isTransient(int rc) {
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}
}  // namespace

SqliteDb::~SqliteDb() {
  for (sqlite3_stmt* statement : control_) {
    sqlite3_finalize(statement);
  }
  sqlite3_close_v2(db_);
}

void SqliteDb::traceStatements(StatementTrace trace) {
  trace_ = std::move(trace);
  check(sqlite3_trace_v2(db_, trace_ ? SQLITE_TRACE_PROFILE : 0, trace_ ? &onTrace : nullptr, this),
        "setting statement tracing");
}

int SqliteDb::onTrace(unsigned type, void* self, void* statement, void* detail) {
  if (type != SQLITE_TRACE_PROFILE || statement == nullptr) {
    return 0;
  }
  try {
    // sqlite3_sql: the text as prepared. Never sqlite3_expanded_sql, which holds the values.
    const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(statement));
    static_cast<SqliteDb*>(self)->trace_(sql != nullptr ? sql : "",
                                         *static_cast<const sqlite3_int64*>(detail));
  } catch (...) {  // a trace record lost to a failed allocation must not cross into SQLite
  }
  return 0;
}

void SqliteDb::check(int rc, std::string_view what) const {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) {
    return;
  }
  throw StoreError(
      std::string(what) + " failed on database '" + path_ + "': " + sqlite3_errmsg(db_),
      isTransient(sqlite3_extended_errcode(db_)) || isTransient(rc));
}

void SqliteDb::exec(std::string_view sql, std::string_view what) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string reason = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw StoreError(std::string(what) + " failed on database '" + path_ + "': " + reason,
                     isTransient(rc));
  }
}

Statement::Statement(SqliteDb& db, std::string_view sql, std::string_view what, bool persistent)
    : db_(db), what_(what) {
  db_.check(sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                               persistent ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr),
            what_);
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int index, std::int64_t value) {
  db_.check(sqlite3_bind_int64(stmt_, index, value), what_);
  return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
  db_.check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()),
                              SQLITE_TRANSIENT),
            what_);
  return *this;
}

Statement& Statement::bindUncopied(int index, std::string_view value) {
  db_.check(
      sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC),
      what_);
  return *this;
}

Statement& Statement::bindBlob(int index, std::string_view bytes) {
  db_.check(sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT), what_);
  return *this;
}

namespace {

// `data` as SQLite returned it for `column` (NULL for an SQL NULL or an empty value), with
// the length SQLite reports for it: valid until the next step or reset.
std::string_view columnBytes(sqlite3_stmt* stmt, const void* data, int column) {
  return data == nullptr
             ? std::string_view()
             : std::string_view(static_cast<const char*>(data),
                                static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

}  // namespace

std::string_view Statement::columnBlob(int column) const {
  return columnBytes(stmt_, sqlite3_column_blob(stmt_, column), column);
}

Statement& Statement::bindNull(int index) {
  db_.check(sqlite3_bind_null(stmt_, index), what_);
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  sqlite3_reset(stmt_);
  db_.check(rc, what_);
  return false;
}

std::int64_t Statement::columnInt(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Statement::columnText(int column) const {
  return std::string(columnView(column));
}

std::string_view Statement::columnView(int column) const {
  return columnBytes(stmt_, sqlite3_column_text(stmt_, column), column);
}

bool Statement::columnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int SqliteDb::runControl(Control which) noexcept {
  static constexpr std::array<std::string_view, kControlCount> kControl{"BEGIN IMMEDIATE", "BEGIN",
                                                                        "COMMIT", "ROLLBACK"};
  sqlite3_stmt*& statement = control_[which];
  if (statement == nullptr) {
    const std::string_view sql = kControl[which];
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &statement, nullptr);
    if (rc != SQLITE_OK) {
      return rc;
    }
  }
  const int rc = sqlite3_step(statement);
  sqlite3_reset(statement);
  return rc;
}

Transaction::Transaction(SqliteDb& db, std::string_view what, Mode mode) : db_(db), what_(what) {
  const int rc =
      db_.runControl(mode == Mode::kWrite ? SqliteDb::kBeginWrite : SqliteDb::kBeginRead);
  if (rc != SQLITE_DONE) {
    db_.check(rc, "starting a transaction for " + std::string(what_));
  }
}

Transaction::~Transaction() {
  if (open_ && db_.runControl(SqliteDb::kRollback) != SQLITE_DONE &&
      sqlite3_get_autocommit(db_.handle()) == 0) {
    // Still inside the transaction (a rollback can fail on I/O or memory): try once more,
    // or every later BEGIN on this connection would fail.
    db_.runControl(SqliteDb::kRollback);
  }
}

void Transaction::commit() {
  const int rc = db_.runControl(SqliteDb::kCommit);
  if (rc != SQLITE_DONE) {
    db_.check(rc, "committing " + std::string(what_));
  }
  open_ = false;
}

}  // namespace api
