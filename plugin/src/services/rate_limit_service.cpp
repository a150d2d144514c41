#include "services/rate_limit_service.hpp"

#include <algorithm>
#include <deque>
#include <limits>
#include <optional>
#include <string>
#include <tuple>

#include "domain/errors.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

using std::chrono::milliseconds;

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

// Sub-windows after the current one hold requests only once the clock has stepped back; past
// this many, retry_after is not computed (the decision itself never needs them).
constexpr std::int64_t kMaxLookAhead = 65'536;

// How often a compare-and-set on a key is retried after it changed underneath.
constexpr int kMaxChangeAttempts = 8;

// The counts of sub-windows k-N+1 .. k+2N-1 around the current sub-window k (and of any
// later ones that hold requests, up to kMaxLookAhead), with prefix sums for run sums.
// Everything the decision, remaining, reset_at and retry_after need.
class WindowMath {
 public:
  WindowMath(std::int64_t now_ms, std::int64_t sub_ms, std::int64_t n)
      : sub_ms_(sub_ms),
        n_(n),
        k_(floorDiv(now_ms, sub_ms)),
        base_(k_ - n + 1) {}  // counts_ is sized by load(), which every use follows

  std::int64_t firstReadMs() const { return base_ * sub_ms_; }
  // Everything from the first counted sub-window on: the decision needs up to k+N-1, and
  // retry_after every later sub-window holding requests (after a clock step back).
  static constexpr std::int64_t lastReadMs() { return std::numeric_limits<std::int64_t>::max(); }
  std::int64_t currentStartMs() const { return k_ * sub_ms_; }

  void load(const std::vector<WindowStore::Count>& windows) {
    // Room for every sub-window holding requests plus N empty ones after it, so that the
    // search for a fit can reach a run that is clear of all of them.
    std::int64_t size = 3 * n_ - 1;
    complete_ = true;
    for (const auto& w : windows) {
      const std::int64_t rel = floorDiv(w.start_ms, sub_ms_) - base_;
      if (rel > kMaxLookAhead) {
        complete_ = false;
      } else if (rel >= 0) {
        size = std::max(size, rel + 2 * n_);
      }
    }
    counts_.assign(static_cast<size_t>(size), 0);
    for (const auto& w : windows) {
      const std::int64_t rel = floorDiv(w.start_ms, sub_ms_) - base_;
      if (rel >= 0 && rel < size) {
        counts_[static_cast<size_t>(rel)] += w.count;
      }
    }
    prefix_.assign(counts_.size() + 1, 0);
    for (size_t i = 0; i < counts_.size(); ++i) {
      prefix_[i + 1] = prefix_[i] + counts_[i];
    }
  }

  void add(std::int64_t cost) {  // count a request in sub-window k
    for (size_t i = static_cast<size_t>(n_); i < prefix_.size(); ++i) {
      prefix_[i] += cost;
    }
    counts_[static_cast<size_t>(n_ - 1)] += cost;
  }

  // The largest run sum over the runs of N sub-windows that contain k + d.
  std::int64_t usedAt(std::int64_t d) const {
    std::int64_t best = 0;
    for (std::int64_t j = d; j <= n_ - 1 + d; ++j) {
      best = std::max(best, run(j));
    }
    return best;
  }

  // When the oldest counted sub-window of the current run slides out; `now` if none counts.
  TimePoint resetAt(TimePoint now) const {
    for (std::int64_t j = 0; j < n_; ++j) {
      if (counts_[static_cast<size_t>(j)] > 0) {
        return TimePoint(milliseconds((base_ + j + n_) * sub_ms_));
      }
    }
    return now;
  }

  // The first sub-window start at which a request of `cost` fits, if no more are admitted
  // meanwhile; nullopt when it never does (cost above the limit) or lies past kMaxLookAhead.
  std::optional<TimePoint> fitsAt(std::int64_t cost, std::int64_t limit) const {
    // Sliding maximum of run sums over runs starting at j in [d, N-1+d], d = 1, 2, ...: the
    // runs that contain k+d. Past the last sub-window holding requests every run is empty.
    std::int64_t last_d = static_cast<std::int64_t>(counts_.size()) - 2 * n_ + 1;
    if (!complete_) {  // only runs wholly within the sub-windows known to be complete
      last_d = std::min(last_d, kMaxLookAhead - 2 * n_ + 2);
    }
    std::deque<std::int64_t> best;  // run starts, run sums decreasing
    std::int64_t next = 1;
    for (std::int64_t d = 1; d <= last_d; ++d) {
      for (; next <= n_ - 1 + d; ++next) {
        while (!best.empty() && run(best.back()) <= run(next)) {
          best.pop_back();
        }
        best.push_back(next);
      }
      while (best.front() < d) {
        best.pop_front();
      }
      if (run(best.front()) + cost <= limit) {
        return TimePoint(milliseconds((k_ + d) * sub_ms_));
      }
    }
    return std::nullopt;
  }

  TimePoint windowStart() const { return TimePoint(milliseconds(base_ * sub_ms_)); }
  TimePoint windowEnd() const { return TimePoint(milliseconds((k_ + 1) * sub_ms_)); }

 private:
  std::int64_t run(std::int64_t j) const {  // sum of the N sub-windows starting at rel j
    return prefix_[static_cast<size_t>(j + n_)] - prefix_[static_cast<size_t>(j)];
  }

  std::int64_t sub_ms_;
  std::int64_t n_;
  std::int64_t k_;
  std::int64_t base_;
  std::vector<std::int64_t> counts_;
  std::vector<std::int64_t> prefix_;
  bool complete_ = true;  // every sub-window holding requests is in counts_
};

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

// Plans the read once the store has the lock and the time, then decides on what was read,
// with the key's limit and state as the caller read them.
class Decider final : public WindowStore::Decider {
 public:
  Decider(std::int64_t sub_ms, std::int64_t n, std::int64_t cost, const KeyRecord& key)
      : sub_ms_(sub_ms), n_(n), cost_(cost), key_(key) {}

  WindowStore::Plan plan(TimePoint now) override {
    math_.emplace(now.time_since_epoch().count(), sub_ms_, n_);
    return {math_->firstReadMs(), math_->lastReadMs(), math_->currentStartMs()};
  }

  bool admit(const WindowStore::Read& read) override {
    math_->load(read.counts);
    return keyOutcome(key_, read.now) == LimitOutcome::kAllowed &&
           math_->usedAt(0) + cost_ <= key_.rate_limit;
  }

  WindowMath& math() { return *math_; }

 private:
  std::int64_t sub_ms_;
  std::int64_t n_;
  std::int64_t cost_;
  const KeyRecord& key_;
  std::optional<WindowMath> math_;
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
  const std::int64_t sub_ms = settings_.rate_limit_window_ms / settings_.rate_limit_sub_windows;
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
    Decider decider(sub_ms, settings_.rate_limit_sub_windows, cost, key);
    WindowStore::Read read;
    bool consumed = false;
    if (consume) {
      const WindowStore::Request request{key_id, sub_ms, cost, key.rate_limit};
      std::tie(read, consumed) = windows_.consume(request, clock_, decider);
    } else {
      read = windows_.peek(key_id, clock_, decider);
    }
    const TimePoint now = read.now;
    WindowMath& math = decider.math();
    if (!consume) {
      math.load(read.counts);
    }
    d.limit = key.rate_limit;
    const std::int64_t used = math.usedAt(0);
    if (const LimitOutcome state = keyOutcome(key, now); state != LimitOutcome::kAllowed) {
      d.outcome = state;
      d.remaining = 0;
      d.reset_at = now;
      return d;
    }
    d.allowed = consume ? consumed : used + cost <= d.limit;
    if (d.allowed) {
      d.outcome = LimitOutcome::kAllowed;
      if (consume) {
        math.add(cost);
      }
      d.remaining = std::max<std::int64_t>(0, d.limit - used - cost);
      d.reset_at = math.resetAt(now);
    } else {
      d.remaining = std::max<std::int64_t>(0, d.limit - used);
      d.reset_at = math.resetAt(now);
      if (cost > d.limit) {
        d.outcome = LimitOutcome::kCostExceedsLimit;
      } else {
        d.outcome = LimitOutcome::kOverLimit;
        if (const auto at = math.fitsAt(cost, d.limit)) {
          d.retry_after = std::chrono::duration_cast<milliseconds>(*at - now);
        }
      }
    }
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
  checkCost(cost);
  AuthorizeResult result;
  KeyValidation v = keys_.validateKey(key);
  result.key = std::move(v.key);
  if (!v.valid) {
    result.reason = keyRejectionName(v.reason);
    return result;
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
  const std::int64_t sub_ms = settings_.rate_limit_window_ms / settings_.rate_limit_sub_windows;
  const std::optional<KeyRecord> key = key_store_.findById(key_id);
  if (!key) {
    throw NotFound("no key with id " + quotedId(key_id));
  }
  Decider decider(sub_ms, settings_.rate_limit_sub_windows, 1, *key);
  const WindowStore::Read read = windows_.peek(key_id, clock_, decider);
  WindowMath& math = decider.math();
  math.load(read.counts);
  LimitStatus s;
  s.limit = key->rate_limit;
  s.used = math.usedAt(0);
  s.remaining = std::max<std::int64_t>(0, s.limit - s.used);
  s.window_size_ms = settings_.rate_limit_window_ms;
  s.window_start = math.windowStart();
  s.window_end = math.windowEnd();
  s.reset_at = math.resetAt(read.now);
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
    if (attempt == kMaxChangeAttempts) {
      throw StoreError("key " + key.id + " kept changing while its limit was updated; try again",
                       true);
    }
  }
}

}  // namespace api
