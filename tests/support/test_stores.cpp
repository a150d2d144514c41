// openTestStores and testStoreSettings.
#include "test_stores.hpp"

#include <algorithm>

#include "store/postgres/pg_stores.hpp"
#include "store/sqlite/sqlite_stores.hpp"

namespace testing_support {

std::unique_ptr<api::Stores> openTestStores(const std::string& location,
                                            std::int64_t busy_timeout_ms) {
  if (isPostgresUrl(location)) {
    api::PgOptions options;
    options.url = location;
    options.timeout_ms = std::max<std::int64_t>(busy_timeout_ms, 100);
    options.pool_size = 4;
    return std::make_unique<api::PgStores>(std::move(options));
  }
  return std::make_unique<api::SqliteStores>(api::SqliteStoreOptions{location, busy_timeout_ms});
}

api::StoreSettings testStoreSettings(const std::string& location, std::int64_t busy_timeout_ms) {
  api::StoreSettings settings;
  if (isPostgresUrl(location)) {
    settings.database_url = location;
    settings.database_timeout_ms = std::max<std::int64_t>(busy_timeout_ms, 100);
    settings.window_store = api::StoreSettings::WindowStoreKind::kDatabase;
  } else {
    settings.database_path = location;
    settings.busy_timeout_ms = busy_timeout_ms;
  }
  return settings;
}

}  // namespace testing_support
