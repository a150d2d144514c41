#include "usage/usage_service.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "domain/errors.hpp"
#include "store/store_error.hpp"
#include "util/text.hpp"

namespace api {
namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 86'400'000;

std::int64_t floorTo(std::int64_t t, std::int64_t step) {
  return (t / step - ((t % step != 0 && t < 0) ? 1 : 0)) * step;
}

// Folds what the store hands over into the statistics. Lookups reuse one buffer, so a row
// whose endpoint or key was seen before allocates nothing.
class Aggregator final : public UsageStore::Visitor {
 public:
  Aggregator(UsageStats& stats, std::int64_t series_first) : stats_(stats), first_(series_first) {}

  void byEndpoint(std::int64_t /*interval_start*/, std::string_view endpoint,
                  std::string_view method, const RollupCounts& c) override {
    buffer_.assign(method);
    buffer_ += ' ';
    buffer_ += endpoint;
    auto it = endpoints_.find(buffer_);
    if (it == endpoints_.end()) {
      it = endpoints_.emplace(buffer_, EndpointUsage{std::string(endpoint), std::string(method)})
               .first;
    }
    it->second.requests += c.requests;
    it->second.errors += c.errors;
    it->second.total_time_ms += c.total_time;
  }

  void byKey(std::int64_t interval_start, std::string_view key_id, const RollupCounts& c) override {
    stats_.total_requests += c.requests;
    stats_.errors += c.errors;
    stats_.total_time_ms += c.total_time;
    buffer_.assign(key_id);
    auto it = keys_.find(buffer_);
    if (it == keys_.end()) {
      it = keys_.emplace(buffer_, KeyUsage{std::string(key_id)}).first;
    }
    KeyUsage& k = it->second;
    k.total += c.requests;
    k.failures += c.errors;
    k.total_time_ms += c.total_time;
    k.last_request_ms = std::max(k.last_request_ms, c.last_request);
    const std::int64_t index =
        (floorTo(interval_start, stats_.series_bucket_ms) - first_) / stats_.series_bucket_ms;
    if (index >= 0 && index < static_cast<std::int64_t>(stats_.series.size())) {
      stats_.series[static_cast<size_t>(index)].requests += c.requests;
      stats_.series[static_cast<size_t>(index)].errors += c.errors;
    }
  }

  void latency(std::string_view blob) override {
    if (!histogram_.merge(blob)) {  // never percentiles silently computed without it
      throw StoreError("the usage store holds an unreadable latency histogram (" +
                       std::to_string(blob.size()) + " bytes)");
    }
  }

  void raw(const RequestRecord& r) override {
    const RollupCounts c{1, r.status_code >= 400 ? 1 : 0, r.response_time_ms, r.timestamp_ms};
    byEndpoint(r.timestamp_ms, r.endpoint, r.method, c);
    byKey(r.timestamp_ms, r.key_id, c);
    histogram_.add(r.response_time_ms, 1);
  }

  LatencyHistogram histogram() const { return histogram_.sparse(); }
  std::unordered_map<std::string, EndpointUsage>& endpoints() { return endpoints_; }
  std::unordered_map<std::string, KeyUsage>& keys() { return keys_; }

 private:
  UsageStats& stats_;
  std::int64_t first_;
  std::string buffer_;
  DenseHistogram histogram_;
  std::unordered_map<std::string, EndpointUsage> endpoints_;
  std::unordered_map<std::string, KeyUsage> keys_;
};

}  // namespace

UsageService::UsageService(const ApiSettings& settings, UsageStore& store, KeyStore& keys,
                           const Clock& clock)
    : settings_(settings), store_(store), keys_(keys), clock_(clock) {}

Span UsageService::parsePeriod(std::string_view text, std::string_view option) {
  try {
    return parseSpan(text);
  } catch (const std::invalid_argument& e) {
    throw InvalidInput("invalid " + std::string(option) + " \"" + printableTruncated(text, 64) +
                       "\": " + e.what());
  }
}

void UsageService::adoptLegacyHistory() {
  if (legacy_adopted_.load()) {
    return;
  }
  std::lock_guard lock(legacy_mutex_);
  if (legacy_adopted_.load()) {
    return;
  }
  // Batches of the writer's size, so that no transaction holds the write lock for long.
  constexpr std::int64_t kBatch = 4096;
  const std::int64_t interval = settings_.usage.aggregation_interval_ms;
  const UsageStore::Fold fold = [interval](const std::vector<RequestRecord>& records) {
    return foldIntoRollups(records, interval);
  };
  while (store_.adoptLegacyRows(kBatch, fold, addToStoredHistogram) == kBatch) {
  }
  legacy_adopted_.store(true);
}

UsageStats UsageService::stats(Span period, const std::optional<std::string>& key_id, size_t top) {
  if (key_id && !keys_.exists(*key_id)) {  // a clear error rather than zeros
    throw NotFound("no key with id " + quotedId(*key_id));
  }
  adoptLegacyHistory();
  const TimePoint now = clock_.now();
  const std::int64_t now_ms = now.time_since_epoch().count();
  const std::int64_t interval = settings_.usage.aggregation_interval_ms;
  UsageStats stats;
  stats.key_id = key_id;
  stats.period_end = now;
  stats.period_start = subtractSpan(now, period);
  const std::int64_t start_ms = stats.period_start.time_since_epoch().count();

  // Series buckets: hours for up to two days, days beyond; never finer than the rollups.
  stats.series_bucket_ms = std::max(now_ms - start_ms <= 2 * kDayMs ? kHourMs : kDayMs, interval);
  const std::int64_t series_first = floorTo(start_ms, stats.series_bucket_ms);
  const std::int64_t series_last = floorTo(now_ms, stats.series_bucket_ms);
  for (std::int64_t b = series_first; b <= series_last; b += stats.series_bucket_ms) {
    stats.series.push_back(SeriesPoint{b, 0, 0});
  }

  UsageStore::Query query;
  query.key_id = key_id;
  const std::int64_t first_full = floorTo(start_ms + interval - 1, interval);
  stats.exact = start_ms >= now_ms - settings_.usage.request_retention_ms;
  stats.truncated = start_ms < now_ms - settings_.usage.rollup_retention_ms;
  if (stats.exact) {
    query.raw_first = start_ms;  // the partial first interval, row by row
    query.raw_end = first_full;
    query.rollup_first = first_full;
  } else {
    query.raw_first = query.raw_end = 0;
    query.rollup_first = floorTo(start_ms, interval);
  }
  query.rollup_last = floorTo(now_ms, interval);

  Aggregator aggregator(stats, series_first);
  store_.read(query, aggregator);

  const LatencyHistogram histogram = aggregator.histogram();
  stats.p50_ms = percentile(histogram, 50);
  stats.p95_ms = percentile(histogram, 95);
  stats.p99_ms = percentile(histogram, 99);
  for (auto& [ignored, usage] : aggregator.endpoints()) {
    stats.top_endpoints.push_back(std::move(usage));
  }
  std::sort(stats.top_endpoints.begin(), stats.top_endpoints.end(),
            [](const EndpointUsage& a, const EndpointUsage& b) {
              return std::tie(b.requests, a.endpoint, a.method) <
                     std::tie(a.requests, b.endpoint, b.method);
            });
  if (stats.top_endpoints.size() > top) {
    stats.top_endpoints.resize(top);
  }
  for (auto& [ignored, usage] : aggregator.keys()) {
    stats.keys.push_back(std::move(usage));
  }
  std::sort(stats.keys.begin(), stats.keys.end(), [](const KeyUsage& a, const KeyUsage& b) {
    return std::tie(b.total, a.key_id) < std::tie(a.total, b.key_id);
  });
  stats.unique_keys = static_cast<std::int64_t>(stats.keys.size());
  return stats;
}

}  // namespace api
