// The embedded store: one SQLite file in WAL mode, shared safely by every process of the
// host on this machine.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "store/sqlite_db.hpp"
#include "store/store.hpp"

namespace api {

struct SqliteStoreOptions {
  std::string path;                     // database file; created (mode 0600) when missing
  std::int64_t busy_timeout_ms = 5000;  // wait this long for another process's lock
};

class SqliteStore final : public ApiStore {
 public:
  // Opens the database, sets WAL, busy timeout and foreign keys, and applies every pending
  // migration in one transaction each (concurrent openers wait for each other). Throws
  // StoreError, e.g. when the file's schema is newer than this build knows.
  explicit SqliteStore(const SqliteStoreOptions& options);

  StoreHealth health() noexcept override;
  std::int64_t deleteRateLimitWindowsEndedBy(TimePoint cutoff) override;

  // The highest migration version applied to the file.
  int schemaVersion();

 private:
  void migrate();
  int appliedVersion();

  std::mutex mutex_;  // guards db_ and the statements
  SqliteDb db_;
};

}  // namespace api
