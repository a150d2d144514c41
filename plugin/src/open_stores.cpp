// The one place that chooses a store backend from the settings.
#include "store/sqlite/sqlite_stores.hpp"
#include "store/stores.hpp"

namespace api {

std::unique_ptr<Stores> openStores(const StoreSettings& settings, StoreTrace trace) {
  return std::make_unique<SqliteStores>(
      SqliteStoreOptions(settings.database_path, settings.busy_timeout_ms, std::move(trace)));
}

}  // namespace api
