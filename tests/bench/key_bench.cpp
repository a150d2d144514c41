// In-process benchmark of ApiKeyService::validateKey on the embedded store, as a sibling
// module's request path calls it. Prints median and p99 per call for:
//   - an existing, valid key (format check, SHA-256, change-token check, cached record);
//   - the same while another connection, on another thread (as another process would),
//     commits something that is not a key change in a loop (the cache still answers);
//   - the same, each call right after such a commit on the same thread (each timed);
//   - the same just after another connection changed a key (the key change epoch moved: the
//     cache cannot answer, an indexed SQLite lookup), each call timed on its own;
//   - a malformed key and a key with a bad checksum (rejected before any hashing or lookup);
//   - a forged key: well-formed, its CRC-32 right (anyone can compute one), but unknown, so
//     every call hashes it and looks it up (unknown keys are never cached): what a flood of
//     such keys costs.
// Timing: batches of 100 calls, each batch timed with steady_clock; per-call figures are
// batch time / 100, so clock overhead is amortised. The store holds 10,000 keys.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "keys/key_codec.hpp"
#include "services/api_key_service.hpp"
#include "services/rate_limit_service.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "support/process.hpp"

namespace {

constexpr int kBatch = 100;
constexpr int kBatches = 2000;

template <typename Call>
void measure(const char* label, Call&& call) {
  for (int i = 0; i < 1000; ++i) {
    call();  // warm-up
  }
  std::vector<double> ns;
  ns.reserve(kBatches);
  for (int b = 0; b < kBatches; ++b) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kBatch; ++i) {
      call();
    }
    const auto took = std::chrono::steady_clock::now() - start;
    ns.push_back(std::chrono::duration<double, std::nano>(took).count() / kBatch);
  }
  std::sort(ns.begin(), ns.end());
  std::printf("%-44s median_us=%.3f p99_us=%.3f calls=%d\n", label, ns[ns.size() / 2] / 1000.0,
              ns[ns.size() * 99 / 100] / 1000.0, kBatch * kBatches);
}

}  // namespace

int main() {
  testing_support::TempDir dir;
  api::ApiSettings settings;
  settings.store.database_path = dir.path() + "/bench.sqlite3";
  api::SystemClock clock;
  api::SqliteStores store(api::SqliteStoreOptions{settings.store.database_path, 5000});
  sp_host_api host{};
  host.size = sizeof(host);
  api::HostLogger logger(host);
  api::ApiKeyService keys(settings, store, clock, logger);

  std::string existing;
  for (int i = 0; i < 10'000; ++i) {
    api::CreateKeyRequest r;
    r.user_id = "user" + std::to_string(i % 500);
    r.name = "bench key";
    r.scopes = {"read", "write"};
    const auto created = keys.createKey(r);
    if (i == 5000) {
      existing = created.secret;
    }
  }
  std::string bad_checksum = existing;
  bad_checksum[20] = bad_checksum[20] == 'A' ? 'B' : 'A';
  const std::string malformed = "sk_this-is-not-a-key";

  volatile bool sink = false;
  measure("validateApiKey existing key", [&] { sink = keys.validateKey(existing).valid; });
  // Each call timed on its own, right after `before` (not timed) ran.
  const auto eachAfter = [&](const char* label, int calls, auto&& before) {
    std::vector<double> ns;
    ns.reserve(calls);
    for (int i = 0; i < calls; ++i) {
      before(i);
      const auto start = std::chrono::steady_clock::now();
      sink = keys.validateKey(existing).valid;
      ns.push_back(
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::sort(ns.begin(), ns.end());
    std::printf("%-44s median_us=%.3f p99_us=%.3f calls=%d\n", label, ns[ns.size() / 2] / 1000.0,
                ns[ns.size() * 99 / 100] / 1000.0, calls);
  };

  {
    // Another connection (as another process would, on another core) commits something that
    // changes no key, in a loop, all the while: the cache still answers.
    std::atomic<bool> stop{false};
    std::atomic<long> commits{0};
    std::thread committer([&] {
      api::SqliteDb other(settings.store.database_path);
      other.exec("PRAGMA synchronous = NORMAL", "configuring");  // as the module's connections
      api::Statement commit(other,
                            "INSERT INTO api_counters (name, value, updated_at)"
                            " VALUES ('bench', 1, 0) ON CONFLICT (name) DO UPDATE SET"
                            " value = value + 1",
                            "committing");
      while (!stop.load()) {
        commit.run();
        commits.fetch_add(1);
      }
    });
    const auto started = std::chrono::steady_clock::now();
    const long before = commits.load();
    measure("validateApiKey existing key, commits meanwhile",
            [&] { sink = keys.validateKey(existing).valid; });
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const long committed = commits.load() - before;
    stop.store(true);
    committer.join();
    std::printf("%-44s %.0f per second meanwhile\n", "  (other connection's commits)",
                committed / seconds);
  }
  {
    // Each call right after another connection committed something that changes no key, on
    // this thread, as a host's authorize follows its own rate-limit check: the cache answers,
    // from CPU caches the commit has cooled.
    api::SqliteDb other(settings.store.database_path);
    other.exec("PRAGMA synchronous = NORMAL", "configuring");
    api::Statement commit(other,
                          "INSERT INTO api_counters (name, value, updated_at)"
                          " VALUES ('bench', 1, 0) ON CONFLICT (name) DO UPDATE SET"
                          " value = value + 1",
                          "committing");
    eachAfter("validateApiKey existing key, after a commit", 20'000, [&](int) { commit.run(); });
  }
  {
    // Another connection changes another key's limit: the epoch moves, the store is read.
    api::SqliteStores other_store(api::SqliteStoreOptions{settings.store.database_path, 5000});
    api::ApiKeyService other_keys(settings, other_store, clock, logger);
    api::RateLimitService other_limits(settings, other_store, clock, logger, other_keys);
    api::CreateKeyRequest r;
    r.user_id = "changer";
    r.name = "changed key";
    const std::string changed = other_keys.createKey(r).key.id;
    eachAfter("validateApiKey existing key, after a key change", 5'000,
              [&](int i) { other_limits.update(changed, 100 + i % 2, "bench"); });
  }
  measure("validateApiKey bad checksum", [&] { sink = keys.validateKey(bad_checksum).valid; });
  measure("validateApiKey malformed", [&] { sink = keys.validateKey(malformed).valid; });
  const std::string forged = api::generateKey(settings.keys.prefix);
  measure("validateApiKey forged well-formed, unknown",
          [&] { sink = keys.validateKey(forged).valid; });
  if (keys.validateKey(forged).reason != api::KeyRejection::kNotFound) {
    std::fprintf(stderr, "key_bench: the forged key was not looked up and refused\n");
    return 1;
  }
  if (!keys.validateKey(existing).valid || keys.validateKey(bad_checksum).valid) {
    std::fprintf(stderr, "key_bench: validation gave a wrong answer\n");
    return 1;
  }
  return 0;
}
