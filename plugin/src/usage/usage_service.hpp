// UsageService: statistics over the request log, read from the per-interval rollups plus the
// raw rows of the period's first, partial interval, so a 30-day report over millions of
// requests reads thousands of rows and is still exact (percentiles included: the rollups
// keep exact histograms of whole-millisecond response times).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"
#include "domain/clock.hpp"
#include "store/key_store.hpp"
#include "store/usage_store.hpp"
#include "util/span.hpp"

namespace api {

struct EndpointUsage {
  std::string endpoint;
  std::string method;
  std::int64_t requests = 0;
  std::int64_t errors = 0;
  std::int64_t total_time_ms = 0;
  double averageMs() const {
    return requests == 0 ? 0.0 : double(total_time_ms) / double(requests);
  }
  double errorRate() const {
    return requests == 0 ? 0.0 : 100.0 * double(errors) / double(requests);
  }
};

struct KeyUsage {
  std::string key_id;
  std::int64_t total = 0;
  std::int64_t failures = 0;  // status >= 400
  std::int64_t total_time_ms = 0;
  std::int64_t last_request_ms = 0;
  std::int64_t successes() const { return total - failures; }
};

struct SeriesPoint {
  std::int64_t start_ms = 0;
  std::int64_t requests = 0;
  std::int64_t errors = 0;
};

struct UsageStats {
  TimePoint period_start{};
  TimePoint period_end{};
  std::optional<std::string> key_id;
  // False when the period reaches back past requestRetention: its first interval then counts
  // whole, including requests just before the period start.
  bool exact = true;
  // The period reaches back past rollupRetention: requests before the oldest kept rollup are
  // gone, so every figure may be short (exact is false too).
  bool truncated = false;
  std::int64_t total_requests = 0;
  std::int64_t errors = 0;
  std::int64_t unique_keys = 0;
  std::int64_t total_time_ms = 0;
  std::int64_t p50_ms = 0;
  std::int64_t p95_ms = 0;
  std::int64_t p99_ms = 0;
  std::vector<EndpointUsage> top_endpoints;  // by requests, then endpoint, then method
  std::vector<KeyUsage> keys;                // by total, then key id
  std::int64_t series_bucket_ms = 0;         // an hour, a day (or the rollup interval)
  std::vector<SeriesPoint> series;           // every bucket of the period, oldest first

  double averageMs() const {
    return total_requests == 0 ? 0.0 : double(total_time_ms) / double(total_requests);
  }
  // Percent of requests with status >= 400; 0 when there are none.
  double errorRate() const {
    return total_requests == 0 ? 0.0 : 100.0 * double(errors) / double(total_requests);
  }
};

class UsageService {
 public:
  // REQUIRED: all references outlive the service. `keys` tells an unknown key from one
  // without requests.
  UsageService(const ApiSettings& settings, UsageStore& store, KeyStore& keys, const Clock& clock);

  // Statistics for the `period` ending now, for every key or one. Throws NotFound for a key
  // id that no key has (revoked and expired keys have statistics), StoreError.
  UsageStats stats(Span period, const std::optional<std::string>& key_id, size_t top = 10);

  // Parses `--period` text; throws InvalidInput naming `option` and the value.
  static Span parsePeriod(std::string_view text, std::string_view option = "--period");

  // Folds the original system's request rows (text times) into the rollups, once per
  // process: they count in every statistic from then on. stats() calls it first. Throws
  // StoreError (and tries again at the next call).
  void adoptLegacyHistory();

 private:
  const ApiSettings& settings_;
  UsageStore& store_;
  KeyStore& keys_;
  const Clock& clock_;
  std::mutex legacy_mutex_;
  std::atomic<bool> legacy_adopted_{false};  // nothing left to adopt, as of this process
};

}  // namespace api
