// The one place that chooses store backends from the settings.
#include "store/postgres/pg_stores.hpp"
#include "store/shared/shared_stores.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "store/stores.hpp"

namespace api {

std::unique_ptr<Stores> openStores(const StoreSettings& settings, const StoreOpening& opening) {
  if (!settings.database_url.empty()) {
    // Every host decides on the database itself: the shared segment is per machine.
    PgOptions options;
    options.url = settings.database_url;
    options.timeout_ms = settings.database_timeout_ms;
    options.pool_size = static_cast<std::size_t>(settings.pool_size);
    options.trace = opening.trace;
    return std::make_unique<PgStores>(std::move(options));
  }
  auto database = std::make_unique<SqliteStores>(
      SqliteStoreOptions(settings.database_path, settings.busy_timeout_ms, opening.trace));
  if (!opening.rate_limits || settings.window_store != StoreSettings::WindowStoreKind::kShared) {
    return database;
  }
  SharedWindowStore::Options options;
  options.path = settings.database_path + "-ratelimit";
  options.slots = settings.window_slots;
  options.shape = opening.shape;
  options.warn = opening.warn;
  return std::make_unique<SharedWindowStores>(std::move(database), std::move(options));
}

}  // namespace api
