#include "domain/usage_types.hpp"

#include <cmath>
#include <limits>

namespace api {
namespace {

std::int64_t floorTo(std::int64_t t, std::int64_t step) {
  const std::int64_t q = t / step - ((t % step != 0 && t < 0) ? 1 : 0);
  return q * step;
}

void putVarint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool getVarint(std::string_view in, size_t& at, std::uint64_t& v) {
  v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= in.size()) {
      return false;
    }
    const auto byte = static_cast<unsigned char>(in[at++]);
    v |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

RollupDelta foldIntoRollups(std::span<const RequestRecord> records, std::int64_t interval_ms) {
  RollupDelta delta;
  for (const RequestRecord& r : records) {
    const std::int64_t start = floorTo(r.timestamp_ms, interval_ms);
    RollupCounts& c = delta.rows[{start, r.key_id, r.endpoint, r.method}];
    ++c.requests;
    c.errors += r.status_code >= 400 ? 1 : 0;
    c.total_time += r.response_time_ms;
    c.last_request = std::max(c.last_request, r.timestamp_ms);
    ++delta.latency[{start, r.key_id}][r.response_time_ms];
    RollupCounts& e = delta.endpoint_rows[{start, r.endpoint, r.method}];
    ++e.requests;
    e.errors += r.status_code >= 400 ? 1 : 0;
    e.total_time += r.response_time_ms;
    RollupCounts& k = delta.key_rows[{start, r.key_id}];
    ++k.requests;
    k.errors += r.status_code >= 400 ? 1 : 0;
    k.total_time += r.response_time_ms;
    k.last_request = std::max(k.last_request, r.timestamp_ms);
    ++delta.latency_all[start][r.response_time_ms];
  }
  return delta;
}

std::string encodeHistogram(const LatencyHistogram& histogram) {
  std::string out;
  std::int64_t previous = 0;
  for (const auto& [value, count] : histogram) {
    putVarint(out, static_cast<std::uint64_t>(value - previous));
    putVarint(out, static_cast<std::uint64_t>(count));
    previous = value;
  }
  return out;
}

namespace {

// Walks a blob's (value, count) pairs, calling add(value, count) for each; returns false at
// the first sign of corruption: a truncated varint, a value that does not ascend strictly
// or leaves 0..kMaxHistogramValue, a count of 0 or above INT64_MAX, or an add() that
// refuses (its sum would overflow). Every step is checked: the blob comes from a file.
template <typename Add>
bool decodeHistogram(std::string_view blob, Add&& add) {
  size_t at = 0;
  std::int64_t value = 0;
  bool first = true;
  while (at < blob.size()) {
    std::uint64_t delta = 0;
    std::uint64_t count = 0;
    if (!getVarint(blob, at, delta) || !getVarint(blob, at, count)) {
      return false;
    }
    if ((delta == 0 && !first) || delta > static_cast<std::uint64_t>(kMaxHistogramValue - value) ||
        count == 0 ||
        count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return false;
    }
    value += static_cast<std::int64_t>(delta);
    first = false;
    if (!add(value, static_cast<std::int64_t>(count))) {
      return false;
    }
  }
  return true;
}

// `into += count`, unless that overflows.
bool addChecked(std::int64_t& into, std::int64_t count) {
  return !__builtin_add_overflow(into, count, &into);
}

}  // namespace

bool DenseHistogram::merge(std::string_view blob) {
  return decodeHistogram(blob, [this](std::int64_t v, std::int64_t c) { return add(v, c); });
}

bool DenseHistogram::add(std::int64_t value, std::int64_t count) {
  if (value >= 0 && value < static_cast<std::int64_t>(dense_.size())) {
    return addChecked(dense_[static_cast<size_t>(value)], count);
  }
  return addChecked(overflow_[value], count);
}

LatencyHistogram DenseHistogram::sparse() const {
  LatencyHistogram out;
  for (size_t v = 0; v < dense_.size(); ++v) {
    if (dense_[v] != 0) {
      out.emplace_hint(out.end(), static_cast<std::int64_t>(v), dense_[v]);
    }
  }
  for (const auto& [v, c] : overflow_) {
    out[v] += c;  // values above the dense range are only ever in overflow_: no sum here
  }
  return out;
}

bool mergeHistogram(std::string_view blob, LatencyHistogram& into) {
  LatencyHistogram merged = into;  // all or nothing: `into` is untouched by a corrupt blob
  auto hint = merged.begin();
  const bool ok = decodeHistogram(blob, [&](std::int64_t value, std::int64_t count) {
    hint = merged.try_emplace(hint, value, 0);
    return addChecked(hint->second, count);
  });
  if (ok) {
    into = std::move(merged);
  }
  return ok;
}

std::optional<std::string> addToStoredHistogram(std::string_view stored,
                                                const LatencyHistogram& added) {
  LatencyHistogram merged = added;
  if (!stored.empty() && !mergeHistogram(stored, merged)) {
    return std::nullopt;
  }
  return encodeHistogram(merged);
}

std::int64_t percentile(const LatencyHistogram& histogram, int p) {
  // Counts may sum past INT64_MAX only in a histogram no store could hold; saturate rather
  // than overflow, and compute ceil(p * total / 100) without forming p * total.
  std::int64_t total = 0;
  for (const auto& [value, count] : histogram) {
    if (__builtin_add_overflow(total, count, &total)) {
      total = std::numeric_limits<std::int64_t>::max();
      break;
    }
  }
  if (total == 0) {
    return 0;
  }
  const std::int64_t rank = total / 100 * p + ((total % 100) * p + 99) / 100;
  std::int64_t seen = 0;
  for (const auto& [value, count] : histogram) {
    if (__builtin_add_overflow(seen, count, &seen) || seen >= std::max<std::int64_t>(rank, 1)) {
      return value;
    }
  }
  return histogram.rbegin()->first;
}

}  // namespace api
