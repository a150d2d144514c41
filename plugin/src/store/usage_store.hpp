// UsageStore: the usage aggregate, raw request rows and their additive rollups.
//
// A new implementation must provide, thread-safe: append raw rows together with their
// rollup deltas in one transaction (raw rows and rollups always agree; every rollup column
// is a sum or a maximum, so deltas from many writers add up in any order), a read of one
// consistent snapshot, and retention. Folding records into rollups, merging latency
// histograms (the caller hands the merge in; the store only reads and writes the stored
// form in its transaction) and every statistic drawn from them live above, in usage/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/usage_types.hpp"

namespace api {

// Every method throws StoreError on a storage failure.
class UsageStore {
 public:
  virtual ~UsageStore() = default;

  // How a stored latency histogram and a batch's histogram add up: given the stored form
  // (empty when there is none yet), the form to store; nullopt refuses the whole batch (the
  // stored form does not decode, or the sum would overflow). Called inside append's
  // transaction.
  using HistogramMerge =
      std::function<std::optional<std::string>(std::string_view stored, const LatencyHistogram&)>;

  // Appends the raw rows and adds `delta` (the same records, folded) to the rollups, in one
  // transaction; each latency histogram of `delta` is combined with the stored one by
  // `merge`. A stored histogram that `merge` refuses is never overwritten: the whole batch is
  // refused (StoreError, not transient).
  virtual void append(std::span<const RequestRecord> records, const RollupDelta& delta,
                      const HistogramMerge& merge) = 0;

  struct Query {
    std::int64_t rollup_first = 0;  // rollup intervals with start in [first, last]
    std::int64_t rollup_last = -1;
    std::int64_t raw_first = 0;  // raw rows with timestamp in [first, end)
    std::int64_t raw_end = 0;
    std::optional<std::string> key_id;  // only this key
  };
  // Receives what read selects. Every request is seen exactly once by byKey (or raw) and
  // once by byEndpoint (or raw); views are valid during the call only.
  struct Visitor {
    virtual ~Visitor() = default;
    virtual void byEndpoint(std::int64_t interval_start, std::string_view endpoint,
                            std::string_view method, const RollupCounts& counts) = 0;
    virtual void byKey(std::int64_t interval_start, std::string_view key_id,
                       const RollupCounts& counts) = 0;
    // One stored latency histogram in the domain's encoding (encodeHistogram), which every
    // backend stores as it is; the reader decodes it (and refuses a corrupt one).
    virtual void latency(std::string_view encoded_histogram) = 0;
    virtual void raw(const RequestRecord& row) = 0;
  };
  // Hands the rollups, latency histograms and raw rows the query selects to `visitor`, from
  // one consistent snapshot.
  virtual void read(const Query& query, Visitor& visitor) = 0;

  // The original system's request rows, whose time its database wrote as text (SQLite's
  // CURRENT_TIMESTAMP, "2026-11-25 05:30:00", UTC). Adopts up to `limit` of them in one
  // transaction: each row's time is rewritten as this module writes it, and the adopted rows,
  // folded by `fold`, are added to the rollups (histograms combined by `merge`), so they count
  // in every statistic from then on. Idempotent: an adopted row is a row like any other, never
  // adopted again; concurrent adopters each take rows no other has. Rows of keys that no
  // longer exist, and times no reader understands, are left as they are. Returns how many
  // rows were adopted (0: none is left).
  using Fold = std::function<RollupDelta(const std::vector<RequestRecord>&)>;
  virtual std::int64_t adoptLegacyRows(std::int64_t limit, const Fold& fold,
                                       const HistogramMerge& merge) = 0;

  // Retention: deletes raw rows recorded before `raw_cutoff_ms` and rollups of intervals
  // that started before `rollup_cutoff_ms`. Returns raw rows and rollup rows deleted.
  virtual std::pair<std::int64_t, std::int64_t> deleteBefore(std::int64_t raw_cutoff_ms,
                                                             std::int64_t rollup_cutoff_ms) = 0;
};

}  // namespace api
