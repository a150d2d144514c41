// Usage recording and statistics against a real store, with simulated time; expected figures
// are computed here, independently, from the generated records.
#include "usage/usage_service.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <future>
#include <random>
#include <thread>

#include "cli/usage_commands.hpp"
#include "domain/errors.hpp"
#include "services/api_key_service.hpp"
#include "store_fixture.hpp"
#include "usage/usage_recorder.hpp"
#include "util/time_text.hpp"

namespace {

using namespace std::chrono_literals;
using testing_support::onPostgres;
using testing_support::querySql;
using testing_support::queryValue;
using testing_support::WriterLock;

struct Generated {
  std::string key;
  std::string endpoint;
  std::string method;
  int status = 0;
  std::int64_t time_ms = 0;
  std::int64_t at_ms = 0;
};

api::ApiSettings flushingEvery10Ms() {
  api::ApiSettings s;
  s.usage.flush_interval_ms = 10;
  return s;
}

struct Fixture : testing_support::StoreFixture {
  Fixture() : StoreFixture("2026-11-25T12:30:00.000Z", flushingEvery10Ms()) {}

  testing_support::ServiceNode node{path, settings, clock, 5000};
  api::Stores& store = node.store;
  api::HostLogger& logger = node.logger;
  api::ApiKeyService& keys = node.keys;
  api::UsageService usage{settings, store.usage(), store.keys(), clock};
  api::UsageRecorder recorder{settings, store, clock, logger};

  std::string newKey() {
    api::CreateKeyRequest r;
    r.user_id = "u";
    r.name = "k";
    return keys.createKey(r).key.id;
  }
  void record(const Generated& g) {
    clock.set(api::TimePoint(std::chrono::milliseconds(g.at_ms)));
    BOOST_REQUIRE(
        recorder.record(g.key, {g.endpoint, g.method, g.status, g.time_ms, "10.0.0.1", "test"}));
  }
};

std::int64_t nearestRank(std::vector<std::int64_t> values, int p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const size_t rank = (static_cast<size_t>(p) * values.size() + 99) / 100;
  return values[std::max<size_t>(rank, 1) - 1];
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(usage_service, Fixture)

BOOST_AUTO_TEST_CASE(statistics_are_exact_on_a_generated_data_set) {
  const std::vector<std::string> ids{newKey(), newKey(), newKey()};
  const std::vector<std::string> endpoints{"/a", "/b", "/c", "/d"};
  std::mt19937_64 rng(7);
  const std::int64_t end_ms = clock.now().time_since_epoch().count();
  std::vector<Generated> all;
  for (int i = 0; i < 6000; ++i) {
    Generated g;
    g.key = ids[rng() % 3];
    g.endpoint = endpoints[rng() % 4];
    g.method = rng() % 5 == 0 ? "POST" : "GET";
    g.status = rng() % 7 == 0 ? 503 : (rng() % 9 == 0 ? 404 : 200);
    g.time_ms = static_cast<std::int64_t>(rng() % 700);
    g.at_ms = end_ms - static_cast<std::int64_t>(rng() % (10LL * 86'400'000));  // 10 days
    all.push_back(g);
  }
  std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.at_ms < b.at_ms; });
  for (const Generated& g : all) {
    record(g);
  }
  recorder.flush();
  clock.set(api::TimePoint(std::chrono::milliseconds(end_ms)));

  for (const auto& [period, span_ms] : std::vector<std::pair<std::string, std::int64_t>>{
           {"24h", 86'400'000}, {"7d", 7 * 86'400'000LL}}) {
    for (const std::optional<std::string>& key :
         std::vector<std::optional<std::string>>{std::nullopt, ids[1]}) {
      const auto stats = usage.stats(api::UsageService::parsePeriod(period), key, 3);
      const std::int64_t start = end_ms - span_ms;
      std::vector<std::int64_t> times;
      std::int64_t errors = 0;
      std::int64_t time_sum = 0;
      std::map<std::pair<std::string, std::string>, std::int64_t> per_endpoint;
      std::map<std::string, std::pair<std::int64_t, std::int64_t>> per_key;  // total, failures
      for (const Generated& g : all) {
        if (g.at_ms < start || g.at_ms > end_ms || (key && g.key != *key)) {
          continue;
        }
        times.push_back(g.time_ms);
        errors += g.status >= 400 ? 1 : 0;
        time_sum += g.time_ms;
        ++per_endpoint[{g.endpoint, g.method}];
        auto& k = per_key[g.key];
        ++k.first;
        k.second += g.status >= 400 ? 1 : 0;
      }
      const std::string label = period + (key ? " one key" : " all keys");
      BOOST_TEST(stats.total_requests == static_cast<std::int64_t>(times.size()), label);
      BOOST_TEST(stats.errors == errors, label);
      BOOST_TEST(stats.total_time_ms == time_sum, label);
      BOOST_TEST(stats.unique_keys == static_cast<std::int64_t>(per_key.size()), label);
      BOOST_TEST(stats.p50_ms == nearestRank(times, 50), label);
      BOOST_TEST(stats.p95_ms == nearestRank(times, 95), label);
      BOOST_TEST(stats.p99_ms == nearestRank(times, 99), label);
      BOOST_TEST(stats.errorRate() == 100.0 * double(errors) / double(times.size()), label);
      std::vector<std::pair<std::int64_t, std::pair<std::string, std::string>>> ranked;
      ranked.reserve(per_endpoint.size());
      for (const auto& [where, n] : per_endpoint) {
        ranked.push_back({-n, where});
      }
      std::sort(ranked.begin(), ranked.end());
      BOOST_REQUIRE(stats.top_endpoints.size() == std::min<size_t>(3, ranked.size()));
      for (size_t i = 0; i < stats.top_endpoints.size(); ++i) {
        BOOST_TEST(stats.top_endpoints[i].endpoint == ranked[i].second.first, label << i);
        BOOST_TEST(stats.top_endpoints[i].method == ranked[i].second.second, label << i);
        BOOST_TEST(stats.top_endpoints[i].requests == -ranked[i].first, label << i);
      }
      for (const api::KeyUsage& k : stats.keys) {
        BOOST_TEST(k.total == per_key[k.key_id].first, label);
        BOOST_TEST(k.failures == per_key[k.key_id].second, label);
      }
      std::int64_t series_total = 0;
      for (const auto& p : stats.series) {
        series_total += p.requests;
      }
      BOOST_TEST(series_total == stats.total_requests, label);
      BOOST_TEST(stats.series_bucket_ms ==
                 (span_ms <= std::int64_t{2} * 86'400'000 ? 3'600'000 : 86'400'000));
    }
  }
  // 3 calendar months reach past all ten days of data.
  const auto everything = usage.stats(api::UsageService::parsePeriod("3m"), std::nullopt);
  BOOST_TEST(everything.total_requests == 6000);
}

BOOST_AUTO_TEST_CASE(ties_order_by_endpoint_then_method_and_an_empty_period_gives_zeros) {
  const std::string id = newKey();
  const std::int64_t now = clock.now().time_since_epoch().count();
  for (const char* endpoint : {"/z", "/a", "/m"}) {
    record({id, endpoint, "GET", 200, 5, now - 1000});
    record({id, endpoint, "DELETE", 200, 5, now - 1000});
  }
  recorder.flush();
  const auto stats = usage.stats(api::Span{1, 'h'}, std::nullopt);
  std::vector<std::string> order;
  for (const auto& e : stats.top_endpoints) {
    order.push_back(e.method + " " + e.endpoint);
  }
  BOOST_TEST(order == (std::vector<std::string>{"DELETE /a", "GET /a", "DELETE /m", "GET /m",
                                                "DELETE /z", "GET /z"}),
             boost::test_tools::per_element());

  clock.advance(48h);
  const auto empty = usage.stats(api::Span{1, 'h'}, std::nullopt);
  BOOST_TEST(empty.total_requests == 0);
  BOOST_TEST(empty.errorRate() == 0.0);  // never NaN
  BOOST_TEST(empty.averageMs() == 0.0);
  BOOST_TEST(empty.p99_ms == 0);
  BOOST_TEST(empty.unique_keys == 0);
  BOOST_TEST(empty.top_endpoints.empty());
}

BOOST_AUTO_TEST_CASE(periods_are_checked_with_clear_errors) {
  for (const auto& [text, expected] : std::vector<std::pair<const char*, const char*>>{
           {"30x", "invalid --period \"30x\": use <number><h|d|w|m|y>"},
           {"0d", "invalid --period \"0d\": must be at least 1"},
           {"99999999999y", "invalid --period \"99999999999y\": too long: at most 100 years"},
           {"", "invalid --period \"\""}}) {
    try {
      api::UsageService::parsePeriod(text);
      BOOST_FAIL("accepted " << text);
    } catch (const api::InvalidInput& e) {
      BOOST_TEST(std::string(e.what()).find(expected) != std::string::npos, e.what());
    }
  }
  const auto start = api::subtractSpan(*api::parseIsoUtc("2026-03-31T10:00:00Z"), {1, 'm'});
  BOOST_TEST(api::formatIsoUtc(start) == "2026-02-28T10:00:00.000Z");  // a calendar month
}

BOOST_AUTO_TEST_CASE(rollups_agree_with_the_raw_rows_and_retention_keeps_them_apart) {
  const std::string a = newKey();
  const std::string b = newKey();
  const std::int64_t now = clock.now().time_since_epoch().count();
  for (int i = 0; i < 3000; ++i) {
    record({i % 2 == 0 ? a : b, i % 3 == 0 ? "/x" : "/y", "GET", i % 4 == 0 ? 500 : 200, i % 50,
            now - 40LL * 86'400'000 + i * 1'200'000LL});  // 40 days ago .. now
  }
  recorder.flush();
  const auto raw_sums = querySql(
      path,
      "SELECT count(*), sum(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END), sum(response_time)"
      " FROM api_requests");
  const auto rollup_sums =
      querySql(path, "SELECT sum(requests), sum(errors), sum(total_time) FROM api_usage_rollups");
  BOOST_REQUIRE(raw_sums.size() == 1u);
  BOOST_REQUIRE(rollup_sums.size() == 1u);
  BOOST_TEST(raw_sums[0][0] == "3000");
  BOOST_TEST(raw_sums[0] == rollup_sums[0], boost::test_tools::per_element());
  const auto before = usage.stats(api::Span{7, 'd'}, std::nullopt);
  const auto [raw, rollups] = store.usage().deleteBefore(now - settings.usage.request_retention_ms,
                                                         now - settings.usage.rollup_retention_ms);
  BOOST_TEST(raw > 0);
  BOOST_TEST(rollups == 0);
  const auto after = usage.stats(api::Span{7, 'd'}, std::nullopt);
  BOOST_TEST(after.total_requests == before.total_requests);  // within retention: unchanged
  const auto long_ago = usage.stats(api::Span{60, 'd'}, std::nullopt);
  BOOST_TEST(long_ago.total_requests == 3000);  // rollups outlive the raw rows
  BOOST_TEST(!long_ago.exact);
  BOOST_TEST(!long_ago.truncated);
  BOOST_TEST(usage.stats(api::Span{2, 'y'}, std::nullopt).truncated);  // past rollupRetention
}

BOOST_AUTO_TEST_CASE(record_checks_every_field_and_truncates_a_long_user_agent) {
  const std::string id = newKey();
  const std::string long_endpoint(2049, 'e');
  const std::string long_ip(46, '1');  // the cases hold views: the text must outlive them
  struct Case {
    api::RequestInput input;
    std::string key;
    const char* expected;
  };
  const std::vector<Case> cases{
      {{"/a", "FETCH", 200, 1, "", ""}, id, "invalid method \"FETCH\": use GET, HEAD"},
      {{"/a", "GET", 99, 1, "", ""}, id, "invalid status code 99: use 100..599"},
      {{"/a", "GET", 600, 1, "", ""}, id, "invalid status code 600"},
      {{"/a", "GET", 200, -1, "", ""}, id, "invalid response time -1 ms"},
      {{"", "GET", 200, 1, "", ""}, id, "invalid endpoint of 0 bytes: use 1..2048"},
      {{long_endpoint, "GET", 200, 1, "", ""}, id, "invalid endpoint of 2049 bytes"},
      {{"/a", "GET", 200, 1, long_ip, ""}, id, "invalid IP address \"1111"},
      {{"/a", "GET", 200, 1, "not an ip <script>", ""}, id, "use an IPv4 or IPv6 address"},
      {{"/a", "GET", 200, 1, "10.0.0.256", ""}, id, "invalid IP address \"10.0.0.256\""},
      {{"/a\x1b[31m\n  GET /fake", "GET", 200, 1, "", ""}, id, "without control characters"},
      {{"/a\xff", "GET", 200, 1, "", ""}, id, "invalid endpoint \"/a?\""},
      {{"/a", "GET", 200, 1, "", ""}, "key_0000000000000000", "no key with id"},
  };
  for (const Case& c : cases) {
    try {
      recorder.record(c.key, c.input);
      BOOST_FAIL("accepted: " << c.expected);
    } catch (const api::InvalidInput& e) {
      BOOST_TEST(std::string(e.what()).find(c.expected) != std::string::npos, e.what());
    }
  }
  const std::string agent(5000, 'a');
  BOOST_TEST(recorder.record(id, {"/a", "get", 200, 1, "::1", agent}));
  // Cut at a character boundary, never inside the two bytes of the "é" at bytes 512 and 513.
  BOOST_TEST(recorder.record(
      id, {"/b", "GET", 200, 1, "203.0.113.7", std::string(511, 'u') + "\xc3\xa9" + "tail"}));
  BOOST_TEST(recorder.record(id, {"/c", "GET", 200, 1, "2001:db8::1", "curl\x1b[31m/8\xff"}));
  recorder.flush();
  const auto rows = querySql(path, "SELECT method, user_agent FROM api_requests ORDER BY endpoint");
  BOOST_REQUIRE(rows.size() == 3u);  // the invalid ones wrote nothing
  BOOST_TEST(rows[0][0] == "GET");
  BOOST_TEST(rows[0][1] == std::string(512, 'a'));
  BOOST_TEST(rows[1][1] == std::string(511, 'u'));
  BOOST_TEST(rows[2][1] == "curl?[31m/8?");  // control and invalid bytes made harmless
}

BOOST_AUTO_TEST_CASE(a_full_queue_drops_and_counts_without_blocking_and_loses_nothing_accepted) {
  settings.usage.queue_capacity = 1000;
  settings.usage.flush_interval_ms = 1000;
  const std::string id = newKey();
  WriterLock locker(path);  // holding the writer off
  std::int64_t accepted = 0;
  std::int64_t refused = 0;
  for (int i = 0; i < 20'000 && refused < 100; ++i) {
    (recorder.record(id, {"/q", "GET", 200, 1, "", ""}) ? accepted : refused) += 1;
  }
  BOOST_TEST(refused == 100);
  BOOST_TEST(recorder.droppedRecords() == 100u);
  // Records the writer holds count against the capacity too: the bound is on memory.
  BOOST_TEST(accepted == settings.usage.queue_capacity);
  locker.release();  // letting the writer in
  recorder.flush();
  BOOST_TEST(recorder.writtenRecords() == static_cast<std::uint64_t>(accepted));
  BOOST_TEST(usage.stats(api::Span{1, 'h'}, std::nullopt).total_requests == accepted);
  recorder.stop();
  // The drops are in the store, where `prompt health` in any process reads them.
  const auto counters = store.counters().all();
  const auto dropped = std::find_if(counters.begin(), counters.end(), [](const auto& c) {
    return c.name == api::kCounterRecordsDropped;
  });
  BOOST_REQUIRE(dropped != counters.end());
  BOOST_TEST(dropped->value == 100);
}

BOOST_AUTO_TEST_CASE(a_batch_is_queued_whole_or_not_at_all) {
  settings.usage.queue_capacity = 1000;
  settings.usage.flush_interval_ms = 1000;
  const std::string id = newKey();
  WriterLock locker(path);  // holding the writer off
  for (int i = 0; i < 995; ++i) {
    BOOST_REQUIRE(recorder.record(id, {"/one", "GET", 200, 1, "", ""}));
  }
  const api::UsageRecorder::RecordEntry entry{id, {"/batch", "post", 201, 2, "10.0.0.1", "ua"}};
  // Room for 5: a batch of 10 is refused whole, and nothing of it counts as dropped.
  const std::vector<api::UsageRecorder::RecordEntry> ten(10, entry);
  BOOST_TEST(!recorder.recordAll(ten));
  BOOST_TEST(recorder.waitingRecords() == 995u);
  BOOST_TEST(recorder.droppedRecords() == 0u);
  // A bad entry anywhere: the error names it, and nothing of the batch is queued.
  std::vector<api::UsageRecorder::RecordEntry> bad(3, entry);
  bad[2].input.method = "BREW";
  BOOST_CHECK_EXCEPTION(recorder.recordAll(bad), api::InvalidInput, [](const auto& e) {
    return std::string(e.what()).find("invalid method \"BREW\"") != std::string::npos;
  });
  bad[2] = entry;
  bad[1].key_id = "key_0000000000000000";
  BOOST_CHECK_THROW(recorder.recordAll(bad), api::InvalidInput);
  BOOST_TEST(recorder.waitingRecords() == 995u);
  const std::vector<api::UsageRecorder::RecordEntry> five(5, entry);
  BOOST_TEST(recorder.recordAll(five));
  BOOST_TEST(recorder.waitingRecords() == 1000u);
  BOOST_TEST(recorder.queuedTotal() == 1000u);
  locker.release();  // letting the writer in
  recorder.flush();
  BOOST_TEST(recorder.writtenRecords() == 1000u);
  BOOST_TEST(usage.stats(api::Span{1, 'h'}, std::nullopt).total_requests == 1000);
}

BOOST_AUTO_TEST_CASE(a_batch_entry_is_recorded_at_its_own_completion_time_within_the_range) {
  const std::string id = newKey();
  const api::UsageRecorder::RecordEntry entry{id, {"/then", "GET", 200, 1, "", ""}};
  const api::TimePoint now = clock.now();
  const api::UsageRecorder::TimeRange range = recorder.completionTimes(now);
  BOOST_TEST((range.earliest == now - std::chrono::days(30)));  // requestRetention
  BOOST_TEST((range.latest == now + std::chrono::minutes(5)));  // kMaxClockSkew
  // Outside the range: refused naming the time and the range, and nothing of the batch queued.
  std::vector<api::UsageRecorder::RecordEntry> batch(2, entry);
  for (const auto& [outside, named] : std::vector<std::pair<api::TimePoint, std::string>>{
           {range.latest + 1ms, "2026-11-25T12:35:00.001Z"},
           {range.earliest - 1ms, "2026-10-26T12:29:59.999Z"},
           {api::kLatestTime + 1ms, "253402300800000 ms since 1970"}}) {
    batch[1].completed_at = outside;
    BOOST_CHECK_EXCEPTION(recorder.recordAll(batch), api::InvalidInput, [&](const auto& e) {
      const std::string message = e.what();
      BOOST_TEST_INFO(message);
      return message.find("invalid completion time " + named +
                          ": use a time from 2026-10-26T12:30:00.000Z to "
                          "2026-11-25T12:35:00.000Z") != std::string::npos;
    });
  }
  BOOST_TEST(recorder.queuedTotal() == 0u);
  // Inside, both ends included: each entry at its own time; one without, at the clock's.
  batch = {entry, entry, entry};
  batch[1].completed_at = range.earliest;
  batch[2].completed_at = range.latest;
  BOOST_TEST(recorder.recordAll(batch));
  recorder.flush();
  const auto ms = [](api::TimePoint t) { return std::to_string(t.time_since_epoch().count()); };
  BOOST_TEST(
      (querySql(path, "SELECT timestamp FROM api_requests ORDER BY timestamp") ==
       std::vector<std::vector<std::string>>{{ms(range.earliest)}, {ms(now)}, {ms(range.latest)}}));
}

BOOST_AUTO_TEST_CASE(the_queue_is_bounded_in_bytes_as_well_as_in_records) {
  settings.usage.queue_capacity = 10'000'000;
  settings.usage.queue_max_bytes = 1 << 20;  // 1 MiB
  const std::string id = newKey();
  WriterLock locker(path);  // holding the writer off
  // Records of the largest accepted size: each holds about 2.7 KB.
  const std::string endpoint = "/" + std::string(api::kMaxEndpointLength - 1, 'e');
  const std::string agent(api::kMaxUserAgentLength, 'a');
  std::int64_t accepted = 0;
  std::int64_t refused = 0;
  for (int i = 0; i < 5'000 && refused < 10; ++i) {
    (recorder.record(id, {endpoint, "GET", 200, 1, "203.0.113.7", agent}) ? accepted : refused) +=
        1;
  }
  BOOST_TEST(refused == 10);
  api::RequestRecord largest;
  largest.key_id = id;
  largest.endpoint = endpoint;
  largest.method = "GET";
  largest.ip_address = "203.0.113.7";
  largest.user_agent = agent;
  const auto each = static_cast<std::int64_t>(api::UsageRecorder::recordBytes(largest));
  BOOST_TEST(each > 2'560);
  BOOST_TEST(accepted == settings.usage.queue_max_bytes / each, "each record: " << each);
  locker.release();  // letting the writer in
  recorder.flush();
  BOOST_TEST(recorder.writtenRecords() == static_cast<std::uint64_t>(accepted));
  BOOST_TEST(recorder.record(id, {endpoint, "GET", 200, 1, "203.0.113.7", agent}));  // room again
}

BOOST_AUTO_TEST_CASE(a_batch_that_cannot_be_written_is_kept_and_retried) {
  const std::string id = newKey();
  // No waiting for a lock on SQLite; on PostgreSQL a lock timeout of 100 ms.
  api::UsageRecorder impatient(settings, store, clock, logger,
                               [&] { return testing_support::openTestStores(path, 0); });
  WriterLock locker(path);  // holding the writer off
  for (int i = 0; i < 10; ++i) {
    BOOST_REQUIRE(impatient.record(id, {"/r", "GET", 200, 1, "", ""}));
  }
  BOOST_CHECK_THROW(impatient.flush(), api::StoreError);  // the failure is reported...
  locker.release();                                       // letting the writer in
  impatient.flush();  // ...and the same records are written once the lock is gone
  BOOST_TEST(impatient.writtenRecords() == 10u);
  BOOST_TEST(impatient.failedRecords() == 0u);
  BOOST_TEST(queryValue(path, "SELECT count(*) FROM api_requests") == "10");
}

BOOST_AUTO_TEST_CASE(a_batch_the_store_refuses_is_lost_at_once_and_the_writer_goes_on) {
  const std::string doomed = newKey();
  const std::string other = newKey();
  BOOST_REQUIRE(recorder.record(doomed, {"/d", "GET", 200, 1, "", ""}));
  recorder.flush();
  // The key disappears behind the recorder's back (the original system could delete keys),
  // so the next rows break the foreign key: retrying cannot help. (On PostgreSQL the deletion
  // takes the key's rows with it, which changes nothing here.)
  const std::string deletion = "DELETE FROM api_keys WHERE id = '" + doomed + "'";
  testing_support::execSql(path,
                           onPostgres() ? deletion : "PRAGMA foreign_keys = OFF; " + deletion);
  BOOST_REQUIRE(recorder.record(doomed, {"/d", "GET", 200, 1, "", ""}));
  BOOST_REQUIRE(recorder.record(doomed, {"/d", "GET", 200, 1, "", ""}));
  BOOST_CHECK_THROW(recorder.flush(), api::StoreError);
  BOOST_TEST(recorder.failedRecords() == 2u);
  BOOST_REQUIRE(recorder.record(other, {"/o", "GET", 200, 1, "", ""}));
  recorder.flush();  // not wedged behind the refused batch
  BOOST_TEST(recorder.writtenRecords() == 2u);
}

BOOST_AUTO_TEST_CASE(stop_gives_up_on_a_locked_store_at_its_deadline_and_counts_the_loss) {
  const std::string id = newKey();
  // On real time: stop() blocks the test's only thread until its deadline passes.
  const api::SystemClock real_clock;
  // No waiting for a lock on SQLite; on PostgreSQL a lock timeout of 100 ms.
  api::UsageRecorder impatient(settings, store, real_clock, logger,
                               [&] { return testing_support::openTestStores(path, 0); });
  impatient.setStopRetryFor(300ms);
  WriterLock locker(path);  // holding the writer off for good
  for (int i = 0; i < 10; ++i) {
    BOOST_REQUIRE(impatient.record(id, {"/s", "GET", 200, 1, "", ""}));
  }
  impatient.stop();  // returns: the lock never goes, the deadline does
  locker.release();
  BOOST_TEST(impatient.writtenRecords() == 0u);
  BOOST_TEST(impatient.failedRecords() == 10u);
  BOOST_TEST(!impatient.record(id, {"/s", "GET", 200, 1, "", ""}));  // stopped: dropped
  BOOST_TEST(impatient.droppedRecords() == 1u);
}

BOOST_AUTO_TEST_CASE(recording_never_waits_for_the_writer_or_a_lock) {
  const std::string first = newKey();
  const std::string second = newKey();
  WriterLock locker(path);  // holding every writer off
  // The writer's connection would wait ten minutes for the lock, holding itself busy.
  api::UsageRecorder patient(settings, store, clock, logger,
                             [&] { return testing_support::openTestStores(path, 600'000); });
  BOOST_REQUIRE(patient.record(first, {"/w", "GET", 200, 1, "", ""}));
  BOOST_TEST(!patient.flushFor(200ms));  // the writer holds it, waiting for the lock
  // A key id not seen before is looked up on a connection of its own: no wait.
  auto later = std::async(std::launch::async, [&] {
    return patient.record(second, {"/w", "GET", 200, 1, "", ""});
  });
  const bool answered = later.wait_for(30s) == std::future_status::ready;
  locker.release();  // letting the writer in
  BOOST_REQUIRE(answered);
  BOOST_TEST(later.get());
  patient.flush();
  BOOST_TEST(patient.writtenRecords() == 2u);
}

BOOST_AUTO_TEST_CASE(the_writer_flushes_when_the_interval_has_passed_on_its_clock) {
  const std::string id = newKey();
  BOOST_REQUIRE(recorder.record(id, {"/i", "GET", 200, 1, "", ""}));
  BOOST_REQUIRE(clock.awaitWaiters(1, 30s));  // the writer waits out its 10 ms interval
  clock.advance(9ms);
  BOOST_REQUIRE(clock.awaitWaiters(1, 30s));
  BOOST_TEST(recorder.writtenRecords() == 0u);  // no real time counts, and 9 ms is short
  clock.advance(1ms);
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (recorder.writtenRecords() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  BOOST_TEST(recorder.writtenRecords() == 1u);
}

// While records keep coming the writer writes them in pieces of about kPieceRecords: it waits
// what the last ones took to arrive, scaled to that many, at least 2 ms on SQLite (whose
// writes take the cores the request path runs on) and at most the interval (on PostgreSQL, the
// interval: settings_test). These settings name no database URL, whatever the suite's store.
BOOST_AUTO_TEST_CASE(while_records_flow_the_writer_writes_in_pieces) {
  settings.usage.flush_interval_ms = 1000;
  const std::string id = newKey();
  std::uint64_t total = 0;
  // Records `count`, then checks they are written `wait` later on the clock, not before.
  const auto step = [&](int count, std::chrono::milliseconds wait) {
    for (int i = 0; i < count; ++i) {
      BOOST_REQUIRE(recorder.record(id, {"/i", "GET", 200, 1, "", ""}));
    }
    // The writer has written the last piece (left its wait) and waits again.
    BOOST_REQUIRE(clock.awaitWaiters(1, 30s));
    clock.advance(wait - 1ms);
    std::this_thread::sleep_for(20ms);  // room for a wrong early write to show
    BOOST_TEST(recorder.writtenRecords() == total, "written before " << wait.count() << " ms");
    clock.advance(1ms);
    total += static_cast<std::uint64_t>(count);
    const auto give_up = std::chrono::steady_clock::now() + 30s;
    while (recorder.writtenRecords() < total && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    BOOST_TEST(recorder.writtenRecords() == total, "not written after " << wait.count() << " ms");
  };
  // The wait after `count` records came in `took`.
  const auto next = [&](std::chrono::milliseconds took, int count) {
    const auto scaled = took * static_cast<std::int64_t>(api::UsageRecorder::kPieceRecords) / count;
    const std::chrono::milliseconds shortest(api::usageShortestFlushIntervalMs(settings));
    return std::clamp<std::chrono::milliseconds>(scaled, shortest, 1000ms);
  };
  const std::chrono::milliseconds shortest(api::usageShortestFlushIntervalMs(settings));
  std::chrono::milliseconds wait = 1000ms;
  step(1, wait);  // idle: the whole interval
  wait = next(wait, 1);
  BOOST_TEST(wait.count() == 1000);  // one record an interval: the interval again
  step(1024, wait);
  wait = next(wait, 1024);
  BOOST_TEST(wait.count() < 1000);  // faster records, shorter waits
  step(2048, wait);
  wait = next(wait, 2048);
  step(4000, wait);
  wait = next(wait, 4000);
  BOOST_TEST(wait == shortest);  // never shorter than that
  step(1, wait);
  wait = next(wait, 1);
  BOOST_TEST(wait > shortest);  // a trickle: longer again
  step(1, wait);
}

BOOST_AUTO_TEST_CASE(stop_writes_everything_still_queued) {
  const std::string id = newKey();
  {
    api::UsageRecorder short_lived(settings, store, clock, logger);
    for (int i = 0; i < 5000; ++i) {
      short_lived.record(id, {"/s", "GET", 200, 1, "", ""});
    }
  }  // destroyed: stop() drains the queue
  BOOST_TEST(usage.stats(api::Span{1, 'h'}, std::nullopt).total_requests == 5000);
}

BOOST_AUTO_TEST_CASE(the_chart_draws_a_known_series) {
  api::UsageStats stats;
  stats.series_bucket_ms = 3'600'000;
  const std::int64_t base = api::parseIsoUtc("2026-11-25T08:00:00Z")->time_since_epoch().count();
  stats.series = {{base, 10, 1},
                  {base + 3'600'000, 0, 0},
                  {base + 7'200'000, 5, 0},
                  {base + 10'800'000, 1234, 12}};
  const std::string expected =
      "  HOUR (UTC)        REQUESTS                        ERRORS\n"
      "  2026-11-25 08:00  10        #                     1\n"
      "  2026-11-25 09:00  0                               0\n"
      "  2026-11-25 10:00  5         #                     0\n"
      "  2026-11-25 11:00  1,234     ####################  12\n"
      "  scale: # = 61.7 requests\n";
  BOOST_TEST(api::renderActivityChart(stats, 20) == expected);
}

BOOST_AUTO_TEST_SUITE_END()
