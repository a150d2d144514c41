// A backend's stores with the rate-limit windows decided in a shared-memory segment in front
// of the backend's own WindowStore (shared_window_store.hpp). Keys, usage and counters are
// the backend's, untouched.
#pragma once

#include <memory>

#include "store/shared/shared_window_store.hpp"
#include "store/stores.hpp"

namespace api {

class SharedWindowStores final : public Stores {
 public:
  // Throws StoreError when the segment cannot be opened.
  SharedWindowStores(std::unique_ptr<Stores> backend, SharedWindowStore::Options options)
      : backend_(std::move(backend)), windows_(std::move(options), backend_->windows()) {}

  KeyStore& keys() override { return backend_->keys(); }
  WindowStore& windows() override { return windows_; }
  UsageStore& usage() override { return backend_->usage(); }
  CounterStore& counters() override { return backend_->counters(); }
  StoreHealth health() noexcept override {
    StoreHealth health = backend_->health();
    const SharedWindowStore::Stats s = windows_.stats();
    std::string note = "rate limits in shared memory (" + std::to_string(s.in_use) + " of " +
                       std::to_string(s.slots) + " slots in use";
    if (s.fallbacks != 0) {
      note += ", " + std::to_string(s.fallbacks) +
              " checks decided on the database for want of "
              "a slot (raise rateLimitSlots)";
    }
    if (s.spills != 0) {
      note += ", " + std::to_string(s.spills) +
              " keys moved to the database after the clock "
              "stepped back";
    }
    health.notes += (health.notes.empty() ? "" : "; ") + note + ")";
    return health;
  }

 private:
  std::unique_ptr<Stores> backend_;
  SharedWindowStore windows_;
};

}  // namespace api
