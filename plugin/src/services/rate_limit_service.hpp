// RateLimitService: sliding-window rate limiting per key, exact under concurrency.
//
// The window arithmetic (README, "Rate limiting": what is admitted, remaining, reset_at,
// retry_after, status) is the engine's, ratelimit/sliding_window.hpp; this service composes
// it with the store, which runs it under the key's lock so that the read and the increment
// are one atomic step across threads and processes (WindowStore::consume). The key's limit
// and state come from the KeyStore as read when the check starts: a change committed before
// a check starts is honoured by it. Key state (unknown, revoked, expired), cost checks,
// fail-open and logging are decided here.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"
#include "domain/clock.hpp"
#include "log/host_logger.hpp"
#include "services/api_key_service.hpp"
#include "store/key_store.hpp"
#include "store/stores.hpp"
#include "store/window_store.hpp"

namespace api {

enum class LimitOutcome {
  kAllowed,           // admitted (or, for a peek, would be)
  kOverLimit,         // the window is full; retry_after says when it can succeed
  kCostExceedsLimit,  // the cost alone is above the limit: it can never succeed
  kUnknownKey,        // no key with that id
  kStoreError,        // the store failed; allowed only when failOpen is set (failed_open)
  kKeyRevoked,        // the key is revoked at the time of the check: nothing is counted
  kKeyExpired,        // the key has expired: nothing is counted
};
const char* limitOutcomeName(LimitOutcome outcome);

struct LimitDecision {
  bool allowed = false;
  LimitOutcome outcome = LimitOutcome::kStoreError;
  bool failed_open = false;  // allowed only because the store failed and failOpen is set
  std::int64_t limit = 0;
  std::int64_t remaining = 0;  // what could still be admitted now, after this request
  TimePoint reset_at{};        // when the oldest counted sub-window slides out (next slot frees)
  std::optional<std::chrono::milliseconds> retry_after;  // denied: wait this long at least
};

struct LimitStatus {
  std::int64_t limit = 0;
  std::int64_t used = 0;
  std::int64_t remaining = 0;
  std::int64_t window_size_ms = 0;
  TimePoint window_start{};  // start of the oldest sub-window in the current window
  TimePoint window_end{};    // end of the current sub-window
  TimePoint reset_at{};
};

struct AuthorizeResult {
  bool allowed = false;
  // "ok", or why not: malformed, not_found, revoked, expired, insufficient_scope (only when
  // scopes were required), over_limit, cost_exceeds_limit, internal_error.
  const char* reason = "internal_error";
  std::shared_ptr<const KeyRecord> key;  // when the key was found
  LimitDecision limit;                   // set once the key validated
};

class RateLimitService {
 public:
  // REQUIRED: all references outlive the service.
  RateLimitService(const ApiSettings& settings, Stores& stores, const Clock& clock,
                   const HostLogger& logger, ApiKeyService& key_service);
  RateLimitService(const ApiSettings& settings, WindowStore& windows, KeyStore& keys,
                   const Clock& clock, const HostLogger& logger, ApiKeyService& key_service);

  // Admits and counts the request, or refuses it. Throws InvalidInput only for a cost
  // outside 1..1,000,000,000; a storage failure is an answer: fail closed, or open when
  // configured and the store could not be reached (a transient StoreError). A key whose
  // state the store cannot read, or a corrupt store, is refused even then.
  LimitDecision check(std::string_view key_id, std::int64_t cost = 1);
  // As check, but counts nothing.
  LimitDecision peek(std::string_view key_id, std::int64_t cost = 1);

  // validateKey, then check: everything a request handler needs. Never throws for a bad key.
  AuthorizeResult authorize(std::string_view key, std::int64_t cost = 1);
  // As authorize, refusing (reason "insufficient_scope", nothing counted) a valid key that
  // lacks any of `required_scopes`.
  AuthorizeResult authorize(std::string_view key, std::int64_t cost,
                            std::span<const std::string> required_scopes);

  // Throws NotFound, StoreError.
  LimitStatus status(std::string_view key_id);
  // Clears the key's windows; returns the request count cleared. Audited. Throws
  // InvalidInput (an actor checkActor refuses), NotFound, Conflict (the key is revoked or expired:
  // its limit can never apply again), StoreError.
  std::int64_t reset(std::string_view key_id, std::string_view actor);
  // Sets the key's limit for the next check; returns the old limit. Audited. Throws
  // InvalidInput for a limit outside 1..1,000,000,000 or a bad actor, NotFound, Conflict (revoked
  // or expired, as for reset), StoreError.
  std::int64_t update(std::string_view key_id, std::int64_t new_limit, std::string_view actor);

  // Decisions that admitted a request only because the store failed (failOpen: true).
  std::uint64_t failOpenCount() const { return fail_open_count_.load(); }

 private:
  // `key`: the key as the caller already read it (authorize), or null to read it here.
  LimitDecision decide(std::string_view key_id, const KeyRecord* key, std::int64_t cost,
                       bool consume);
  void traceDecision(std::string_view what, std::string_view key_id, std::int64_t cost,
                     const LimitDecision& d) const;
  // The key, when it is active. Throws NotFound, or Conflict naming the key's state when it
  // is revoked or expired.
  KeyRecord requireUsableKey(std::string_view key_id, std::string_view action);

  const ApiSettings& settings_;
  WindowStore& windows_;
  KeyStore& key_store_;
  const Clock& clock_;
  const HostLogger& logger_;
  ApiKeyService& keys_;
  std::atomic<std::uint64_t> fail_open_count_{0};
};

}  // namespace api
