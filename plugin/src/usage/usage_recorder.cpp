#include "usage/usage_recorder.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "services/errors.hpp"

namespace api {
namespace {

constexpr std::array<std::string_view, 9> kMethods{"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                                   "CONNECT", "OPTIONS", "TRACE", "PATCH"};
constexpr size_t kBatchSize = 8192;

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace

UsageRecorder::UsageRecorder(const ApiSettings& settings, ApiStore& store, const Clock& clock,
                             const HostLogger& logger)
    : settings_(settings), store_(store), clock_(clock), logger_(logger) {}

UsageRecorder::~UsageRecorder() {
  stop();
}

bool UsageRecorder::knownKey(const std::string& key_id) {
  {
    std::shared_lock lock(known_mutex_);
    if (known_keys_.count(key_id) != 0) {
      return true;
    }
  }
  if (!store_.keyExists(key_id)) {  // keys are never deleted, so a yes is final
    return false;
  }
  std::unique_lock lock(known_mutex_);
  known_keys_.insert(key_id);
  return true;
}

bool UsageRecorder::record(std::string_view key_id, const RequestInput& input) {
  RequestRecord r;
  r.timestamp_ms = clock_.now().time_since_epoch().count();
  r.method = upper(input.method);
  if (std::find(kMethods.begin(), kMethods.end(), r.method) == kMethods.end()) {
    throw InvalidInput("invalid method \"" + std::string(input.method.substr(0, 20)) +
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
  if (input.ip_address.size() > kMaxIpLength) {
    throw InvalidInput("invalid IP address of " + std::to_string(input.ip_address.size()) +
                       " characters: at most 45");
  }
  r.key_id = key_id;
  if (r.key_id.empty() || !knownKey(r.key_id)) {
    throw InvalidInput("no key with id " + quotedId(key_id) + " to record a request for");
  }
  r.endpoint = input.endpoint;
  r.status_code = input.status_code;
  r.response_time_ms = input.response_time_ms;
  r.ip_address = input.ip_address;
  r.user_agent = input.user_agent.substr(0, kMaxUserAgentLength);

  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (!writer_.joinable() && !stopping_) {
      startWriter();  // on first use: a CLI command that records nothing starts no thread
    }
    if (stopping_ || queue_.size() >= static_cast<size_t>(settings_.usage_queue_capacity)) {
      const auto dropped = ++dropped_;
      if (dropped == 1 || dropped % 10'000 == 0) {
        logger_.warn("usage queue full: request records dropped",
                     {{"dropped_total", std::to_string(dropped)},
                      {"capacity", std::to_string(settings_.usage_queue_capacity)}});
      }
      return false;
    }
    queue_.push_back(std::move(r));
    ++queued_total_;
    wake = queue_.size() == kBatchSize;
  }
  if (wake) {
    wake_writer_.notify_one();
  }
  return true;
}

void UsageRecorder::startWriter() {
  writer_ = std::thread([this] { writerLoop(); });
}

bool UsageRecorder::writeBatch(std::vector<RequestRecord>& batch) noexcept {
  try {
    store_.writeRequests(batch, foldIntoRollups(batch, settings_.aggregation_interval_ms));
    written_ += batch.size();
    return true;
  } catch (const std::exception& e) {
    failed_ += batch.size();
    try {
      std::lock_guard lock(mutex_);
      last_error_ = e.what();
      logger_.error("request records lost: the batch could not be written",
                    {{"records", std::to_string(batch.size())}, {"error", e.what()}});
    } catch (...) {
    }
    return false;
  }
}

void UsageRecorder::writerLoop() {
  const auto interval = std::chrono::milliseconds(settings_.usage_flush_interval_ms);
  std::vector<RequestRecord> batch;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_writer_.wait_for(lock, interval, [this] {
      return stopping_ || flush_requested_ || queue_.size() >= kBatchSize;
    });
    if (queue_.empty()) {
      flush_requested_ = false;
      written_cv_.notify_all();
      if (stopping_) {
        return;
      }
      continue;
    }
    batch.clear();
    batch.swap(queue_);
    queue_.reserve(std::min<size_t>(batch.size(), kBatchSize));
    lock.unlock();
    writeBatch(batch);
    lock.lock();
    done_total_ += batch.size();
    written_cv_.notify_all();
  }
}

void UsageRecorder::flush() {
  std::unique_lock lock(mutex_);
  if (!writer_.joinable()) {
    return;  // nothing was ever queued
  }
  const std::uint64_t target = queued_total_;
  const std::uint64_t failed_before = failed_.load();
  flush_requested_ = true;
  wake_writer_.notify_one();
  written_cv_.wait(lock, [&] { return done_total_ >= target || !writer_.joinable(); });
  if (failed_.load() != failed_before) {
    throw StoreError("some request records could not be written: " + last_error_);
  }
}

void UsageRecorder::stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  wake_writer_.notify_one();
  if (writer_.joinable()) {
    writer_.join();
  }
}

}  // namespace api
