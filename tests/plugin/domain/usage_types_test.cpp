#include "domain/usage_types.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

BOOST_AUTO_TEST_SUITE(usage_types)

BOOST_AUTO_TEST_CASE(histograms_round_trip_through_their_blob_and_merge) {
  const api::LatencyHistogram h{{0, 3}, {7, 1}, {300, 2}, {86'400'000, 1}};
  api::LatencyHistogram merged{{7, 10}, {8, 1}};
  BOOST_TEST(api::mergeHistogram(api::encodeHistogram(h), merged));
  const api::LatencyHistogram expected{{0, 3}, {7, 11}, {8, 1}, {300, 2}, {86'400'000, 1}};
  BOOST_TEST((merged == expected));
  api::LatencyHistogram untouched;
  BOOST_TEST(!api::mergeHistogram(std::string("\x80", 1), untouched));  // truncated varint
  BOOST_TEST(api::encodeHistogram({}).empty());
}

namespace {

std::string varint(std::uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_corrupt_blob_is_refused_whole_and_never_overflows) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max();
  const std::vector<std::pair<std::string, std::string>> corrupt{
      {"a value delta past INT64_MAX", varint(std::uint64_t{1} << 63) + varint(1)},
      {"values that wrap around",
       varint(kMax) + varint(1) + varint(kMax) + varint(1)},  // UB before: signed overflow
      {"a value past 86,400,000 ms", varint(86'400'001) + varint(1)},
      {"a count above INT64_MAX", varint(5) + varint(kMax + 1)},
      {"a count of zero", varint(5) + varint(0)},
      {"a value that does not ascend", varint(5) + varint(1) + varint(0) + varint(1)},
      {"counts whose sum overflows",
       varint(5) + varint(kMax) + varint(1) + varint(kMax) + varint(0) + varint(kMax)},
      {"a ten-byte varint", std::string(10, '\xff') + "\x01" + varint(1)},
  };
  for (const auto& [what, blob] : corrupt) {
    api::LatencyHistogram into{{5, 1}};
    BOOST_TEST(!api::mergeHistogram(blob, into), what);
    BOOST_TEST((into == api::LatencyHistogram{{5, 1}}), what << ": left as it was");
    api::DenseHistogram dense;
    BOOST_TEST(!dense.merge(blob), what);
  }
  // The same value in two blobs sums, up to the largest count there can be, and no further.
  api::LatencyHistogram big;
  BOOST_TEST(api::mergeHistogram(varint(7) + varint(kMax - 1), big));
  BOOST_TEST(api::mergeHistogram(varint(7) + varint(1), big));
  BOOST_TEST(!api::mergeHistogram(varint(7) + varint(1), big));
  BOOST_TEST(big.at(7) == static_cast<std::int64_t>(kMax));
  api::DenseHistogram dense;
  BOOST_TEST(dense.merge(varint(7) + varint(kMax)));
  BOOST_TEST(!dense.merge(varint(7) + varint(1)));
  // Percentiles of counts that sum past INT64_MAX saturate instead of overflowing.
  const api::LatencyHistogram huge{{1, static_cast<std::int64_t>(kMax)}, {9, 5}};
  BOOST_TEST(api::percentile(huge, 99) == 1);
  BOOST_TEST(api::percentile(huge, 100) == 1);
}

BOOST_AUTO_TEST_CASE(percentiles_are_nearest_rank) {
  api::LatencyHistogram one_to_hundred;
  for (int v = 1; v <= 100; ++v) {
    one_to_hundred[v] = 1;
  }
  BOOST_TEST(api::percentile(one_to_hundred, 50) == 50);
  BOOST_TEST(api::percentile(one_to_hundred, 95) == 95);
  BOOST_TEST(api::percentile(one_to_hundred, 99) == 99);
  BOOST_TEST(api::percentile(one_to_hundred, 100) == 100);
  api::LatencyHistogram twenty;  // 1..20: p95 is rank 19 exactly, not 20
  for (int v = 1; v <= 20; ++v) {
    twenty[v] = 1;
  }
  BOOST_TEST(api::percentile(twenty, 95) == 19);
  BOOST_TEST(api::percentile({{5, 1}}, 99) == 5);
  BOOST_TEST(api::percentile({}, 50) == 0);
  BOOST_TEST(api::percentile({{1, 98}, {1000, 2}}, 99) == 1000);
  BOOST_TEST(api::percentile({{1, 98}, {1000, 2}}, 98) == 1);
}

BOOST_AUTO_TEST_CASE(records_fold_into_interval_rollups) {
  std::vector<api::RequestRecord> records{
      {"k1", "/a", "GET", "", "", 200, 10, 3'600'000},
      {"k1", "/a", "GET", "", "", 404, 30, 3'600'001},
      {"k1", "/a", "GET", "", "", 200, 10, 7'200'000},  // next hour
      {"k2", "/a", "GET", "", "", 500, 5, 3'700'000},
  };
  const api::RollupDelta d = api::foldIntoRollups(records, 3'600'000);
  BOOST_REQUIRE(d.rows.size() == 3u);
  const api::RollupCounts& c = d.rows.at({3'600'000, "k1", "/a", "GET"});
  BOOST_TEST(c.requests == 2);
  BOOST_TEST(c.errors == 1);
  BOOST_TEST(c.total_time == 40);
  BOOST_TEST(c.last_request == 3'600'001);
  BOOST_TEST((d.latency.at({3'600'000, "k1"}) == api::LatencyHistogram{{10, 1}, {30, 1}}));
}

BOOST_AUTO_TEST_SUITE_END()
