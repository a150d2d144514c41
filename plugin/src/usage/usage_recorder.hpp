// Request logging that never makes the caller wait on disk. record() checks the input and
// appends to a bounded in-memory queue; a writer thread flushes the queue in batches of at
// most kBatchSize records, one transaction per batch (raw rows and rollups together), at
// least every usageFlushInterval ms. stop() (and the destructor) writes everything queued.
//
// The writer and the key-id lookups use connections of their own (from the store factory),
// so neither waits on, nor holds up, the connection the request path validates and
// rate-limits on.
//
// Queue-full policy: drop. When usageQueueCapacity records are waiting (queued or being
// written), or they hold usageQueueBytes of memory (recordBytes() each), record() refuses
// the new one at once (returns false), never blocking; every
// dropped record is counted, persisted in the store's counters (`prompt health` shows them,
// from any process) and logged (the first, then every 10,000th, and the total at stop).
//
// A batch that cannot be written for a passing reason (the database locked past busyTimeout,
// a full disk) is kept and retried, backing off up to a second; its records still count
// against the capacity. One the store refuses for good (a constraint, a corrupt file) is lost
// at once. At stop, no new attempt starts after kStopRetryFor (one under way may take a
// busyTimeout more); records still unwritten then are lost. Lost records are counted,
// persisted and logged like dropped ones.
//
// The flush interval, the back-off and the stop deadline are measured on the Clock's
// monotonic reading and waited for through Clock::waitUntil, so a test drives them with a
// ManualClock; flushFor()'s timeout bounds the caller's real wait, whatever the clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "config/settings.hpp"
#include "domain/clock.hpp"
#include "domain/usage_types.hpp"
#include "log/host_logger.hpp"
#include "store/stores.hpp"

namespace api {

inline constexpr size_t kMaxEndpointLength = 2048;
inline constexpr size_t kMaxUserAgentLength = 512;  // longer ones are truncated
inline constexpr size_t kMaxIpLength = 45;          // the longest textual IPv6 address
inline constexpr std::int64_t kMaxResponseTimeMs = 86'400'000;
// How far ahead of this module's clock a record's own time (RecordEntry::completed_at) may
// be: the clocks of the machine that saw the request and of this one disagree by that much.
inline constexpr std::chrono::minutes kMaxClockSkew{5};

// Counter names in the store (CounterStore::add).
inline constexpr std::string_view kCounterRecordsDropped = "usage_records_dropped";
inline constexpr std::string_view kCounterRecordsLost = "usage_records_lost";

struct RequestInput {
  std::string_view endpoint;
  std::string_view method;
  int status_code = 0;
  std::int64_t response_time_ms = 0;
  std::string_view ip_address;
  std::string_view user_agent;
};

// Opens another connection to the module's store; nullptr-returning or empty means "share".
using StoreFactory = std::function<std::unique_ptr<Stores>()>;

class UsageRecorder {
 public:
  static constexpr size_t kBatchSize = 4096;  // records per transaction, at most
  // While records keep coming, the writer aims to write about this many at a time (see
  // usageShortestFlushIntervalMs): on SQLite some 0.3 ms of one core, short enough to pass
  // between requests.
  static constexpr size_t kPieceRecords = 64;
  static constexpr std::chrono::seconds kStopRetryFor{10};

  // REQUIRED: all references outlive the recorder. With an empty `open_store`, the writer
  // and the lookups share `store`.
  UsageRecorder(const ApiSettings& settings, Stores& store, const Clock& clock,
                const HostLogger& logger, StoreFactory open_store = {});
  ~UsageRecorder();
  UsageRecorder(const UsageRecorder&) = delete;
  UsageRecorder& operator=(const UsageRecorder&) = delete;

  // Checks the input (InvalidInput names the field and what is accepted) and queues it.
  // Returns false when the queue is full (or the recorder stopped) and the record was
  // dropped. Thread-safe; never waits for the writer or for a lock on the database.
  bool record(std::string_view key_id, const RequestInput& input);

  // Checks a record as record() does (InvalidInput naming the field and what is accepted),
  // without queueing anything.
  void check(std::string_view key_id, const RequestInput& input);

  struct RecordEntry {
    std::string_view key_id;
    RequestInput input;
    // When the request completed (its rollup interval is the one this falls in); nullopt:
    // when recordAll() is called. REQUIRED (checked): within completionTimes() of the
    // Clock's reading in recordAll().
    std::optional<TimePoint> completed_at = std::nullopt;
  };
  // The completion times an entry may carry when the Clock reads `now`: back to
  // requestRetention before it (a raw row older than that would be deleted by the next
  // cleanup), and up to kMaxClockSkew after it. Both ends included.
  struct TimeRange {
    TimePoint earliest;
    TimePoint latest;
  };
  TimeRange completionTimes(TimePoint now) const;
  // The range as a person would say it: "at most 30d 0h (requestRetention) before this
  // server's clock and 5m 0s after it".
  static std::string describeCompletionTimes(const TimeRange& range, TimePoint now);
  // A batch, all or nothing: checks every entry first (InvalidInput, as check(), for the first
  // bad one, or for a completed_at outside completionTimes(): nothing is queued), then queues
  // them all; or none, returning false, when the queue cannot take them all (by count or
  // bytes) or the recorder stopped. A batch refused for room counts nothing as dropped: the
  // caller tells its client, who may send it again. Thread-safe; never waits for the writer or
  // for a lock on the database.
  bool recordAll(std::span<const RecordEntry> entries);

  // Waits until everything queued before the call is in the store, or a write of it failed:
  // StoreError, transient() when the records stay queued for a retry, not when the store
  // refused them and they are lost.
  void flush();
  // As flush(), but gives up after `timeout`; returns whether everything was written.
  bool flushFor(std::chrono::milliseconds timeout) noexcept;
  // How long stop() keeps retrying writes; kStopRetryFor unless changed (tests, tools).
  void setStopRetryFor(std::chrono::milliseconds span) {
    std::lock_guard lock(mutex_);
    stop_retry_for_ = span;
  }
  // Writes everything queued (retrying for at most kStopRetryFor) and stops the writer.
  // Idempotent; a second caller returns once the first has finished.
  void stop() noexcept;

  // The memory one queued record holds, as counted against usageQueueBytes.
  static size_t recordBytes(const RequestRecord& record) noexcept;

  std::uint64_t droppedRecords() const { return dropped_.load(); }
  std::uint64_t writtenRecords() const { return written_.load(); }
  std::uint64_t failedRecords() const { return failed_.load(); }
  // Records waiting now (queued, or taken by the writer and not yet written or lost), and
  // records ever queued. Take the recorder's lock: for reports, not the request path.
  std::uint64_t waitingRecords() {
    std::lock_guard lock(mutex_);
    return queued_ + in_flight_;
  }
  std::uint64_t queuedTotal() {
    std::lock_guard lock(mutex_);
    return queued_total_;
  }
  // Attempts to write a batch that failed (each retry counts), for /metrics.
  std::uint64_t failedWrites() const { return failed_writes_.load(); }
  // Dropped and lost records not yet added to the store's counters.
  std::uint64_t unpersistedDropped() const { return dropped_.load() - dropped_persisted_.load(); }
  std::uint64_t unpersistedLost() const { return failed_.load() - failed_persisted_.load(); }

 private:
  bool knownKey(std::string_view key_id);
  // check(), returning the method as stored (upper case).
  std::string_view checked(std::string_view key_id, const RequestInput& input);
  static void fill(RequestRecord& r, std::int64_t timestamp_ms, std::string_view key_id,
                   std::string_view method, const RequestInput& input);
  void startWriter();  // REQUIRED: mutex_ held
  void writerLoop();
  enum class WriteOutcome { kWritten, kRetry, kRefused };
  // Writes `batch`; on failure logs it and says whether trying again may help (the store was
  // busy, locked or full) or not (the store refused the records themselves: they are lost).
  WriteOutcome writeBatch(Stores& store, std::span<const RequestRecord> batch) noexcept;
  bool pastStopDeadline() const;  // REQUIRED: mutex_ held
  // Adds the drops and losses not yet in the store's counters. Returns whether it did.
  bool persistCounters(Stores& store) noexcept;

  const ApiSettings& settings_;
  Stores& store_;
  const Clock& clock_;
  const HostLogger& logger_;
  StoreFactory open_store_;

  std::mutex mutex_;  // guards everything below up to the thread
  std::condition_variable wake_writer_;
  std::condition_variable written_cv_;
  // The first queued_ records are waiting; those after them are records already written,
  // kept for their memory: record() writes over them, so that once the queue has been as long
  // as it gets, queueing a record allocates nothing. The writer swaps the whole vector with
  // its own, whose records it has written.
  std::vector<RequestRecord> queue_;
  size_t queued_ = 0;
  size_t in_flight_ = 0;            // taken by the writer, not yet written or lost
  size_t queued_bytes_ = 0;         // recordBytes() of queue_
  size_t in_flight_bytes_ = 0;      // recordBytes() of the records in flight
  std::uint64_t queued_total_ = 0;  // records ever queued
  std::uint64_t done_total_ = 0;    // records ever written or given up as lost
  std::uint64_t failed_attempts_ = 0;
  bool flush_requested_ = false;
  bool stopping_ = false;
  bool writer_started_ = false;
  std::uint64_t wakeups_ = 0;      // notifications of wake_writer_: they cut a back-off short
  MonotonicTime stop_deadline_{};  // on clock_.monotonicNow()
  std::chrono::milliseconds stop_retry_for_ = kStopRetryFor;
  std::string last_error_;  // of the last failed batch, for flush()

  std::mutex join_mutex_;  // serialises stop()'s join
  std::thread writer_;     // started by the first record()

  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const noexcept {
      return std::hash<std::string_view>()(text);
    }
  };
  std::shared_mutex known_mutex_;
  std::unordered_set<std::string, TextHash, std::equal_to<>> known_keys_;
  std::unique_ptr<Stores> lookup_store_;        // opened by the writer thread, then
  std::atomic<Stores*> lookup_ready_{nullptr};  // published here for record()

  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> failed_writes_{0};
  std::atomic<std::uint64_t> dropped_persisted_{0};  // written by the writer thread only
  std::atomic<std::uint64_t> failed_persisted_{0};
};

}  // namespace api
