// The narrow set of services the adapters (cli/ and exports/) are handed: what a CLI handler
// or a C table entry truly calls, and nothing that owns them. ApiModule builds it once; every
// reference in it outlives every adapter call.
//
// An implementation of a new adapter (an HTTP edge, say) takes a `const Services&` and calls
// the services through it; it never sees ApiModule, the store or the settings parser.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "domain/clock.hpp"
#include "services/api_key_service.hpp"
#include "services/rate_limit_service.hpp"
#include "systemprompt/module_abi.h"
#include "usage/usage_recorder.hpp"
#include "usage/usage_service.hpp"

namespace api {

// The settings an adapter shows or needs to parse input, copied once from ApiSettings.
struct AdapterSettings {
  std::int64_t rate_limit_window_ms = 0;     // shown as "per 1h"
  std::int64_t rate_limit_sub_windows = 0;   // shown in a status's window line
  std::string key_prefix;                    // tells a full key from a key id in `revoke`
  std::int64_t aggregation_interval_ms = 0;  // named in the usage report's exactness note
  std::int64_t rollup_retention_ms = 0;      // named in the usage report's truncation note
};

// The shared rate-limit segment's slots, shared by every process that maps it.
struct SlotUse {
  std::int64_t in_use = 0;  // slots holding a key
  std::int64_t slots = 0;   // slots the segment has (rateLimitSlots)
};

struct Services {
  ApiKeyService& keys;
  RateLimitService& limits;
  UsageService& usage;
  UsageRecorder& recorder;  // the C table's record_request, and flushes before statistics
  const Clock& clock;
  AdapterSettings settings;
  // Fills `out` with the module's health (store reachability, schema, operational totals).
  // Never throws.
  std::function<void(sp_health& out)> health;
  // The shared segment's slots; nullopt when the windows are decided in the database. Never
  // throws.
  std::function<std::optional<SlotUse>()> rate_limit_slots;
};

}  // namespace api
