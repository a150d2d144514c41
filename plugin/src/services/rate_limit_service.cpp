#include "services/rate_limit_service.hpp"

#include <limits>
#include <optional>
#include <string>

#include "domain/errors.hpp"
#include "ratelimit/sliding_window.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

// The engine's shape for the current settings (read per call: tests change them).
WindowShape shapeOf(const ApiSettings& settings) {
  return WindowShape{settings.rate_limit_window_ms, settings.rate_limit_sub_windows};
}

// kAllowed when the key may be counted at all; why not otherwise.
LimitOutcome keyOutcome(const ApiStore::WindowSnapshot& snapshot) {
  if (snapshot.revoked_at && *snapshot.revoked_at <= snapshot.now) {
    return LimitOutcome::kKeyRevoked;
  }
  if (snapshot.expires_at && *snapshot.expires_at <= snapshot.now) {
    return LimitOutcome::kKeyExpired;
  }
  return LimitOutcome::kAllowed;
}

// The store's side of a check: builds the engine at the time the store read under its lock,
// says what to read, and (when consuming) decides on what was read before the store writes.
class Decider final : public ApiStore::WindowDecider {
 public:
  Decider(WindowShape shape, std::int64_t cost) : shape_(shape), cost_(cost) {}

  ApiStore::WindowPlan plan(TimePoint now) override {
    window_.emplace(shape_, now);
    // Everything from the first counted sub-window on (see SlidingWindow's contract).
    return {window_->firstReadMs(), std::numeric_limits<std::int64_t>::max(),
            window_->consumeStartMs()};
  }

  bool admit(const ApiStore::WindowSnapshot& snapshot) override {
    feed(snapshot);
    if (keyOutcome(snapshot) != LimitOutcome::kAllowed) {
      return false;
    }
    decision_ = window_->decide(snapshot.limit, cost_, true);
    return decision_->admitted;
  }

  // The engine holding the snapshot's counts (fed here when admit() did not run: a peek).
  SlidingWindow& window(const ApiStore::WindowSnapshot& snapshot) {
    feed(snapshot);
    return *window_;
  }
  // The decision admit() made, if it made one.
  const std::optional<WindowDecision>& decided() const { return decision_; }

 private:
  void feed(const ApiStore::WindowSnapshot& snapshot) {
    if (!fed_) {
      for (const ApiStore::WindowCount& w : snapshot.windows) {
        window_->addCount(w.start_ms, w.count);
      }
      fed_ = true;
    }
  }

  WindowShape shape_;
  std::int64_t cost_;
  std::optional<SlidingWindow> window_;
  std::optional<WindowDecision> decision_;
  bool fed_ = false;
};

void checkCost(std::int64_t cost) {
  if (cost < 1 || cost > kMaxRateLimit) {
    throw InvalidInput("request cost " + std::to_string(cost) +
                       " is out of range: use 1..1000000000");
  }
}

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

RateLimitService::RateLimitService(const ApiSettings& settings, ApiStore& store, const Clock& clock,
                                   const HostLogger& logger, ApiKeyService& keys)
    : settings_(settings), store_(store), clock_(clock), logger_(logger), keys_(keys) {}

LimitDecision RateLimitService::decide(std::string_view key_id, std::int64_t cost, bool consume) {
  checkCost(cost);
  const WindowShape shape = shapeOf(settings_);
  LimitDecision d;
  try {
    Decider decider(shape, cost);
    const ApiStore::WindowCheck request{key_id, shape.subWindowMs(), cost, consume};
    const auto [snapshot, consumed] = store_.checkWindows(request, clock_, decider);
    if (!snapshot.key_exists) {
      d.outcome = LimitOutcome::kUnknownKey;
      return d;
    }
    d.limit = snapshot.limit;
    if (const LimitOutcome key = keyOutcome(snapshot); key != LimitOutcome::kAllowed) {
      d.outcome = key;
      d.remaining = 0;
      d.reset_at = snapshot.now;
      return d;
    }
    const WindowDecision w = consume && decider.decided()
                                 ? *decider.decided()
                                 : decider.window(snapshot).decide(d.limit, cost, false);
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
    if (settings_.rate_limit_fail_open && e.transient()) {
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
  LimitDecision d = decide(key_id, cost, true);
  if (logger_.traceEnabled()) {
    traceDecision("rate limit check", key_id, cost, d);
  }
  return d;
}

LimitDecision RateLimitService::peek(std::string_view key_id, std::int64_t cost) {
  LimitDecision d = decide(key_id, cost, false);
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
  checkCost(cost);
  AuthorizeResult result;
  KeyValidation v = keys_.validateKey(key);
  result.key = std::move(v.key);
  if (!v.valid) {
    result.reason = keyRejectionName(v.reason);
    return result;
  }
  result.limit = check(result.key->id, cost);
  result.allowed = result.limit.allowed;
  result.reason = result.limit.allowed ? "ok" : limitOutcomeName(result.limit.outcome);
  return result;
}

LimitStatus RateLimitService::status(std::string_view key_id) {
  const WindowShape shape = shapeOf(settings_);
  Decider decider(shape, 1);
  const ApiStore::WindowCheck request{key_id, shape.subWindowMs(), 0, false};
  const auto [snapshot, consumed] = store_.checkWindows(request, clock_, decider);
  if (!snapshot.key_exists) {
    throw NotFound("no key with id " + quotedId(key_id));
  }
  const WindowStatus w = decider.window(snapshot).status(snapshot.limit);
  LimitStatus s;
  s.limit = snapshot.limit;
  s.used = w.used;
  s.remaining = w.remaining;
  s.window_size_ms = shape.window_ms;
  s.window_start = w.window_start;
  s.window_end = w.window_end;
  s.reset_at = w.reset_at;
  return s;
}

void RateLimitService::requireUsableKey(std::string_view key_id, std::string_view action) {
  const std::optional<KeyRecord> key = store_.findKeyById(key_id);
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
}

std::int64_t RateLimitService::reset(std::string_view key_id, std::string_view actor) {
  checkActor(actor);
  requireUsableKey(key_id, "reset it");
  const AuditRecord audit{
      0, std::string(key_id), "reset_rate_limit", std::string(actor), clock_.now(), "", "{}"};
  const auto cleared = store_.resetWindows(key_id, audit);
  if (!cleared) {
    throw NotFound("no key with id " + quotedId(key_id));
  }
  logger_.info("rate limit reset", {{"key_id", std::string(key_id)},
                                    {"requests_cleared", std::to_string(*cleared)},
                                    {"actor", std::string(actor)}});
  return *cleared;
}

std::int64_t RateLimitService::update(std::string_view key_id, std::int64_t new_limit,
                                      std::string_view actor) {
  if (new_limit < 1 || new_limit > kMaxRateLimit) {
    throw InvalidInput("rate limit " + std::to_string(new_limit) +
                       " is out of range: use 1..1000000000 requests per window");
  }
  checkActor(actor);
  requireUsableKey(key_id, "update it");
  const AuditRecord audit{
      0, std::string(key_id), "update_limit", std::string(actor), clock_.now(), "", ""};
  const auto old = store_.updateRateLimit(key_id, new_limit, audit);
  if (!old) {
    throw NotFound("no key with id " + quotedId(key_id));
  }
  logger_.info("rate limit updated", {{"key_id", std::string(key_id)},
                                      {"old_limit", std::to_string(*old)},
                                      {"new_limit", std::to_string(new_limit)},
                                      {"actor", std::string(actor)}});
  return *old;
}

}  // namespace api
