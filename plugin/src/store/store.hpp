// The api module's storage boundary. Services talk to ApiStore only; SqliteStore is the
// embedded implementation, and a PostgreSQL one can be added beside it without touching
// anything above this interface.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "clock.hpp"

namespace api {

// A storage failure (cannot open, locked out past the busy timeout, corrupt, I/O). The
// message names the operation and the store's own reason; it never contains a secret.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StoreHealth {
  bool healthy = false;
  int schema_version = 0;         // highest migration applied to the store
  int latest_schema_version = 0;  // highest migration this build knows
  std::string location;           // where the store is, for operators (no credentials)
  std::string problem;            // why it is unhealthy; empty when healthy
};

// All methods are thread-safe.
class ApiStore {
 public:
  virtual ~ApiStore() = default;

  // Checks that the store answers and is migrated to the latest schema. Never throws.
  virtual StoreHealth health() noexcept = 0;

  // Deletes rate-limit window rows whose window ended at or before `cutoff`. Idempotent.
  // Returns how many rows went. Throws StoreError.
  virtual std::int64_t deleteRateLimitWindowsEndedBy(TimePoint cutoff) = 0;
};

}  // namespace api
