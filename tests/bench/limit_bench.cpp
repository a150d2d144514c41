// Benchmark of RateLimitService::check on the embedded store.
//
//   limit_bench latency                       median/p99 per call, one thread, one process
//   limit_bench setup <db>                    creates a key with a limit it never reaches;
//                                             prints its id
//   limit_bench throughput <db> <key> <ms>    checks the key for <ms> ms from one thread;
//                                             prints the number of checks
// scripts/bench runs `throughput` in one and in two processes at once and adds them up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "services/rate_limit_service.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "support/process.hpp"

namespace {

struct Stack {
  explicit Stack(const std::string& path) : store(api::SqliteStoreOptions{path, 10'000}) {
    settings.store.database_path = path;
    host.size = sizeof(host);
  }
  api::ApiSettings settings;
  api::SystemClock clock;
  sp_host_api host{};
  api::SqliteStores store;
  api::HostLogger logger{host};
  api::ApiKeyService keys{settings, store, clock, logger};
  api::RateLimitService limits{settings, store, clock, logger, keys};

  std::string newKey() {
    api::CreateKeyRequest r;
    r.user_id = "bench";
    r.name = "bench";
    r.rate_limit = 1'000'000'000;
    return keys.createKey(r).key.id;
  }
};

int latency() {
  testing_support::TempDir dir;
  Stack s(dir.path() + "/bench.sqlite3");
  const std::string key = s.newKey();
  for (int i = 0; i < 1000; ++i) {
    s.limits.check(key);
  }
  // Each call timed on its own (steady_clock costs some 20 ns, included), so the p99 is of
  // single calls, not of batch averages.
  constexpr int kCalls = 100'000;
  std::vector<double> ns;
  ns.reserve(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const bool allowed = s.limits.check(key).allowed;
    ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count());
    if (!allowed) {
      std::fprintf(stderr, "limit_bench: a check was refused\n");
      return 1;
    }
  }
  std::sort(ns.begin(), ns.end());
  std::printf("checkRateLimit one thread    median_us=%.2f p99_us=%.2f calls=%d\n",
              ns[ns.size() / 2] / 1000.0, ns[ns.size() * 99 / 100] / 1000.0, kCalls);
  return 0;
}

int throughput(const std::string& path, const std::string& key, long ms) {
  Stack s(path);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  long checks = 0;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 0; i < 100; ++i) {
      if (!s.limits.check(key).allowed) {
        std::fprintf(stderr, "limit_bench: a check was refused\n");
        return 1;
      }
    }
    checks += 100;
  }
  std::printf("%ld\n", checks);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "latency") {
    return latency();
  }
  if (mode == "setup" && argc == 3) {
    std::printf("%s\n", Stack(argv[2]).newKey().c_str());
    return 0;
  }
  if (mode == "throughput" && argc == 5) {
    return throughput(argv[2], argv[3], std::atol(argv[4]));
  }
  std::fprintf(stderr, "usage: limit_bench latency | setup <db> | throughput <db> <key> <ms>\n");
  return 2;
}
