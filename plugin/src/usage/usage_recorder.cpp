#include "usage/usage_recorder.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "domain/errors.hpp"
#include "util/text.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

constexpr std::array<std::string_view, 9> kMethods{"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                   "CONNECT", "OPTIONS", "TRACE", "PATCH"};
constexpr auto kFirstRetryDelay = std::chrono::milliseconds(50);
constexpr auto kLongestRetryDelay = std::chrono::milliseconds(1000);

// The method as the store keeps it (upper case), or empty when it is not one of kMethods.
std::string_view canonicalMethod(std::string_view text) {
  for (const std::string_view method : kMethods) {
    if (method.size() == text.size() &&
        std::equal(method.begin(), method.end(), text.begin(), [](char a, char b) {
          return a == std::toupper(static_cast<unsigned char>(b));
        })) {
      return method;
    }
  }
  return {};
}

bool isIpAddress(std::string_view text) {
  if (text.size() > kMaxIpLength) {
    return false;
  }
  std::array<char, kMaxIpLength + 1> terminated{};  // no allocation on the caller's thread
  std::copy(text.begin(), text.end(), terminated.begin());
  std::array<unsigned char, sizeof(in6_addr)> address{};
  return ::inet_pton(AF_INET, terminated.data(), address.data()) == 1 ||
         ::inet_pton(AF_INET6, terminated.data(), address.data()) == 1;
}

// Recycled records keep their strings' memory; one that held a long text (a burst of long
// endpoints or user agents) lets it go when the new text is much shorter, so that what the
// queue holds, and counts against usageQueueBytes, stays near what its records need.
constexpr size_t kKeptCapacity = 256;
void releaseIfOversized(std::string& out, size_t needed) {
  if (out.capacity() > kKeptCapacity && out.capacity() > 4 * needed) {
    std::string().swap(out);
  }
}
void assignKept(std::string& out, std::string_view text) {
  releaseIfOversized(out, text.size());
  out.assign(text);
}

// A time as the store writes it, or, outside the years that form can hold, as a number.
std::string timeText(TimePoint t) {
  if (t < kEarliestTime || t > kLatestTime) {
    return std::to_string(t.time_since_epoch().count()) + " ms since 1970";
  }
  return formatIsoUtc(t);
}

// Written records kept for their memory beyond what a batch needs are freed by the writer.
constexpr size_t kSpareRecords = 2 * UsageRecorder::kBatchSize;

}  // namespace

UsageRecorder::UsageRecorder(const ApiSettings& settings, Stores& store, const Clock& clock,
                             const HostLogger& logger, StoreFactory open_store)
    : settings_(settings),
      store_(store),
      clock_(clock),
      logger_(logger),
      open_store_(std::move(open_store)) {}

UsageRecorder::~UsageRecorder() {
  stop();
}

bool UsageRecorder::knownKey(std::string_view key_id) {
  {
    std::shared_lock lock(known_mutex_);
    if (known_keys_.find(key_id) != known_keys_.end()) {
      return true;
    }
  }
  // On a connection of our own once the writer thread has opened it (a read in WAL mode
  // never waits for a writer, and nothing holds that connection for longer than a lookup);
  // until then, and without a factory, on the module's.
  Stores* lookup = lookup_ready_.load(std::memory_order_acquire);
  const bool exists = (lookup != nullptr ? *lookup : store_).keys().exists(key_id);
  if (!exists) {
    return false;
  }
  std::unique_lock lock(known_mutex_);  // keys are never deleted, so a yes is final
  known_keys_.emplace(key_id);
  return true;
}

std::string_view UsageRecorder::checked(std::string_view key_id, const RequestInput& input) {
  const std::string_view method = canonicalMethod(input.method);
  if (method.empty()) {
    throw InvalidInput("invalid method \"" + printableTruncated(input.method, 20) +
                       "\": use GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE or PATCH");
  }
  if (input.status_code < 100 || input.status_code > 599) {
    throw InvalidInput("invalid status code " + std::to_string(input.status_code) +
                       ": use 100..599");
  }
  if (input.response_time_ms < 0 || input.response_time_ms > kMaxResponseTimeMs) {
    throw InvalidInput("invalid response time " + std::to_string(input.response_time_ms) +
                       " ms: use 0..86400000");
  }
  if (input.endpoint.empty() || input.endpoint.size() > kMaxEndpointLength) {
    throw InvalidInput("invalid endpoint of " + std::to_string(input.endpoint.size()) +
                       " bytes: use 1..2048 bytes, e.g. /api/v1/data");
  }
  if (!printableLength(input.endpoint)) {
    throw InvalidInput("invalid endpoint \"" + printableTruncated(input.endpoint, 64) +
                       "\": it must be UTF-8 text without control characters");
  }
  if (!input.ip_address.empty() && !isIpAddress(input.ip_address)) {
    throw InvalidInput("invalid IP address \"" + printableTruncated(input.ip_address, 64) +
                       "\": use an IPv4 or IPv6 address, e.g. 203.0.113.7 or 2001:db8::1, or "
                       "leave it empty");
  }
  if (key_id.empty() || !knownKey(key_id)) {
    throw InvalidInput("no key with id " + quotedId(key_id) + " to record a request for");
  }

  return method;
}

void UsageRecorder::check(std::string_view key_id, const RequestInput& input) {
  checked(key_id, input);
}

void UsageRecorder::fill(RequestRecord& r, std::int64_t timestamp_ms, std::string_view key_id,
                         std::string_view method, const RequestInput& input) {
  r.timestamp_ms = timestamp_ms;
  assignKept(r.key_id, key_id);
  assignKept(r.endpoint, input.endpoint);
  r.method.assign(method);
  r.status_code = input.status_code;
  r.response_time_ms = input.response_time_ms;
  assignKept(r.ip_address, input.ip_address);
  releaseIfOversized(r.user_agent, std::min(input.user_agent.size(), kMaxUserAgentLength));
  assignPrintableTruncated(r.user_agent, input.user_agent, kMaxUserAgentLength);
}

bool UsageRecorder::record(std::string_view key_id, const RequestInput& input) {
  const std::int64_t timestamp_ms = clock_.now().time_since_epoch().count();
  const std::string_view method = checked(key_id, input);

  bool wake = false;
  bool stopped = false;
  std::uint64_t dropped = 0;
  {
    std::lock_guard lock(mutex_);
    if (!writer_started_ && !stopping_) {
      startWriter();  // on first use: a CLI command that records nothing starts no thread
    }
    const size_t waiting = queued_ + in_flight_;
    const size_t waiting_bytes = queued_bytes_ + in_flight_bytes_;
    size_t bytes = 0;
    if (!stopping_ && waiting < static_cast<size_t>(settings_.usage.queue_capacity)) {
      if (queued_ == queue_.size()) {
        queue_.emplace_back();
      }
      RequestRecord& r = queue_[queued_];  // written over; queued only if it fits below
      fill(r, timestamp_ms, key_id, method, input);
      bytes = recordBytes(r);
    }
    if (stopping_ || waiting >= static_cast<size_t>(settings_.usage.queue_capacity) ||
        waiting_bytes + bytes > static_cast<size_t>(settings_.usage.queue_max_bytes)) {
      stopped = stopping_;
      dropped = ++dropped_;
    } else {
      ++queued_;
      queued_bytes_ += bytes;
      ++queued_total_;
      wake = queued_ == kBatchSize;
      wakeups_ += wake ? 1 : 0;
    }
  }
  if (dropped != 0) {
    if (dropped == 1 || dropped % 10'000 == 0) {  // outside the lock: logging may block
      logger_.warn(stopped ? "usage recorder stopped: request records dropped"
                           : "usage queue full: request records dropped",
                   {{"dropped_total", std::to_string(dropped)},
                    {"capacity", std::to_string(settings_.usage.queue_capacity)}});
    }
    return false;
  }
  if (wake) {
    wake_writer_.notify_one();
  }
  return true;
}

UsageRecorder::TimeRange UsageRecorder::completionTimes(TimePoint now) const {
  return {now - std::chrono::milliseconds(settings_.usage.request_retention_ms),
          now + kMaxClockSkew};
}

std::string UsageRecorder::describeCompletionTimes(const TimeRange& range, TimePoint now) {
  return "at most " + formatSpan(now - range.earliest) +
         " (requestRetention) before this server's clock and " + formatSpan(range.latest - now) +
         " after it";
}

bool UsageRecorder::recordAll(std::span<const RecordEntry> entries) {
  const TimePoint now = clock_.now();
  const TimeRange accepted = completionTimes(now);
  std::vector<std::string_view> methods;
  methods.reserve(entries.size());
  for (const RecordEntry& e : entries) {
    methods.push_back(checked(e.key_id, e.input));
    if (e.completed_at &&
        (*e.completed_at < accepted.earliest || *e.completed_at > accepted.latest)) {
      throw InvalidInput("invalid completion time " + timeText(*e.completed_at) +
                         ": use a time from " + formatIsoUtc(accepted.earliest) + " to " +
                         formatIsoUtc(accepted.latest) + " (" +
                         describeCompletionTimes(accepted, now) + ")");
    }
  }
  if (entries.empty()) {
    return true;
  }
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!writer_started_ && !stopping_) {
      startWriter();
    }
    const size_t waiting = queued_ + in_flight_;
    if (stopping_ ||
        waiting + entries.size() > static_cast<size_t>(settings_.usage.queue_capacity)) {
      return false;
    }
    // Written over after the queued records, as record() does; queued only if all fit.
    size_t bytes = 0;
    for (size_t i = 0; i < entries.size(); ++i) {
      if (queued_ + i == queue_.size()) {
        queue_.emplace_back();
      }
      RequestRecord& r = queue_[queued_ + i];
      fill(r, entries[i].completed_at.value_or(now).time_since_epoch().count(), entries[i].key_id,
           methods[i], entries[i].input);
      bytes += recordBytes(r);
    }
    if (queued_bytes_ + in_flight_bytes_ + bytes >
        static_cast<size_t>(settings_.usage.queue_max_bytes)) {
      return false;
    }
    const size_t before = queued_;
    queued_ += entries.size();
    queued_bytes_ += bytes;
    queued_total_ += entries.size();
    wake = before < kBatchSize && queued_ >= kBatchSize;
    wakeups_ += wake ? 1 : 0;
  }
  if (wake) {
    wake_writer_.notify_one();
  }
  return true;
}

void UsageRecorder::startWriter() {
  writer_ = std::thread([this] { writerLoop(); });  // may throw: then no writer is started
  writer_started_ = true;
}

bool UsageRecorder::persistCounters(Stores& store) noexcept {
  try {
    const std::uint64_t dropped = dropped_.load();
    const std::uint64_t failed = failed_.load();
    std::vector<std::pair<std::string, std::int64_t>> deltas;
    if (dropped != dropped_persisted_) {
      deltas.emplace_back(kCounterRecordsDropped,
                          static_cast<std::int64_t>(dropped - dropped_persisted_));
    }
    if (failed != failed_persisted_) {
      deltas.emplace_back(kCounterRecordsLost,
                          static_cast<std::int64_t>(failed - failed_persisted_));
    }
    if (!deltas.empty()) {
      store.counters().add(deltas, clock_.now());
      dropped_persisted_ = dropped;
      failed_persisted_ = failed;
    }
    return true;
  } catch (const std::exception& e) {
    logger_.warn("could not update the usage counters", {{"error", e.what()}});
    return false;
  } catch (...) {
    return false;
  }
}

UsageRecorder::WriteOutcome UsageRecorder::writeBatch(
    Stores& store, std::span<const RequestRecord> batch) noexcept {
  std::string error;
  bool transient = false;
  try {
    const MonotonicTime started = clock_.monotonicNow();
    store.usage().append(batch, foldIntoRollups(batch, settings_.usage.aggregation_interval_ms),
                         addToStoredHistogram);
    written_ += batch.size();
    if (logger_.traceEnabled()) {
      const auto took =
          std::chrono::duration_cast<std::chrono::microseconds>(clock_.monotonicNow() - started);
      logger_.trace("usage batch written", {{"records", std::to_string(batch.size())},
                                            {"took_us", std::to_string(took.count())},
                                            {"written_total", std::to_string(written_.load())}});
    }
    return WriteOutcome::kWritten;
  } catch (const StoreError& e) {
    error = e.what();
    transient = e.transient();
  } catch (const std::exception& e) {
    error = e.what();
  } catch (...) {
    error = "unknown failure";
  }
  failed_writes_.fetch_add(1, std::memory_order_relaxed);
  try {
    {
      std::lock_guard lock(mutex_);
      last_error_ = error;
      ++failed_attempts_;
    }
    logger_.error(transient ? "request records not written yet: the batch will be retried"
                            : "request records lost: the store refused the batch",
                  {{"records", std::to_string(batch.size())}, {"error", error}});
  } catch (...) {
  }
  return transient ? WriteOutcome::kRetry : WriteOutcome::kRefused;
}

void UsageRecorder::writerLoop() {
  // Our own connection, opened here so that the first record() does not wait for it.
  std::unique_ptr<Stores> own;
  if (open_store_) {
    try {
      own = open_store_();
    } catch (const std::exception& e) {
      logger_.warn("usage writer: own store connection failed, sharing the module's",
                   {{"error", e.what()}});
    }
  }
  Stores& store = own != nullptr ? *own : store_;
  if (open_store_) {
    try {
      lookup_store_ = open_store_();
      lookup_ready_.store(lookup_store_.get(), std::memory_order_release);
    } catch (const std::exception& e) {
      logger_.warn("usage recorder: key lookups share the module's store connection",
                   {{"error", e.what()}});
    }
  }

  const auto interval = std::chrono::milliseconds(settings_.usage.flush_interval_ms);
  const auto shortest = std::chrono::milliseconds(usageShortestFlushIntervalMs(settings_));
  // How long the next wait is: what the last one took to bring kPieceRecords, between
  // `shortest` and `interval` (see usageShortestFlushIntervalMs).
  std::chrono::milliseconds wait = interval;
  MonotonicTime last_take = clock_.monotonicNow();
  MonotonicTime last_persist = last_take;
  std::vector<RequestRecord> taken;  // its first taken_count records are being written
  std::unique_lock lock(mutex_);
  while (true) {
    clock_.waitUntil(lock, wake_writer_, clock_.monotonicNow() + wait,
                     [this] { return stopping_ || flush_requested_ || queued_ >= kBatchSize; });
    const MonotonicTime now = clock_.monotonicNow();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_take);
    last_take = now;
    wait = queued_ == 0 ? interval
                        : std::clamp(took * static_cast<std::int64_t>(kPieceRecords) /
                                         static_cast<std::int64_t>(queued_),
                                     std::min(shortest, interval), interval);
    if (queued_ == 0) {
      flush_requested_ = false;
      written_cv_.notify_all();
      const bool stopping = stopping_;
      lock.unlock();
      persistCounters(store);
      if (stopping) {
        return;
      }
      lock.lock();
      continue;
    }
    taken.swap(queue_);  // record() now writes over the records this loop wrote last time
    const size_t taken_count = queued_;
    queued_ = 0;
    in_flight_ = taken_count;
    in_flight_bytes_ = queued_bytes_;
    queued_bytes_ = 0;
    lock.unlock();

    for (size_t at = 0; at < taken_count; at += kBatchSize) {
      const size_t end = std::min(taken_count, at + kBatchSize);
      const std::span<const RequestRecord> batch(taken.data() + at, end - at);
      auto delay = kFirstRetryDelay;
      lock.lock();
      const bool late = pastStopDeadline();
      // A wake-up (a flush, stop, a full batch) from the start of an attempt on cuts the
      // back-off after it short: whoever asked is waiting for this batch.
      std::uint64_t seen = wakeups_;
      lock.unlock();
      WriteOutcome outcome = late ? WriteOutcome::kRetry : writeBatch(store, batch);
      while (outcome == WriteOutcome::kRetry) {
        lock.lock();
        written_cv_.notify_all();  // a flush() waiting on this batch learns that it failed
        const bool give_up = pastStopDeadline();
        if (!give_up) {
          clock_.waitUntil(lock, wake_writer_, clock_.monotonicNow() + delay,
                           [&] { return wakeups_ != seen; });
          seen = wakeups_;
        }
        lock.unlock();
        if (give_up) {
          outcome = WriteOutcome::kRefused;
          logger_.error("request records lost: not written before the recorder stopped",
                        {{"records", std::to_string(batch.size())}});
          break;
        }
        delay = std::min(delay * 2, kLongestRetryDelay);
        outcome = writeBatch(store, batch);
      }
      if (outcome == WriteOutcome::kRefused) {
        failed_ += batch.size();
      }
      size_t batch_bytes = 0;
      for (const RequestRecord& done : batch) {
        batch_bytes += recordBytes(done);
      }
      lock.lock();
      in_flight_ -= batch.size();
      in_flight_bytes_ =
          end == taken_count ? 0 : in_flight_bytes_ - std::min(in_flight_bytes_, batch_bytes);
      done_total_ += batch.size();
      written_cv_.notify_all();
      lock.unlock();
    }
    if (taken.size() > kSpareRecords) {  // after a burst: the memory goes back
      taken.resize(kSpareRecords);
      taken.shrink_to_fit();
    }
    lock.lock();
    // While records keep coming, the counters' own transaction once an interval at most.
    if (stopping_ || flush_requested_ || clock_.monotonicNow() - last_persist >= interval) {
      lock.unlock();
      persistCounters(store);
      last_persist = clock_.monotonicNow();
      lock.lock();
    }
  }
}

size_t UsageRecorder::recordBytes(const RequestRecord& record) noexcept {
  // What the strings hold beyond their inline buffers (a moved string keeps its buffer, so
  // the figure is the same when the record is queued and when its batch is done).
  const auto heap = [](const std::string& text) {
    return text.capacity() > std::string().capacity() ? text.capacity() + 1 : 0;
  };
  return sizeof(RequestRecord) + heap(record.key_id) + heap(record.endpoint) + heap(record.method) +
         heap(record.ip_address) + heap(record.user_agent);
}

bool UsageRecorder::pastStopDeadline() const {
  return stopping_ && clock_.monotonicNow() >= stop_deadline_;
}

void UsageRecorder::flush() {
  std::unique_lock lock(mutex_);
  if (!writer_started_) {
    return;  // nothing was ever queued
  }
  const std::uint64_t target = queued_total_;
  const std::uint64_t failures_before = failed_attempts_;
  const std::uint64_t lost_before = failed_.load();
  flush_requested_ = true;
  ++wakeups_;
  wake_writer_.notify_one();
  written_cv_.wait(lock,
                   [&] { return done_total_ >= target || failed_attempts_ != failures_before; });
  if (done_total_ < target) {
    throw StoreError("request records could not be written yet (they stay queued): " + last_error_,
                     true);
  }
  if (failed_.load() != lost_before) {
    throw StoreError("request records were lost, the store refused them: " + last_error_);
  }
}

bool UsageRecorder::flushFor(std::chrono::milliseconds timeout) noexcept {
  try {
    std::unique_lock lock(mutex_);
    if (!writer_started_) {
      return true;
    }
    const std::uint64_t target = queued_total_;
    flush_requested_ = true;
    ++wakeups_;
    wake_writer_.notify_one();
    return written_cv_.wait_for(lock, timeout, [&] { return done_total_ >= target; });
  } catch (...) {
    return false;
  }
}

void UsageRecorder::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = clock_.monotonicNow() + stop_retry_for_;
    }
    ++wakeups_;
  }
  wake_writer_.notify_all();
  std::lock_guard join(join_mutex_);
  if (writer_.joinable()) {
    writer_.join();
    const auto dropped = dropped_.load();
    const auto failed = failed_.load();
    try {
      if (dropped > 0 || failed > 0) {
        logger_.warn("usage recorder stopped with records missing",
                     {{"written", std::to_string(written_.load())},
                      {"dropped_queue_full", std::to_string(dropped)},
                      {"lost_to_write_errors", std::to_string(failed)}});
      } else {
        logger_.debug("usage recorder stopped", {{"written", std::to_string(written_.load())}});
      }
    } catch (...) {
    }
  }
}

}  // namespace api
