// What every store reports besides its data: failures and health. Shared by every store
// interface and every backend.
#pragma once

#include <stdexcept>
#include <string>

namespace api {

// A storage failure (cannot open, locked out past the busy timeout, corrupt, I/O). The
// message names the operation and the store's own reason; it never contains a secret.
class StoreError : public std::runtime_error {
 public:
  explicit StoreError(const std::string& message, bool transient = false)
      : std::runtime_error(message), transient_(transient) {}
  // Whether the same request may succeed later: the store was busy, locked, full or failed
  // to do I/O. Not so for a fault in the request or in the store's contents.
  bool transient() const noexcept { return transient_; }

 private:
  bool transient_;
};

struct StoreHealth {
  bool healthy = false;
  int schema_version = 0;         // highest migration applied to the store
  int latest_schema_version = 0;  // highest migration this build knows
  std::string location;           // where the store is, for operators (no credentials)
  std::string problem;            // why it is unhealthy; empty when healthy
  std::string notes;              // what else operators should know (e.g. capacity in use)
};

}  // namespace api
