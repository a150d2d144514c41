// Request logging that never makes the caller wait on disk. record() checks the input and
// appends to a bounded in-memory queue; a writer thread flushes the queue in batches, one
// transaction per batch (raw rows and rollups together), at least every usageFlushInterval
// ms. stop() (and the destructor) writes everything still queued.
//
// Queue-full policy: drop. When usageQueueCapacity records are waiting, record() refuses the
// new one at once (returns false), never blocking; every dropped record is counted
// (droppedRecords(), `prompt health`) and logged (the first, then every 10,000th).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "clock.hpp"
#include "host_logger.hpp"
#include "settings.hpp"
#include "store/store.hpp"
#include "usage/usage_types.hpp"

namespace api {

inline constexpr size_t kMaxEndpointLength = 2048;
inline constexpr size_t kMaxUserAgentLength = 512;  // longer ones are truncated
inline constexpr size_t kMaxIpLength = 45;          // the longest textual IPv6 address
inline constexpr std::int64_t kMaxResponseTimeMs = 86'400'000;

struct RequestInput {
  std::string_view endpoint;
  std::string_view method;
  int status_code = 0;
  std::int64_t response_time_ms = 0;
  std::string_view ip_address;
  std::string_view user_agent;
};

class UsageRecorder {
 public:
  // REQUIRED: all references outlive the recorder.
  UsageRecorder(const ApiSettings& settings, ApiStore& store, const Clock& clock,
                const HostLogger& logger);
  ~UsageRecorder();
  UsageRecorder(const UsageRecorder&) = delete;
  UsageRecorder& operator=(const UsageRecorder&) = delete;

  // Checks the input (InvalidInput names the field and what is accepted) and queues it.
  // Returns false when the queue is full and the record was dropped. Thread-safe; never
  // waits for the writer or the disk.
  bool record(std::string_view key_id, const RequestInput& input);

  // Writes everything queued before the call; returns when it is in the store. Throws
  // StoreError when the write fails.
  void flush();
  // Writes everything queued and stops the writer. Idempotent.
  void stop() noexcept;

  std::uint64_t droppedRecords() const { return dropped_.load(); }
  std::uint64_t writtenRecords() const { return written_.load(); }
  std::uint64_t failedRecords() const { return failed_.load(); }

 private:
  bool knownKey(const std::string& key_id);
  void startWriter();  // REQUIRED: mutex_ held
  void writerLoop();
  // Writes `batch`; on failure counts and logs it. Returns whether it was written.
  bool writeBatch(std::vector<RequestRecord>& batch) noexcept;

  const ApiSettings& settings_;
  ApiStore& store_;
  const Clock& clock_;
  const HostLogger& logger_;

  std::mutex mutex_;  // guards everything below up to the thread
  std::condition_variable wake_writer_;
  std::condition_variable written_cv_;
  std::vector<RequestRecord> queue_;
  std::uint64_t queued_total_ = 0;  // records ever queued
  std::uint64_t done_total_ = 0;    // records ever taken by the writer and finished
  bool flush_requested_ = false;
  bool stopping_ = false;
  std::string last_error_;  // of the last failed batch, for flush()
  std::thread writer_;      // started by the first record()

  std::shared_mutex known_mutex_;
  std::unordered_set<std::string> known_keys_;

  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> failed_{0};
};

}  // namespace api
