// In-process benchmark of ApiKeyService::validateKey on the embedded store, as a sibling
// module's request path calls it. Prints median and p99 per call for:
//   - an existing, valid key (format check, SHA-256, change-stamp check, cached record);
//   - the same just after another connection committed (the cache cannot answer: an
//     indexed SQLite lookup), each call timed on its own;
//   - a malformed key and a key with a bad checksum (rejected before any hashing or lookup);
//   - a forged key: well-formed, its CRC-32 right (anyone can compute one), but unknown, so
//     every call hashes it and looks it up (unknown keys are never cached): what a flood of
//     such keys costs.
// Timing: batches of 100 calls, each batch timed with steady_clock; per-call figures are
// batch time / 100, so clock overhead is amortised. The store holds 10,000 keys.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "keys/key_codec.hpp"
#include "services/api_key_service.hpp"
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
  {
    // The same, each call just after another connection (as another process would) has
    // committed something, so the in-process cache cannot answer: the store is read.
    api::SqliteDb other(settings.store.database_path);
    api::Statement commit(other,
                          "INSERT INTO api_counters (name, value, updated_at)"
                          " VALUES ('bench', 1, 0) ON CONFLICT (name) DO UPDATE SET"
                          " value = value + 1",
                          "committing");
    constexpr int kCalls = 20'000;
    std::vector<double> ns;
    ns.reserve(kCalls);
    for (int i = 0; i < kCalls; ++i) {
      commit.run();
      const auto start = std::chrono::steady_clock::now();
      sink = keys.validateKey(existing).valid;
      ns.push_back(
          std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start)
              .count());
    }
    std::sort(ns.begin(), ns.end());
    std::printf("%-44s median_us=%.3f p99_us=%.3f calls=%d\n",
                "validateApiKey existing key, after a commit", ns[ns.size() / 2] / 1000.0,
                ns[ns.size() * 99 / 100] / 1000.0, kCalls);
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
