// Benchmarks of the PostgreSQL store, on a server scripts/bench starts (or any URL given).
//
//   pg_bench latency <url>              check on one key and authorize over 1,000 keys, median
//                                       and p99 per call, one thread; cached validateKey
//   pg_bench propagation <url> <n>      n revocations committed by one "host" while another
//                                       validates the key in a loop: how long until it is
//                                       refused there (median and maximum), and on the
//                                       revoking host itself
//
// Checks per second from several processes come from limit_bench (store "postgres").
// The two hosts of `propagation` are two sets of stores in one process, each with its own
// connections and its own key change listener, as two machines would have.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "services/api_key_service.hpp"
#include "services/rate_limit_service.hpp"
#include "store/stores.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Host {
  Host(const std::string& url, const std::string& name) {
    host.size = sizeof(host);
    settings.store.database_url =
        url + (url.find('?') == std::string::npos ? "?" : "&") + "application_name=" + name;
    settings.store.window_store = api::StoreSettings::WindowStoreKind::kDatabase;
    api::StoreOpening opening;
    opening.shape = settings.rate_limits.windowShape();
    store = api::openStores(settings.store, opening);
    keys = std::make_unique<api::ApiKeyService>(settings, *store, clock, logger);
    limits = std::make_unique<api::RateLimitService>(settings, *store, clock, logger, *keys);
  }
  api::CreatedKey newKey() {
    api::CreateKeyRequest r;
    r.user_id = "bench";
    r.name = "bench";
    r.rate_limit = 1'000'000'000;
    return keys->createKey(r);
  }

  api::ApiSettings settings;
  api::SystemClock clock;
  sp_host_api host{};
  api::HostLogger logger{host};
  std::unique_ptr<api::Stores> store;
  std::unique_ptr<api::ApiKeyService> keys;
  std::unique_ptr<api::RateLimitService> limits;
};

double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

void print(const char* what, std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  std::printf("%s median_us=%.1f p99_us=%.1f max_us=%.1f calls=%zu\n", what, us[us.size() / 2],
              us[us.size() * 99 / 100], us.back(), us.size());
}

int latency(const std::string& url) {
  Host h(url, "bench");
  const std::string one = h.newKey().key.id;
  std::vector<double> us;
  for (int i = 0; i < 11'000; ++i) {
    const auto start = Clock::now();
    const bool allowed = h.limits->check(one).allowed;
    if (i >= 1'000) {
      us.push_back(micros(Clock::now() - start));
    }
    if (!allowed) {
      std::fprintf(stderr, "pg_bench: a check was refused\n");
      return 1;
    }
  }
  print("check one key, one thread        ", us);
  std::vector<std::string> secrets;
  for (int i = 0; i < 1000; ++i) {
    secrets.push_back(h.newKey().secret);
  }
  for (const std::string& secret : secrets) {
    h.limits->authorize(secret);
  }
  us.clear();
  for (int i = 0; i < 20'000; ++i) {
    const auto start = Clock::now();
    const bool allowed = h.limits->authorize(secrets[static_cast<size_t>(i) % 1000]).allowed;
    us.push_back(micros(Clock::now() - start));
    if (!allowed) {
      std::fprintf(stderr, "pg_bench: an authorization was refused\n");
      return 1;
    }
  }
  print("authorize 1000 keys, one thread  ", us);
  us.clear();
  for (int i = 0; i < 200'000; ++i) {
    const auto start = Clock::now();
    const bool valid = h.keys->validateKey(secrets[static_cast<size_t>(i) % 1000], false).valid;
    us.push_back(micros(Clock::now() - start));
    if (!valid) {
      std::fprintf(stderr, "pg_bench: a validation failed\n");
      return 1;
    }
  }
  print("validateKey cached, 1000 keys    ", us);
  return 0;
}

int propagation(const std::string& url, int n) {
  Host a(url, "bench-host-a");
  Host b(url, "bench-host-b");
  std::vector<double> remote;
  std::vector<double> local;
  for (int i = 0; i < n; ++i) {
    const api::CreatedKey created = b.newKey();
    const api::CreatedKey own = b.newKey();
    if (!a.keys->validateKey(created.secret, false).valid ||
        !b.keys->validateKey(own.secret, false).valid) {  // both cached now
      std::fprintf(stderr, "pg_bench: a new key did not validate\n");
      return 1;
    }
    b.keys->revokeKey(created.key.id, "bench", "bench");
    const auto committed = Clock::now();  // revokeKey returns once its commit is done
    const auto deadline = committed + std::chrono::seconds(5);
    while (a.keys->validateKey(created.secret, false).valid) {
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "pg_bench: a revocation was not seen within 5 s\n");
        return 1;
      }
    }
    remote.push_back(micros(Clock::now() - committed));
    b.keys->revokeKey(own.key.id, "bench", "bench");
    const auto own_committed = Clock::now();
    if (b.keys->validateKey(own.secret, false).valid) {
      std::fprintf(stderr, "pg_bench: the revoking host served its own revoked key\n");
      return 1;
    }
    local.push_back(micros(Clock::now() - own_committed));
  }
  print("revocation seen on another host  ", remote);
  print("revocation seen on its own host  ", local);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "latency" && argc == 3) {
    return latency(argv[2]);
  }
  if (mode == "propagation" && argc == 4) {
    return propagation(argv[2], std::atoi(argv[3]));
  }
  std::fprintf(stderr, "usage: pg_bench latency <url> | propagation <url> <n>\n");
  return 2;
}
