// Benchmark of RateLimitService::check and authorize, with the windows in the shared segment
// or in the database (<store>: shared or database, as config rateLimitStore), or on PostgreSQL
// (<store> postgres, <db> its URL; setup and authorize only: tests/bench/pg_bench.cpp has the
// rest).
//
//   limit_bench latency <store>             check: median/p99 per call, one thread; authorize
//                                           over 1,000 and over 100,000 hot keys
//   limit_bench setup <store> <db> <n> <file>  creates n keys with limits they never reach;
//                                           writes their secrets to <file> (a bench's own)
//   limit_bench authorize <store> <db> <file> <threads> <ms>
//                                           authorizes the keys in turn from <threads>
//                                           threads for <ms> ms; prints the total
// scripts/bench runs `authorize` as one process with two threads and as two processes with
// one thread each, and adds them up.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "services/rate_limit_service.hpp"
#include "store/stores.hpp"
#include "support/process.hpp"
#include "usage/usage_recorder.hpp"

namespace {

api::ApiSettings settingsFor(const std::string& kind, const std::string& path) {
  api::ApiSettings settings;
  settings.store.database_path = path;
  settings.store.busy_timeout_ms = 10'000;
  settings.store.window_slots = 262'144;       // room for the 100,000-key run
  settings.usage.queue_capacity = 10'000'000;  // authorize + record never drops
  settings.usage.queue_max_bytes = 4LL << 30;
  settings.store.window_store = kind == "database" ? api::StoreSettings::WindowStoreKind::kDatabase
                                                   : api::StoreSettings::WindowStoreKind::kShared;
  if (kind == "postgres") {
    settings.store.database_url = path;
    settings.store.window_store = api::StoreSettings::WindowStoreKind::kDatabase;
    settings.store.database_timeout_ms = 10'000;
  }
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
  api::UsageRecorder recorder{settings, *store, clock, logger};

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

// authorize(key) over `keys` keys in turn, all cached and counted: the request path of a
// sibling module. Each call timed on its own.
int authorizeLatency(Stack& s, int keys) {
  std::vector<std::string> secrets;
  for (int i = 0; i < keys; ++i) {
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
  printPercentiles(keys == 1000 ? "authorize 1000 hot keys     " : "authorize 100000 hot keys   ",
                   ns);
  if (keys != 1000) {
    return 0;
  }
  // authorize, then record_request for the request served: a sibling module's whole path.
  api::RequestInput request;
  request.endpoint = "/api/v1/orders/12345/items";
  request.method = "GET";
  request.status_code = 200;
  request.response_time_ms = 12;
  request.ip_address = "203.0.113.7";
  request.user_agent = "curl/8.5.0";
  ns.clear();
  for (int i = 0; i < 110'000; ++i) {
    const std::string& secret = secrets[static_cast<size_t>(i) % secrets.size()];
    const auto start = std::chrono::steady_clock::now();
    const api::AuthorizeResult r = s.limits.authorize(secret);
    const bool recorded = r.allowed && s.recorder.record(r.key->id, request);
    const auto took =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    if (i >= 10'000) {  // after the queue's memory has grown
      ns.push_back(took);
    }
    if (!recorded) {
      std::fprintf(stderr, "limit_bench: an authorization was refused or a record dropped\n");
      return 1;
    }
  }
  printPercentiles("authorize + record_request  ", ns);
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
  if (const int failed = authorizeLatency(s, 1000); failed != 0) {
    return failed;
  }
  testing_support::TempDir big_dir;
  Stack big(kind, big_dir.path() + "/bench.sqlite3");
  return authorizeLatency(big, 100'000);
}

int setup(const std::string& kind, const std::string& path, int keys, const std::string& file) {
  Stack s(kind, path);
  std::ofstream out(file);
  for (int i = 0; i < keys; ++i) {
    out << s.newKey().secret << "\n";
  }
  return out ? 0 : 1;
}

int authorizeThroughput(const std::string& kind, const std::string& path, const std::string& file,
                        int threads, long ms) {
  Stack s(kind, path);
  std::vector<std::string> secrets;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    secrets.push_back(line);
  }
  if (secrets.empty()) {
    std::fprintf(stderr, "limit_bench: no keys in %s\n", file.c_str());
    return 1;
  }
  for (const std::string& secret : secrets) {  // cached, with their slots
    s.limits.authorize(secret);
  }
  std::atomic<long> total{0};
  std::atomic<bool> refused{false};
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      long done = 0;
      size_t at = static_cast<size_t>(t) * 7919 % secrets.size();
      while (std::chrono::steady_clock::now() < until) {
        for (int i = 0; i < 100; ++i) {
          if (!s.limits.authorize(secrets[at]).allowed) {
            refused = true;
          }
          at = at + 1 == secrets.size() ? 0 : at + 1;
        }
        done += 100;
      }
      total += done;
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  if (refused) {
    std::fprintf(stderr, "limit_bench: an authorization was refused\n");
    return 1;
  }
  std::printf("%ld\n", total.load());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "latency" && argc == 3) {
    return latency(argv[2]);
  }
  if (mode == "setup" && argc == 6) {
    return setup(argv[2], argv[3], std::atoi(argv[4]), argv[5]);
  }
  if (mode == "authorize" && argc == 7) {
    return authorizeThroughput(argv[2], argv[3], argv[4], std::atoi(argv[5]), std::atol(argv[6]));
  }
  std::fprintf(stderr,
               "usage: limit_bench latency <store> | setup <store> <db> <keys> <file>"
               " | authorize <store> <db> <file> <threads> <ms>"
               "   (<store>: shared, database, or postgres with <db> its URL)\n");
  return 2;
}
