#include "usage/usage_types.hpp"

#include <boost/test/unit_test.hpp>

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
