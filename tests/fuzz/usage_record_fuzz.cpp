// Usage-record validation (plugin/src/usage/usage_recorder.* UsageRecorder::record, where
// the C ABI's record_request lands) and the rollups and histogram blobs built from accepted
// records (plugin/src/usage/usage_types.*).
//
// Properties:
//  - record() refuses only with InvalidInput, and an accepted record reaches the store as
//    given, satisfying every check: a known key id, an HTTP method in upper case, status
//    100..599, response time 0..86,400,000 ms, an endpoint of 1..2,048 bytes and a user agent
//    of at most 512, both UTF-8 without control characters, an IP address that is empty or
//    textual IPv4/IPv6 of at most 45 characters;
//  - the writer's rollups count the record once, and its latency histogram blob
//    (encodeHistogram) decodes (mergeHistogram, DenseHistogram::merge) to the same
//    histogram.
//
//  - the input after the record, decoded as a stored blob (it comes from a file), is
//    accepted or refused alike by both decoders, with checked arithmetic throughout; an
//    accepted one holds values ascending within 0..86,400,000 with positive counts, and
//    re-encodes to a blob that decodes to the same histogram.
//
// Input: 2 bytes of status code, 8 of response time, then NUL-separated key id, endpoint,
// method, IP address, user agent (NUL-free each, as the C ABI passes them), then a blob.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "config/settings.hpp"
#include "domain/errors.hpp"
#include "domain/usage_types.hpp"
#include "fuzz_check.hpp"
#include "reference_text.hpp"
#include "store/stores.hpp"
#include "usage/usage_recorder.hpp"

namespace {

constexpr std::string_view kKnownKeys[] = {"key_0123456789abcdef", "key_fedcba9876543210"};
constexpr std::string_view kMethods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                         "CONNECT", "OPTIONS", "TRACE", "PATCH"};
constexpr std::int64_t kNow = 1'780'000'000'000;

[[noreturn]] void notUsed() {
  FUZZ_CHECK(!"the recorder called a store method it has no business with");
  std::abort();
}

// Knows two keys; everything but exists() is out of bounds for the recorder.
class KnownKeys final : public api::KeyStore {
 public:
  bool exists(std::string_view id) override {
    for (std::string_view known : kKnownKeys) {
      if (id == known) {
        return true;
      }
    }
    return false;
  }
  InsertOutcome insert(const api::KeyRecord&, std::int64_t, api::TimePoint,
                       const api::AuditRecord&) override {
    notUsed();
  }
  std::optional<api::KeyRecord> findByHash(std::string_view) override { notUsed(); }
  std::optional<api::KeyRecord> findById(std::string_view) override { notUsed(); }
  std::vector<api::KeyRecord> list(std::optional<std::string_view>) override { notUsed(); }
  ChangeResult revoke(std::string_view, std::string_view, api::TimePoint,
                      const api::AuditRecord&) override {
    notUsed();
  }
  ChangeResult rotate(const api::KeyRecord&, const api::KeyRecord&, api::TimePoint, api::TimePoint,
                      std::int64_t, const api::AuditRecord&, const api::AuditRecord&) override {
    notUsed();
  }
  bool undoRotation(std::string_view, std::string_view, api::TimePoint, api::TimePoint,
                    const api::AuditRecord&, const api::AuditRecord&) override {
    notUsed();
  }
  ChangeOutcome setRateLimit(const api::KeyRecord&, std::int64_t,
                             const api::AuditRecord&) override {
    notUsed();
  }
  void appendAudit(const api::AuditRecord&) override { notUsed(); }
  bool touchLastUsed(std::string_view, api::TimePoint) override { notUsed(); }
  std::vector<std::string> revokedBetween(api::TimePoint, api::TimePoint) override { notUsed(); }
  std::vector<api::AuditRecord> auditTrail(std::string_view) override { notUsed(); }
};

// Keeps what the writer writes.
class CapturingUsage final : public api::UsageStore {
 public:
  std::vector<api::RequestRecord> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(records_, {});
  }
  api::RollupDelta takeDelta() {
    std::lock_guard lock(mutex_);
    return std::exchange(delta_, {});
  }
  void append(std::span<const api::RequestRecord> records, const api::RollupDelta& delta,
              const HistogramMerge&) override {
    std::lock_guard lock(mutex_);
    records_.insert(records_.end(), records.begin(), records.end());
    delta_ = delta;
  }
  void read(const Query&, Visitor&) override { notUsed(); }
  std::int64_t adoptLegacyRows(std::int64_t, const Fold&, const HistogramMerge&) override {
    notUsed();
  }
  std::pair<std::int64_t, std::int64_t> deleteBefore(std::int64_t, std::int64_t) override {
    notUsed();
  }

 private:
  std::mutex mutex_;
  std::vector<api::RequestRecord> records_;
  api::RollupDelta delta_;
};

class IgnoredCounters final : public api::CounterStore {
 public:
  void add(const std::vector<std::pair<std::string, std::int64_t>>&, api::TimePoint) override {}
  std::vector<Counter> all() override { notUsed(); }
};

class CapturingStore final : public api::Stores {
 public:
  std::vector<api::RequestRecord> take() { return usage_.take(); }
  api::RollupDelta takeDelta() { return usage_.takeDelta(); }

  api::KeyStore& keys() override { return keys_; }
  api::WindowStore& windows() override { notUsed(); }
  api::UsageStore& usage() override { return usage_; }
  api::CounterStore& counters() override { return counters_; }
  api::StoreHealth health() noexcept override { return {}; }

 private:
  KnownKeys keys_;
  CapturingUsage usage_;
  IgnoredCounters counters_;
};

struct Fixture {
  api::ApiSettings settings;
  CapturingStore store;
  api::ManualClock clock{api::TimePoint(std::chrono::milliseconds(kNow))};
  sp_host_api host = [] {
    sp_host_api h{};
    h.size = sizeof(h);
    return h;
  }();
  api::HostLogger logger{host};
  api::UsageRecorder recorder{settings, store, clock, logger};
};

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') {
      c = static_cast<char>(c - 'a' + 'A');
    }
  }
  return out;
}

bool isKnownMethod(std::string_view method) {
  for (std::string_view m : kMethods) {
    if (method == m) {
      return true;
    }
  }
  return false;
}

bool isIpText(const std::string& ip) {
  if (ip.size() > api::kMaxIpLength ||
      ip.find_first_not_of("0123456789abcdefABCDEF.:") != std::string::npos) {
    return false;
  }
  std::array<unsigned char, sizeof(in6_addr)> address{};
  return ::inet_pton(AF_INET, ip.c_str(), address.data()) == 1 ||
         ::inet_pton(AF_INET6, ip.c_str(), address.data()) == 1;
}

// A count of 0 is no entry: encodeHistogram never writes one, and the two decoders keep it
// differently (the map decoder and DenseHistogram's overflow map keep it, its dense part not).
api::LatencyHistogram withoutZeros(api::LatencyHistogram h) {
  std::erase_if(h, [](const auto& entry) { return entry.second == 0; });
  return h;
}

void checkBlob(std::string_view blob) {
  api::LatencyHistogram merged;
  api::DenseHistogram dense;
  const bool ok = api::mergeHistogram(blob, merged);
  FUZZ_CHECK(dense.merge(blob) == ok);
  if (ok) {
    FUZZ_CHECK(withoutZeros(merged) == withoutZeros(dense.sparse()));
    std::int64_t previous = -1;
    for (const auto& [value, count] : merged) {
      FUZZ_CHECK(value > previous && value <= api::kMaxHistogramValue && count > 0);
      previous = value;
    }
    api::LatencyHistogram again;
    FUZZ_CHECK(api::mergeHistogram(api::encodeHistogram(merged), again) && again == merged);
  }
}

void checkRollups(const api::RequestRecord& r, const api::RollupDelta& delta,
                  std::int64_t interval) {
  FUZZ_CHECK(delta.rows.size() == 1 && delta.key_rows.size() == 1);
  FUZZ_CHECK(delta.endpoint_rows.size() == 1 && delta.latency_all.size() == 1);
  const auto& [row_key, counts] = *delta.rows.begin();
  const std::int64_t start = std::get<0>(row_key);
  FUZZ_CHECK(start <= r.timestamp_ms && r.timestamp_ms < start + interval && start % interval == 0);
  FUZZ_CHECK(std::get<1>(row_key) == r.key_id && std::get<2>(row_key) == r.endpoint);
  FUZZ_CHECK(counts.requests == 1 && counts.errors == (r.status_code >= 400 ? 1 : 0));
  FUZZ_CHECK(counts.total_time == r.response_time_ms && counts.last_request == r.timestamp_ms);
  const api::LatencyHistogram& histogram = delta.latency_all.begin()->second;
  FUZZ_CHECK(histogram == api::LatencyHistogram({{r.response_time_ms, 1}}));
  const std::string blob = api::encodeHistogram(histogram);
  api::LatencyHistogram decoded;
  FUZZ_CHECK(api::mergeHistogram(blob, decoded) && decoded == histogram);
  api::DenseHistogram dense;
  FUZZ_CHECK(dense.merge(blob) && dense.sparse() == histogram);
  FUZZ_CHECK(api::percentile(decoded, 50) == r.response_time_ms);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  static Fixture fixture;

  fuzz::Reader in(fuzz::asText(data, size));
  api::RequestInput input;
  input.status_code = static_cast<int>(in.byte()) << 8;
  input.status_code |= in.byte();
  std::uint64_t time = 0;
  for (int i = 0; i < 8; ++i) {
    time = (time << 8) | in.byte();
  }
  std::memcpy(&input.response_time_ms, &time, sizeof(time));
  const std::string key_id(in.part('\0'));
  input.endpoint = in.part('\0');
  input.method = in.part('\0');
  input.ip_address = in.part('\0');
  input.user_agent = in.part('\0');

  bool accepted = false;
  try {
    accepted = fixture.recorder.record(key_id, input);
    FUZZ_CHECK(accepted);  // the queue is flushed after every record: never full
  } catch (const api::InvalidInput&) {
  }
  if (accepted) {
    fixture.recorder.flush();
    const std::vector<api::RequestRecord> written = fixture.store.take();
    FUZZ_CHECK(written.size() == 1);
    const api::RequestRecord& r = written.front();
    FUZZ_CHECK(r.key_id == key_id && fixture.store.keys().exists(r.key_id));
    FUZZ_CHECK(r.method == upper(input.method) && isKnownMethod(r.method));
    FUZZ_CHECK(r.status_code == input.status_code && r.status_code >= 100 && r.status_code <= 599);
    FUZZ_CHECK(r.response_time_ms == input.response_time_ms && r.response_time_ms >= 0 &&
               r.response_time_ms <= api::kMaxResponseTimeMs);
    FUZZ_CHECK(r.endpoint == input.endpoint && !r.endpoint.empty() &&
               r.endpoint.size() <= api::kMaxEndpointLength);
    FUZZ_CHECK(fuzz::isPrintableText(r.endpoint));
    FUZZ_CHECK(r.ip_address == input.ip_address &&
               (r.ip_address.empty() || isIpText(r.ip_address)));
    FUZZ_CHECK(r.user_agent.size() <= api::kMaxUserAgentLength);
    FUZZ_CHECK(fuzz::isPrintableText(r.user_agent));
    if (fuzz::isPrintableText(input.user_agent) &&
        input.user_agent.size() <= api::kMaxUserAgentLength) {
      FUZZ_CHECK(r.user_agent == input.user_agent);
    }
    FUZZ_CHECK(r.timestamp_ms == kNow);
    checkRollups(r, fixture.store.takeDelta(), fixture.settings.usage.aggregation_interval_ms);
  }
  checkBlob(in.rest());
  return 0;
}
