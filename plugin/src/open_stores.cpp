// The one place that chooses store backends from the settings.
#include "store/shared/shared_stores.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "store/stores.hpp"

namespace api {

std::unique_ptr<Stores> openStores(const StoreSettings& settings, const StoreOpening& opening) {
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
