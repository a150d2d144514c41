// The one place that chooses a store backend from the settings.
#include "store/sqlite/sqlite_stores.hpp"
#include "store/stores.hpp"

namespace api {

std::unique_ptr<Stores> openStores(const ApiSettings& settings, StoreTrace trace) {
  return std::make_unique<SqliteStores>(SqliteStoreOptions(
      settings.store.database_path, settings.store.busy_timeout_ms, std::move(trace)));
}

}  // namespace api
