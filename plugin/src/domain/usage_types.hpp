// Usage analytics data: one logged request, and the rollups the writer keeps per
// aggregation interval. Plain values shared by the recorder, the store and the statistics.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace api {

struct RequestRecord {
  std::string key_id;
  std::string endpoint;
  std::string method;  // upper case, one of the HTTP methods
  std::string ip_address;
  std::string user_agent;
  int status_code = 0;                // 100..599; >= 400 counts as an error
  std::int64_t response_time_ms = 0;  // >= 0, whole milliseconds
  std::int64_t timestamp_ms = 0;      // when it was recorded, ms since the epoch
};

// Exact response-time histogram: value (ms) -> count.
using LatencyHistogram = std::map<std::int64_t, std::int64_t>;

struct RollupCounts {
  std::int64_t requests = 0;
  std::int64_t errors = 0;
  std::int64_t total_time = 0;
  std::int64_t last_request = 0;  // ms since the epoch
};

// A batch of records folded into rollups: what a writer adds to the rollup tables.
struct RollupDelta {
  // (interval_start, key_id, endpoint, method) -> counts
  std::map<std::tuple<std::int64_t, std::string, std::string, std::string>, RollupCounts> rows;
  // (interval_start, key_id) -> response times
  std::map<std::pair<std::int64_t, std::string>, LatencyHistogram> latency;
  // All keys together: (interval_start, endpoint, method), (interval_start, key_id) and
  // interval_start -> response times. last_request is kept in the per-key rows only.
  std::map<std::tuple<std::int64_t, std::string, std::string>, RollupCounts> endpoint_rows;
  std::map<std::pair<std::int64_t, std::string>, RollupCounts> key_rows;
  std::map<std::int64_t, LatencyHistogram> latency_all;
};

// Folds records into per-interval rollups. REQUIRED: interval_ms > 0.
RollupDelta foldIntoRollups(std::span<const RequestRecord> records, std::int64_t interval_ms);

// The largest value a histogram holds: response times are 0..86,400,000 ms.
inline constexpr std::int64_t kMaxHistogramValue = 86'400'000;

// The histogram blob of api_usage_latency: varint (value delta, count) pairs, values strictly
// ascending from 0, counts at least 1. REQUIRED: values in 0..kMaxHistogramValue, counts > 0.
std::string encodeHistogram(const LatencyHistogram& histogram);
// Adds the blob's counts into `into`. Returns false, leaving `into` as it was, on a corrupt
// blob (see decodeHistogram in the .cpp) or a sum that would overflow.
bool mergeHistogram(std::string_view blob, LatencyHistogram& into);

// The usage writer's HistogramMerge: `added` folded into a stored blob (empty: none yet),
// encoded; nullopt when the stored blob is corrupt or the sum would overflow.
std::optional<std::string> addToStoredHistogram(std::string_view stored,
                                                const LatencyHistogram& added);

// Exact histogram for reading many blobs fast: dense counts for values below 65,536 ms,
// a map above.
class DenseHistogram {
 public:
  // Both return false, on a corrupt blob or a sum that would overflow; a false merge may
  // have added part of the blob.
  bool merge(std::string_view blob);
  bool add(std::int64_t value, std::int64_t count);
  LatencyHistogram sparse() const;

 private:
  std::vector<std::int64_t> dense_ = std::vector<std::int64_t>(65'536, 0);
  LatencyHistogram overflow_;
};

// Nearest-rank percentile: the smallest value v with count(<= v) >= ceil(p/100 * total),
// in integer arithmetic; 0 for an empty histogram. REQUIRED: 0 < p <= 100.
std::int64_t percentile(const LatencyHistogram& histogram, int p);

}  // namespace api
