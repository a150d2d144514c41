// The api module's storage boundary. Services talk to ApiStore only; SqliteStore is the
// embedded implementation, and a PostgreSQL one can be added beside it without touching
// anything above this interface.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.hpp"
#include "domain/records.hpp"
#include "domain/usage_types.hpp"

namespace api {

// A storage failure (cannot open, locked out past the busy timeout, corrupt, I/O). The
// message names the operation and the store's own reason; it never contains a secret.
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& message, bool transient = false)
      : std::runtime_error(message), transient_(transient) {}
  // Whether the same request may succeed later: the store was busy, locked, full or failed
  // to do I/O. Not so for a fault in the request or in the store's contents.
  bool transient() const noexcept { return transient_; }

 private:
  bool transient_;
};

struct StoreHealth {
  bool healthy = false;
  int schema_version = 0;         // highest migration applied to the store
  int latest_schema_version = 0;  // highest migration this build knows
  std::string location;           // where the store is, for operators (no credentials)
  std::string problem;            // why it is unhealthy; empty when healthy
};

// An opaque value that changes whenever anything is committed to a store, by any connection
// of any process: two equal stamps mean nothing was committed between their reads.
struct ChangeStamp {
  std::array<std::uint32_t, 12> words{};
  friend bool operator==(const ChangeStamp&, const ChangeStamp&) = default;
};

// All methods are thread-safe.
class ApiStore {
 public:
  virtual ~ApiStore() = default;

  // The store's current change stamp, read without a transaction (so cheaply that a cache
  // can check it on every use); nullopt when this store cannot tell, or a commit is being
  // published right now. A caller that reads the stamp, then the store, may serve what it
  // read for as long as the stamp stays the same.
  virtual std::optional<ChangeStamp> changeStamp() const noexcept { return std::nullopt; }

  // Checks that the store answers and is migrated to the latest schema. Never throws.
  virtual StoreHealth health() noexcept = 0;

  // Deletes rate-limit window rows whose window ended at or before `cutoff`, and every window
  // row of a key revoked at or before `now` (a rotation's grace period that has ended).
  // `sub_window_ms` is the current sub-window length, which lets the store use its index.
  // Idempotent. Returns how many rows went. Throws StoreError.
  virtual std::int64_t deleteRateLimitWindowsEndedBy(TimePoint cutoff, TimePoint now,
                                                     std::int64_t sub_window_ms) = 0;

  // ---- Keys. Every method below throws StoreError on a storage failure. ----

  enum class InsertOutcome { kInserted, kUserAtKeyLimit };

  // Inserts `key` and its `audit` row atomically. When `max_active_per_user` > 0 and the user
  // already has that many keys active at `now`, inserts nothing and says so. Exact across
  // processes: the count and the insert happen under one write lock.
  virtual InsertOutcome insertKey(const KeyRecord& key, std::int64_t max_active_per_user,
                                  TimePoint now, const AuditRecord& audit) = 0;

  // The hot path of validation: one indexed lookup, no write.
  virtual std::optional<KeyRecord> findKeyByHash(std::string_view key_hash) = 0;
  virtual std::optional<KeyRecord> findKeyById(std::string_view id) = 0;

  // Every key, or every key of one user; newest first.
  virtual std::vector<KeyRecord> listKeys(std::optional<std::string_view> user_id) = 0;

  enum class ChangeOutcome { kDone, kNotFound, kAlreadyRevoked, kUserAtKeyLimit };
  struct ChangeResult {
    ChangeOutcome outcome = ChangeOutcome::kNotFound;
    std::optional<KeyRecord> key;  // as it is after the change (or as found)
  };

  // Sets revoked_at/revoked_reason, deletes the key's rate-limit windows and writes `audit`,
  // in one transaction. A key already revoked at `at` is left alone (kAlreadyRevoked); one
  // whose revocation is scheduled later (a rotation grace) is revoked now.
  virtual ChangeResult revokeKey(std::string_view id, std::string_view reason, TimePoint at,
                                 const AuditRecord& audit) = 0;

  // In one transaction: copies the old key's user, name, scopes, limit, expiry and metadata
  // into `replacement` as they are at that moment, inserts it, schedules the old key's
  // revocation (reason "rotated") at `old_revoked_at` (clearing its rate-limit windows when
  // that is `now`), and writes the two audit rows. The old key must be active at `now` with
  // no revocation scheduled (kAlreadyRevoked otherwise). When the old key outlives `now` and
  // `max_active_per_user` > 0, the user must have room for one more active key
  // (kUserAtKeyLimit otherwise). Returns the replacement as inserted.
  virtual ChangeResult rotateKey(std::string_view old_id, const KeyRecord& replacement,
                                 TimePoint now, TimePoint old_revoked_at,
                                 std::int64_t max_active_per_user, const AuditRecord& old_audit,
                                 const AuditRecord& new_audit) = 0;

  // Takes back a rotation whose new key never reached anyone, in one transaction: revokes
  // `new_id` at `now` with reason "secret_not_delivered" (unless it is revoked already) and,
  // when the old key is still revoked exactly as that rotation scheduled (reason "rotated",
  // at `old_revoked_at`), makes it active again. Writes `new_audit`, and `old_audit` when the
  // old key was restored. Returns whether it was (false: something else changed it since).
  virtual bool undoRotation(std::string_view old_id, std::string_view new_id,
                            TimePoint old_revoked_at, TimePoint now, const AuditRecord& old_audit,
                            const AuditRecord& new_audit) = 0;

  // Records that the key was used at `at`, without waiting for another process's lock:
  // returns false (writing nothing) when the store is busy. Callers write at most once a
  // minute per key.
  virtual bool touchKeyLastUsed(std::string_view id, TimePoint at) = 0;

  // The key's audit rows, oldest first.
  virtual std::vector<AuditRecord> auditTrail(std::string_view key_id) = 0;

  // ---- Rate-limit windows ----

  struct WindowCount {
    std::int64_t start_ms = 0;  // sub-window start, ms since the epoch
    std::int64_t count = 0;     // requests (cost units) admitted in it
  };
  struct WindowSnapshot {
    bool key_exists = false;
    std::int64_t limit = 0;               // the key's rate_limit at the time of the check
    std::optional<TimePoint> revoked_at;  // the key's, as stored
    std::optional<TimePoint> expires_at;
    TimePoint now{};                   // the time the decision is made at (see WindowDecider)
    std::vector<WindowCount> windows;  // sub-windows with start in the planned range, ascending
  };
  struct WindowPlan {
    std::int64_t range_first_ms = 0;  // sub-windows with start in [first, last] are read
    std::int64_t range_last_ms = 0;
    std::int64_t consume_start_ms = 0;  // the sub-window a consumed request counts in
  };
  // The rate limiter's side of checkWindows. Neither method may call the store.
  class WindowDecider {
   public:
    virtual ~WindowDecider() = default;
    // Called with the time read once the store holds the key's write lock (for a peek, just
    // before reading): which sub-windows to read and where a consumed request counts.
    virtual WindowPlan plan(TimePoint now) = 0;
    // Whether to consume the cost, given what was read.
    virtual bool admit(const WindowSnapshot& snapshot) = 0;
  };

  struct WindowCheck {
    std::string_view key_id;
    std::int64_t window_size_ms = 0;  // the sub-window length (stored with the row)
    std::int64_t cost = 0;
    bool consume = false;  // false: a peek, which reads without locking or writing
  };

  // Takes the write lock, reads `clock`, asks `decider` for the plan, reads the key's limit,
  // status and planned sub-windows and, when the decider admits, adds `cost` to the
  // sub-window at consume_start_ms: all under one write lock, so check and increment are one
  // atomic step across threads and processes, and the decision's time is never older than
  // the lock (a cleanup that ran while this check waited cannot have removed rows it needs).
  // Returns the snapshot as read (before adding) and whether it consumed.
  virtual std::pair<WindowSnapshot, bool> checkWindows(const WindowCheck& check, const Clock& clock,
                                                       WindowDecider& decider) = 0;

  // Deletes every sub-window of the key and writes `audit`, atomically. Returns the request
  // count cleared; nullopt when the key does not exist.
  virtual std::optional<std::int64_t> resetWindows(std::string_view key_id,
                                                   const AuditRecord& audit) = 0;

  // Sets the key's rate_limit and writes `audit` with details {"old_limit", "new_limit"},
  // atomically. Returns the old limit; nullopt when the key does not exist.
  virtual std::optional<std::int64_t> updateRateLimit(std::string_view key_id,
                                                      std::int64_t new_limit,
                                                      const AuditRecord& audit) = 0;

  // ---- Usage analytics ----

  // Whether a key with this id exists (revoked and expired keys do).
  virtual bool keyExists(std::string_view id) = 0;

  // Appends the raw rows and adds `delta` (the same records, folded) to the rollups, in one
  // transaction: raw rows and rollups always agree.
  virtual void writeRequests(const std::vector<RequestRecord>& records,
                             const RollupDelta& delta) = 0;

  struct UsageQuery {
    std::int64_t rollup_first = 0;  // rollup intervals with start in [first, last]
    std::int64_t rollup_last = -1;
    std::int64_t raw_first = 0;  // raw rows with timestamp in [first, end)
    std::int64_t raw_end = 0;
    std::optional<std::string> key_id;  // only this key
  };
  // Receives what readUsage selects. Every request is seen exactly once by byKey (or raw)
  // and once by byEndpoint (or raw); views are valid during the call only.
  struct UsageVisitor {
    virtual ~UsageVisitor() = default;
    virtual void byEndpoint(std::int64_t interval_start, std::string_view endpoint,
                            std::string_view method, const RollupCounts& counts) = 0;
    virtual void byKey(std::int64_t interval_start, std::string_view key_id,
                       const RollupCounts& counts) = 0;
    virtual void latency(std::string_view histogram_blob) = 0;
    virtual void raw(const RequestRecord& row) = 0;
  };
  // Hands the rollups, latency histograms and raw rows the query selects to `visitor`, from
  // one consistent snapshot.
  virtual void readUsage(const UsageQuery& query, UsageVisitor& visitor) = 0;

  // ---- Operational counters, shared by every process using the store ----

  struct Counter {
    std::string name;
    std::int64_t value = 0;
    std::int64_t updated_at_ms = 0;
  };
  // Adds each delta to its named counter (creating it at 0), in one transaction.
  virtual void addCounters(const std::vector<std::pair<std::string, std::int64_t>>& deltas,
                           TimePoint now) = 0;
  // Every counter, by name.
  virtual std::vector<Counter> counters() = 0;

  // Retention: deletes raw rows recorded before `raw_cutoff_ms` and rollups of intervals
  // that started before `rollup_cutoff_ms`. Returns raw rows and rollup rows deleted.
  virtual std::pair<std::int64_t, std::int64_t> deleteUsageBefore(
      std::int64_t raw_cutoff_ms, std::int64_t rollup_cutoff_ms) = 0;
};

}  // namespace api
