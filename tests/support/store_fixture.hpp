// The services of the plugin tests over a real store, with simulated time: a silent host, one
// "process" (ServiceNode) and the base fixture. The store is a SQLite file in a temporary
// directory, or a new PostgreSQL database (PROMPT_TEST_STORE=postgres, see test_database.hpp).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

#include "config/settings.hpp"
#include "domain/clock.hpp"
#include "domain/random.hpp"
#include "log/host_logger.hpp"
#include "process.hpp"
#include "services/api_key_service.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "test_stores.hpp"
#include "util/time_text.hpp"

namespace api {
// For messages of BOOST_TEST comparisons of rejection reasons.
inline std::ostream& operator<<(std::ostream& os, KeyRejection reason) {
  return os << keyRejectionName(reason);
}
}  // namespace api

namespace testing_support {

// A host without a log function: HostLogger drops its records.
inline sp_host_api silentHost() {
  sp_host_api host{};
  host.size = sizeof(host);
  return host;
}

// How long a node's store waits for another connection's lock, unless told otherwise.
inline constexpr std::int64_t kBusyTimeoutMs = 2000;

// One "process": its own store connection, logger and key service over a database file that
// other nodes may share. Tests add the services they need (RateLimitService, UsageService)
// over `store`, `logger` and `keys`.
struct ServiceNode {
  ServiceNode(const std::string& path, const api::ApiSettings& settings, const api::Clock& clock,
              std::int64_t busy_timeout_ms = kBusyTimeoutMs,
              api::RandomSource& random = api::systemRandom())
      : stores(openTestStores(path, busy_timeout_ms)),
        store(*stores),
        logger(host),
        keys(settings, store, clock, logger, random) {}
  ServiceNode(const ServiceNode&) = delete;
  ServiceNode& operator=(const ServiceNode&) = delete;

  sp_host_api host = silentHost();
  std::unique_ptr<api::Stores> stores;
  api::Stores& store;
  api::HostLogger logger;
  api::ApiKeyService keys;
};

// A temporary directory, the database path in it, settings and a manual clock at `start` (ISO
// 8601 UTC). Fixtures derive from it and add their nodes and services.
struct StoreFixture {
  explicit StoreFixture(const std::string& start, api::ApiSettings initial = {})
      : settings(std::move(initial)), clock(*api::parseIsoUtc(start)) {}

  TempDir dir;
  TestDatabase database{dir.path()};
  // The SQLite file, or the PostgreSQL database's URL.
  std::string path = database.location();
  api::ApiSettings settings;
  api::ManualClock clock;
};

}  // namespace testing_support
