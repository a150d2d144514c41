#include "services/rate_limit_service.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "domain/errors.hpp"
#include "ratelimit/sliding_window.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

// kAllowed when the key may be counted at `now`; why not otherwise.
LimitOutcome keyOutcome(const KeyRecord& key, TimePoint now) {
  switch (key.statusAt(now)) {
    case KeyStatus::kRevoked:
      return LimitOutcome::kKeyRevoked;
    case KeyStatus::kExpired:
      return LimitOutcome::kKeyExpired;
    case KeyStatus::kActive:
      break;
  }
  return LimitOutcome::kAllowed;
}

// What a decision works in, kept per thread so that its memory is reused: a check allocates
// nothing once its thread has made one like it.
struct Scratch {
  SlidingWindow window;
  WindowStore::Read read;
};
Scratch& threadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

// The store's side of a check: builds the engine at the time the store read under the key's
// lock, says what to read, and (when consuming) decides on what was read, with the key's
// limit and state as the caller read them, before the store writes.
class Decider final : public WindowStore::Decider {
 public:
  Decider(WindowShape shape, std::int64_t cost, const KeyRecord& key, SlidingWindow& window)
      : shape_(shape), cost_(cost), key_(key), window_(window) {}

  WindowStore::Plan plan(TimePoint now) override {
    window_.reset(shape_, now);
    planned_ = true;
    // Everything from the first counted sub-window on (see SlidingWindow's contract).
    return {window_.firstReadMs(), std::numeric_limits<std::int64_t>::max(),
            window_.consumeStartMs()};
  }

  bool admit(const WindowStore::Read& read) override {
    feed(read);
    if (keyOutcome(key_, read.now) != LimitOutcome::kAllowed) {
      return false;
    }
    decision_ = window_.decide(key_.rate_limit, cost_, true);
    return decision_->admitted;
  }

  // The engine holding what was read (fed here when admit() did not run: a peek).
  SlidingWindow& window(const WindowStore::Read& read) {
    feed(read);
    return window_;
  }
  // The decision admit() made, if it made one.
  const std::optional<WindowDecision>& decided() const { return decision_; }

 private:
  void feed(const WindowStore::Read& read) {
    if (!fed_) {
      if (!planned_) {  // a store must plan before it reads; never trust what it did not
        throw StoreError("the window store read without planning what to read");
      }
      for (const WindowStore::Count& c : read.counts) {
        window_.addCount(c.start_ms, c.count);
      }
      fed_ = true;
    }
  }

  WindowShape shape_;
  std::int64_t cost_;
  const KeyRecord& key_;
  SlidingWindow& window_;
  bool planned_ = false;
  std::optional<WindowDecision> decision_;
  bool fed_ = false;
};

}  // namespace

const char* limitOutcomeName(LimitOutcome outcome) {
  switch (outcome) {
    case LimitOutcome::kAllowed:
      return "ok";
    case LimitOutcome::kOverLimit:
      return "over_limit";
    case LimitOutcome::kCostExceedsLimit:
      return "cost_exceeds_limit";
    case LimitOutcome::kUnknownKey:
      return "not_found";
    case LimitOutcome::kKeyRevoked:
      return "revoked";
    case LimitOutcome::kKeyExpired:
      return "expired";
    case LimitOutcome::kStoreError:
      return "internal_error";
  }
  return "internal_error";
}

RateLimitService::RateLimitService(const ApiSettings& settings, Stores& stores, const Clock& clock,
                                   const HostLogger& logger, ApiKeyService& key_service)
    : RateLimitService(settings, stores.windows(), stores.keys(), clock, logger, key_service) {}

RateLimitService::RateLimitService(const ApiSettings& settings, WindowStore& windows,
                                   KeyStore& keys, const Clock& clock, const HostLogger& logger,
                                   ApiKeyService& key_service)
    : settings_(settings),
      windows_(windows),
      key_store_(keys),
      clock_(clock),
      logger_(logger),
      keys_(key_service) {}

LimitDecision RateLimitService::decide(std::string_view key_id, const KeyRecord* known_key,
                                       std::int64_t cost, bool consume) {
  checkCost(cost);
  LimitDecision d;
  try {
    std::optional<KeyRecord> read_key;
    if (known_key == nullptr) {
      read_key = key_store_.findById(key_id);
      if (!read_key) {
        d.outcome = LimitOutcome::kUnknownKey;
        return d;
      }
      known_key = &*read_key;
    }
    const KeyRecord& key = *known_key;
    const WindowShape shape = settings_.rate_limits.windowShape();
    Scratch& scratch = threadScratch();
    Decider decider(shape, cost, key, scratch.window);
    WindowStore::Read& read = scratch.read;
    bool consumed = false;
    if (consume) {
      const WindowStore::Request request{key_id, shape.subWindowMs(), cost, key.rate_limit};
      consumed = windows_.consume(request, clock_, decider, read);
    } else {
      windows_.peek(key_id, clock_, decider, read);
    }
    d.limit = key.rate_limit;
    if (const LimitOutcome state = keyOutcome(key, read.now); state != LimitOutcome::kAllowed) {
      d.outcome = state;
      d.remaining = 0;
      d.reset_at = read.now;
      return d;
    }
    const WindowDecision w = consume && decider.decided()
                                 ? *decider.decided()
                                 : decider.window(read).decide(d.limit, cost, false);
    // The store counted the request exactly when the engine admitted it.
    d.allowed = w.admitted && (!consume || consumed);
    d.outcome = d.allowed                                       ? LimitOutcome::kAllowed
                : w.verdict == WindowVerdict::kCostExceedsLimit ? LimitOutcome::kCostExceedsLimit
                                                                : LimitOutcome::kOverLimit;
    d.remaining = w.remaining;
    d.reset_at = w.reset_at;
    d.retry_after = w.retry_after;
    return d;
  } catch (const StoreError& e) {
    d = LimitDecision{};
    d.outcome = LimitOutcome::kStoreError;
    // failOpen covers a store that cannot be reached (busy past busyTimeout, I/O, full), not
    // one that answered with contents it cannot read: a key whose revocation or expiry is
    // unreadable, or a corrupt file, is refused whatever failOpen says.
    if (settings_.rate_limits.fail_open && e.transient()) {
      d.allowed = true;
      d.failed_open = true;
      const auto count = ++fail_open_count_;
      logger_.warn("rate limit failed open: request admitted without a check",
                   {{"key_id", std::string(key_id)},
                    {"fail_open_total", std::to_string(count)},
                    {"error", e.what()}});
    } else {
      logger_.error("rate limit failed closed: request refused",
                    {{"key_id", std::string(key_id)},
                     {"transient", e.transient() ? "true" : "false"},
                     {"error", e.what()}});
    }
    return d;
  }
}

LimitDecision RateLimitService::check(std::string_view key_id, std::int64_t cost) {
  LimitDecision d = decide(key_id, nullptr, cost, true);
  if (logger_.traceEnabled()) {
    traceDecision("rate limit check", key_id, cost, d);
  }
  return d;
}

LimitDecision RateLimitService::peek(std::string_view key_id, std::int64_t cost) {
  LimitDecision d = decide(key_id, nullptr, cost, false);
  if (logger_.traceEnabled()) {
    traceDecision("rate limit peek", key_id, cost, d);
  }
  return d;
}

void RateLimitService::traceDecision(std::string_view what, std::string_view key_id,
                                     std::int64_t cost, const LimitDecision& d) const {
  logger_.trace(what,
                {{"key_id", std::string(key_id)},
                 {"cost", std::to_string(cost)},
                 {"outcome", limitOutcomeName(d.outcome)},
                 {"allowed", d.allowed ? "true" : "false"},
                 {"limit", std::to_string(d.limit)},
                 {"remaining", std::to_string(d.remaining)},
                 {"retry_after_ms", d.retry_after ? std::to_string(d.retry_after->count()) : "-"}});
}

AuthorizeResult RateLimitService::authorize(std::string_view key, std::int64_t cost) {
  return authorize(key, cost, {});
}

AuthorizeResult RateLimitService::authorize(std::string_view key, std::int64_t cost,
                                            std::span<const std::string> required_scopes) {
  checkCost(cost);
  AuthorizeResult result;
  KeyValidation v = keys_.validateKey(key);
  result.key = std::move(v.key);
  if (!v.valid) {
    result.reason = keyRejectionName(v.reason);
    return result;
  }
  for (const std::string& scope : required_scopes) {
    if (std::find(result.key->scopes.begin(), result.key->scopes.end(), scope) ==
        result.key->scopes.end()) {
      result.reason = "insufficient_scope";  // refused before anything is counted
      return result;
    }
  }
  result.limit = decide(result.key->id, &*result.key, cost, true);
  if (logger_.traceEnabled()) {
    traceDecision("rate limit check", result.key->id, cost, result.limit);
  }
  result.allowed = result.limit.allowed;
  result.reason = result.limit.allowed ? "ok" : limitOutcomeName(result.limit.outcome);
  return result;
}

LimitStatus RateLimitService::status(std::string_view key_id) {
  const std::optional<KeyRecord> key = key_store_.findById(key_id);
  if (!key) {
    throw NotFound("no key with id " + quotedId(key_id));
  }
  const WindowShape shape = settings_.rate_limits.windowShape();
  Scratch& scratch = threadScratch();
  Decider decider(shape, 1, *key, scratch.window);
  WindowStore::Read& read = scratch.read;
  windows_.peek(key_id, clock_, decider, read);
  const WindowStatus w = decider.window(read).status(key->rate_limit);
  LimitStatus s;
  s.limit = key->rate_limit;
  s.used = w.used;
  s.remaining = w.remaining;
  s.window_size_ms = shape.window_ms;
  s.window_start = w.window_start;
  s.window_end = w.window_end;
  s.reset_at = w.reset_at;
  return s;
}

KeyRecord RateLimitService::requireUsableKey(std::string_view key_id, std::string_view action) {
  std::optional<KeyRecord> key = key_store_.findById(key_id);
  if (!key) {
    throw NotFound("no key with id " + quotedId(key_id));
  }
  const TimePoint now = clock_.now();
  const KeyStatus status = key->statusAt(now);
  if (status == KeyStatus::kRevoked) {
    throw Conflict("key " + key->id + " is revoked (at " + formatIsoUtc(*key->revoked_at) +
                   "), so its rate limit can never apply again; refusing to " +
                   std::string(action));
  }
  if (status == KeyStatus::kExpired) {
    throw Conflict("key " + key->id + " is expired (at " + formatIsoUtc(*key->expires_at) +
                   "), so its rate limit can never apply again; refusing to " +
                   std::string(action));
  }
  return std::move(*key);
}

std::int64_t RateLimitService::reset(std::string_view key_id, std::string_view actor) {
  checkActor(actor);
  requireUsableKey(key_id, "reset it");
  const AuditRecord audit{
      0, std::string(key_id), "reset_rate_limit", std::string(actor), clock_.now(), "", "{}"};
  // Audited first: a reset that then fails leaves an audit row of an attempt, never a reset
  // without one.
  key_store_.appendAudit(audit);
  const std::int64_t cleared = windows_.reset(key_id);
  logger_.info("rate limit reset", {{"key_id", std::string(key_id)},
                                    {"requests_cleared", std::to_string(cleared)},
                                    {"actor", std::string(actor)}});
  return cleared;
}

std::int64_t RateLimitService::update(std::string_view key_id, std::int64_t new_limit,
                                      std::string_view actor) {
  checkRateLimit(new_limit);
  checkActor(actor);
  // A compare-and-set on the key as read: a revocation or another update committed in
  // between makes it read and check the key again.
  for (int attempt = 0;; ++attempt) {
    const KeyRecord key = requireUsableKey(key_id, "update it");
    const AuditRecord audit{0,
                            key.id,
                            "update_limit",
                            std::string(actor),
                            clock_.now(),
                            "",
                            "{\"old_limit\":" + std::to_string(key.rate_limit) +
                                ",\"new_limit\":" + std::to_string(new_limit) + "}"};
    switch (key_store_.setRateLimit(key, new_limit, audit)) {
      case KeyStore::ChangeOutcome::kDone:
        logger_.info("rate limit updated", {{"key_id", key.id},
                                            {"old_limit", std::to_string(key.rate_limit)},
                                            {"new_limit", std::to_string(new_limit)},
                                            {"actor", std::string(actor)}});
        return key.rate_limit;
      case KeyStore::ChangeOutcome::kNotFound:
        throw NotFound("no key with id " + quotedId(key_id));
      case KeyStore::ChangeOutcome::kChanged:
      case KeyStore::ChangeOutcome::kAlreadyRevoked:  // not outcomes of setRateLimit
      case KeyStore::ChangeOutcome::kUserAtKeyLimit:
        break;
    }
    if (attempt == KeyStore::kMaxChangeAttempts) {
      throw StoreError("key " + key.id + " kept changing while its limit was updated; try again",
                       true);
    }
  }
}

}  // namespace api
