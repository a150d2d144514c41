// Benchmark of RateLimitService::check and authorize, with the windows in the shared segment
// or in the database (<store>: shared or database, as config rateLimitStore).
//
//   limit_bench latency <store>                     check: median/p99 per call, one thread;
//                                                   authorize over 1,000 hot keys: median/p99
//   limit_bench setup <store> <db>                  creates a key with a limit it never
//                                                   reaches; prints its id
//   limit_bench throughput <store> <db> <key> <ms>  checks the key for <ms> ms from one
//                                                   thread; prints the number of checks
// scripts/bench runs `throughput` in one and in two processes at once and adds them up.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "services/rate_limit_service.hpp"
#include "store/stores.hpp"
#include "support/process.hpp"

namespace {

api::ApiSettings settingsFor(const std::string& kind, const std::string& path) {
  api::ApiSettings settings;
  settings.store.database_path = path;
  settings.store.busy_timeout_ms = 10'000;
  settings.store.window_store = kind == "database" ? api::StoreSettings::WindowStoreKind::kDatabase
                                                   : api::StoreSettings::WindowStoreKind::kShared;
  return settings;
}

std::unique_ptr<api::Stores> open(const api::ApiSettings& settings) {
  api::StoreOpening opening;
  opening.shape = settings.rate_limits.windowShape();
  return api::openStores(settings.store, opening);
}

struct Stack {
  Stack(const std::string& kind, const std::string& path)
      : settings(settingsFor(kind, path)), store(open(settings)) {
    host.size = sizeof(host);
  }
  api::ApiSettings settings;
  api::SystemClock clock;
  sp_host_api host{};
  std::unique_ptr<api::Stores> store;
  api::HostLogger logger{host};
  api::ApiKeyService keys{settings, *store, clock, logger};
  api::RateLimitService limits{settings, *store, clock, logger, keys};

  api::CreatedKey newKey() {
    api::CreateKeyRequest r;
    r.user_id = "bench";
    r.name = "bench";
    r.rate_limit = 1'000'000'000;
    return keys.createKey(r);
  }
};

void printPercentiles(const char* what, std::vector<double>& ns) {
  std::sort(ns.begin(), ns.end());
  std::printf("%s median_us=%.3f p99_us=%.3f calls=%zu\n", what, ns[ns.size() / 2] / 1000.0,
              ns[ns.size() * 99 / 100] / 1000.0, ns.size());
}

// authorize(key) over 1,000 keys in turn, all cached and counted: the request path of a
// sibling module. Each call timed on its own.
int authorizeLatency(Stack& s) {
  std::vector<std::string> secrets;
  for (int i = 0; i < 1000; ++i) {
    secrets.push_back(s.newKey().secret);
  }
  for (int round = 0; round < 3; ++round) {
    for (const std::string& secret : secrets) {
      s.limits.authorize(secret);
    }
  }
  std::vector<double> ns;
  ns.reserve(100'000);
  for (int i = 0; i < 100'000; ++i) {
    const std::string& secret = secrets[static_cast<size_t>(i) % secrets.size()];
    const auto start = std::chrono::steady_clock::now();
    const bool allowed = s.limits.authorize(secret).allowed;
    ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count());
    if (!allowed) {
      std::fprintf(stderr, "limit_bench: an authorization was refused\n");
      return 1;
    }
  }
  printPercentiles("authorize 1000 hot keys     ", ns);
  return 0;
}

int latency(const std::string& kind) {
  testing_support::TempDir dir;
  Stack s(kind, dir.path() + "/bench.sqlite3");
  const std::string key = s.newKey().key.id;
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
  printPercentiles("checkRateLimit one thread   ", ns);
  return authorizeLatency(s);
}

int throughput(const std::string& kind, const std::string& path, const std::string& key, long ms) {
  Stack s(kind, path);
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
  if (mode == "latency" && argc == 3) {
    return latency(argv[2]);
  }
  if (mode == "setup" && argc == 4) {
    std::printf("%s\n", Stack(argv[2], argv[3]).newKey().key.id.c_str());
    return 0;
  }
  if (mode == "throughput" && argc == 6) {
    return throughput(argv[2], argv[3], argv[4], std::atol(argv[5]));
  }
  std::fprintf(stderr,
               "usage: limit_bench latency <store> | setup <store> <db> | throughput <store> <db> "
               "<key> <ms>   (<store>: shared or database)\n");
  return 2;
}
