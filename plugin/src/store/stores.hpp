// One backend's set of stores, one per aggregate, sharing whatever the backend shares (for
// SQLite: one connection). Services take the one store they need; ApiModule owns the set.
//
// A new backend provides the four interfaces and health(); openStores (open_stores.cpp) is
// the one place that chooses a backend from the settings.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "config/settings.hpp"
#include "store/counter_store.hpp"
#include "store/key_store.hpp"
#include "store/store_error.hpp"
#include "store/usage_store.hpp"
#include "store/window_store.hpp"

namespace api {

class Stores {
 public:
  virtual ~Stores() = default;
  virtual KeyStore& keys() = 0;
  virtual WindowStore& windows() = 0;
  virtual UsageStore& usage() = 0;
  virtual CounterStore& counters() = 0;
  // Checks that the store answers and is migrated to the latest schema. Never throws.
  virtual StoreHealth health() noexcept = 0;
};

// Called once for every statement a store runs, when it has finished, with its text as
// written (parameters as placeholders: bound values, which may be key hashes, never appear)
// and how long it ran. Empty: no tracing, at no cost.
using StoreTrace = std::function<void(std::string_view statement, std::int64_t took_ns)>;

// How one opening of the store is used.
struct StoreOpening {
  // The window every key is counted in (the shared rate-limit segment is laid out for it).
  WindowShape shape;
  // Whether this opening decides rate limits: only then is the shared segment mapped (a
  // connection kept for lookups or usage writes does without).
  bool rate_limits = true;
  StoreTrace trace;
  // Told what the store repaired or replaced on opening (no secrets).
  std::function<void(const std::string&)> warn;
};

// Opens (creating and migrating) the store the settings name. Throws StoreError.
std::unique_ptr<Stores> openStores(const StoreSettings& settings, const StoreOpening& opening);

}  // namespace api
