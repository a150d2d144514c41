// Benchmarks of usage analytics on the embedded store (populate also on PostgreSQL: <db> a
// postgresql:// URL).
//
//   usage_bench record     recordApiRequest on the caller's thread: median and p99 of single
//                          calls (the writer running meanwhile), then the sustained rate at
//                          which 2,000,000 records are written (from the first record until
//                          the last is in the store; the queue (count and bytes) is made large
//                          enough that nothing is dropped, so this measures the writer).
//   usage_bench populate <db> <n>
//                          fills <db> with <n> requests spread over the last 30 days (50
//                          keys, 20 endpoints), through the same batch write as the writer.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "services/api_key_service.hpp"
#include "store/postgres/pg_stores.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "support/process.hpp"
#include "usage/usage_recorder.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// A SQLite file, or a PostgreSQL database when `path` is a postgresql:// URL.
std::unique_ptr<api::Stores> openAt(const std::string& path) {
  if (path.rfind("postgres", 0) == 0) {
    api::PgOptions options;
    options.url = path;
    options.timeout_ms = 60'000;
    return std::make_unique<api::PgStores>(std::move(options));
  }
  return std::make_unique<api::SqliteStores>(api::SqliteStoreOptions{path, 10'000});
}

struct Stack {
  explicit Stack(const std::string& path, std::int64_t queue) : owned(openAt(path)), store(*owned) {
    settings.store.database_path = path;
    settings.usage.queue_capacity = queue;
    settings.usage.queue_max_bytes = 4LL << 30;  // the most accepted: only the count bounds it
    host.size = sizeof(host);
  }
  api::ApiSettings settings;
  api::SystemClock clock;
  sp_host_api host{};
  std::unique_ptr<api::Stores> owned;
  api::Stores& store;
  api::HostLogger logger{host};
  api::ApiKeyService keys{settings, store, clock, logger};

  std::string newKey() {
    api::CreateKeyRequest r;
    r.user_id = "bench";
    r.name = "bench";
    return keys.createKey(r).key.id;
  }
};

int record() {
  testing_support::TempDir dir;
  Stack s(dir.path() + "/bench.sqlite3", 10'000'000);
  const std::string key = s.newKey();
  const api::RequestInput input{"/api/v1/data", "GET", 200, 45, "192.168.1.1", "MyApp/1.0"};
  // As in the module: the writer and the key lookups on connections of their own.
  const api::StoreFactory own_connection = [&] {
    return std::make_unique<api::SqliteStores>(
        api::SqliteStoreOptions{s.settings.store.database_path, s.settings.store.busy_timeout_ms});
  };
  {
    api::UsageRecorder recorder(s.settings, s.store, s.clock, s.logger, own_connection);
    constexpr int kCalls = 500'000;
    std::vector<double> ns;
    ns.reserve(kCalls);
    for (int i = 0; i < kCalls; ++i) {  // each call timed on its own (clock cost included)
      const auto start = Clock::now();
      recorder.record(key, input);
      ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - start).count());
    }
    recorder.flush();
    std::sort(ns.begin(), ns.end());
    std::printf("recordApiRequest caller thread   median_us=%.3f p99_us=%.3f calls=%d\n",
                ns[ns.size() / 2] / 1000.0, ns[ns.size() * 99 / 100] / 1000.0, kCalls);
    if (recorder.droppedRecords() != 0) {
      std::fprintf(stderr, "usage_bench: %llu records dropped\n",
                   static_cast<unsigned long long>(recorder.droppedRecords()));
      return 1;
    }
  }
  {
    api::UsageRecorder recorder(s.settings, s.store, s.clock, s.logger, own_connection);
    constexpr long kRecords = 2'000'000;
    const auto start = Clock::now();
    for (long i = 0; i < kRecords; ++i) {
      recorder.record(key, input);
    }
    recorder.flush();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("records written sustained        records_per_s=%.0f records=%ld seconds=%.2f\n",
                double(recorder.writtenRecords()) / seconds, kRecords, seconds);
    if (recorder.writtenRecords() != static_cast<std::uint64_t>(kRecords)) {
      std::fprintf(stderr, "usage_bench: only %llu of %ld written\n",
                   static_cast<unsigned long long>(recorder.writtenRecords()), kRecords);
      return 1;
    }
  }
  return 0;
}

int populate(const std::string& path, long n) {
  Stack s(path, 1000);
  std::vector<std::string> keys;
  keys.reserve(50);
  for (int i = 0; i < 50; ++i) {
    keys.push_back(s.newKey());
  }
  std::mt19937_64 rng(42);
  const std::int64_t now = s.clock.now().time_since_epoch().count();
  const std::int64_t span = 30LL * 86'400'000;
  const char* methods[] = {"GET", "POST"};
  std::vector<api::RequestRecord> batch;
  for (long done = 0; done < n;) {
    batch.clear();
    const long size = std::min<long>(50'000, n - done);
    // Chronological, as a live writer produces them.
    const std::int64_t from = now - span + span * done / n;
    for (long i = 0; i < size; ++i) {
      api::RequestRecord r;
      r.key_id = keys[rng() % keys.size()];
      r.endpoint = "/api/v1/resource" + std::to_string(rng() % 20);
      r.method = methods[rng() % 2];
      r.status_code = rng() % 20 == 0 ? 500 : 200;
      r.response_time_ms = static_cast<std::int64_t>(rng() % 2000);
      r.ip_address = "10.0.0.1";
      r.user_agent = "bench/1.0";
      r.timestamp_ms = from + span * i / n;
      batch.push_back(std::move(r));
    }
    s.store.usage().append(batch,
                           api::foldIntoRollups(batch, s.settings.usage.aggregation_interval_ms),
                           api::addToStoredHistogram);
    done += size;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "record") {
    return record();
  }
  if (mode == "populate" && argc == 4) {
    return populate(argv[2], std::atol(argv[3]));
  }
  std::fprintf(stderr, "usage: usage_bench record | populate <db> <n>\n");
  return 2;
}
