// The embedded store: one SQLite file in WAL mode, shared safely by every process of the
// host on this machine.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "store/sqlite_db.hpp"
#include "store/store.hpp"
#include "store/wal_index_watch.hpp"

namespace api {

struct SqliteStoreOptions {
  SqliteStoreOptions(std::string path_in, std::int64_t busy_timeout_ms_in = 5000,
                     SqliteDb::StatementTrace trace_in = {})
      : path(std::move(path_in)), busy_timeout_ms(busy_timeout_ms_in), trace(std::move(trace_in)) {}

  std::string path;                // database file; created (mode 0600) when missing
  std::int64_t busy_timeout_ms;    // wait this long for another process's lock
  SqliteDb::StatementTrace trace;  // every statement run, once opened (see SqliteDb)
};

class SqliteStore final : public ApiStore {
 public:
  // Opens the database, sets WAL, busy timeout and foreign keys, and applies every pending
  // migration in one transaction each (concurrent openers wait for each other). Throws
  // StoreError, e.g. when the file's schema is newer than this build knows.
  explicit SqliteStore(const SqliteStoreOptions& options);

  StoreHealth health() noexcept override;
  // From the wal-index header in the "-shm" file (see WalIndexWatch).
  std::optional<ChangeStamp> changeStamp() const noexcept override;
  std::int64_t deleteRateLimitWindowsEndedBy(TimePoint cutoff, TimePoint now,
                                             std::int64_t sub_window_ms) override;

  InsertOutcome insertKey(const KeyRecord& key, std::int64_t max_active_per_user, TimePoint now,
                          const AuditRecord& audit) override;
  std::optional<KeyRecord> findKeyByHash(std::string_view key_hash) override;
  std::optional<KeyRecord> findKeyById(std::string_view id) override;
  std::vector<KeyRecord> listKeys(std::optional<std::string_view> user_id) override;
  ChangeResult revokeKey(std::string_view id, std::string_view reason, TimePoint at,
                         const AuditRecord& audit) override;
  ChangeResult rotateKey(std::string_view old_id, const KeyRecord& replacement, TimePoint now,
                         TimePoint old_revoked_at, std::int64_t max_active_per_user,
                         const AuditRecord& old_audit, const AuditRecord& new_audit) override;
  bool undoRotation(std::string_view old_id, std::string_view new_id, TimePoint old_revoked_at,
                    TimePoint now, const AuditRecord& old_audit,
                    const AuditRecord& new_audit) override;
  bool touchKeyLastUsed(std::string_view id, TimePoint at) override;
  std::vector<AuditRecord> auditTrail(std::string_view key_id) override;

  std::pair<WindowSnapshot, bool> checkWindows(const WindowCheck& check, const Clock& clock,
                                               WindowDecider& decider) override;
  std::optional<std::int64_t> resetWindows(std::string_view key_id,
                                           const AuditRecord& audit) override;
  std::optional<std::int64_t> updateRateLimit(std::string_view key_id, std::int64_t new_limit,
                                              const AuditRecord& audit) override;

  bool keyExists(std::string_view id) override;
  void writeRequests(const std::vector<RequestRecord>& records, const RollupDelta& delta) override;
  void readUsage(const UsageQuery& query, UsageVisitor& visitor) override;
  std::pair<std::int64_t, std::int64_t> deleteUsageBefore(std::int64_t raw_cutoff_ms,
                                                          std::int64_t rollup_cutoff_ms) override;
  void addCounters(const std::vector<std::pair<std::string, std::int64_t>>& deltas,
                   TimePoint now) override;
  std::vector<Counter> counters() override;

  // The highest migration version applied to the file.
  int schemaVersion();

  // Cleanup's delete of ended windows (?1 the cutoff, ?2 the sub-window length), public so
  // that a test can check its query plan. The first condition lets SQLite walk
  // idx_api_rate_limits_window_start instead of scanning the table: every row of the current
  // sub-window length that ended by ?1 satisfies it (rows of a shorter, older configuration
  // wait for a later run).
  static constexpr std::string_view kDeleteEndedWindowsSql =
      "DELETE FROM api_rate_limits"
      " WHERE window_start <= ?1 - ?2 AND window_start + window_size <= ?1";

 private:
  void migrate();
  int appliedVersion();
  // REQUIRED: mutex_ held.
  std::optional<KeyRecord> keyById(std::string_view id);
  void insertKeyRow(const KeyRecord& key);
  void insertAudit(const AuditRecord& audit);
  void deleteWindowsOf(std::string_view key_id);
  std::int64_t activeKeysOf(std::string_view user_id, TimePoint now);

  std::mutex mutex_;  // guards db_ and the statements
  SqliteDb db_;
  std::int64_t busy_timeout_ms_;
  // api_requests.id is TEXT in a database made by the original system: rows then need an id.
  bool request_ids_are_text_ = false;
  WindowSnapshot readWindows(std::string_view key_id, TimePoint now, const WindowPlan& plan);

  // Prepared once: the request path.
  std::unique_ptr<Statement> find_by_hash_;
  std::unique_ptr<Statement> begin_immediate_;
  std::unique_ptr<Statement> commit_;
  std::unique_ptr<Statement> select_windows_;
  std::unique_ptr<Statement> add_to_window_;
  std::unique_ptr<WalIndexWatch> watch_;  // reads db_'s own mapping; destroyed before db_
};

}  // namespace api
