// The reference for the sliding-window rate limit (README, "Rate limiting"), shared by every
// test that checks an implementation of it: the engine alone (tests/plugin/ratelimit/) and
// RateLimitService on each store (tests/plugin/services/).
//
// WindowModel is brute force on purpose: it keeps the log of admitted requests, (time, cost),
// and answers every question by rescanning it against README's rule, with no sub-window
// arithmetic shared with the code under test. WindowSequenceGenerator makes random sequences
// of checks, peeks, limit changes, resets, cleanups and clock steps both ways;
// runWindowSequence plays one against a system and the model and reports the first answer
// that differs, and any broken guarantee.
//
// A system under test provides:
//   void setNow(std::int64_t ms);               the clock reads `ms` from now on
//   void updateLimit(std::int64_t limit);
//   void reset();                               forgets the key's counted requests
//   void cleanup();                             deletes what ApiModule's cleanup deletes
//   WindowAnswer decide(std::int64_t cost, bool consume);   a check, or a peek
//   WindowStatusAnswer status();
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace testing_support {

inline std::int64_t floorDivide(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

struct WindowAnswer {
  bool allowed = false;
  bool cost_exceeds_limit = false;  // refused because the cost alone is above the limit
  std::int64_t remaining = 0;
  std::int64_t reset_at_ms = 0;
  std::optional<std::int64_t> retry_after_ms;
};

struct WindowStatusAnswer {
  std::int64_t used = 0;
  std::int64_t remaining = 0;
  std::int64_t window_start_ms = 0;
  std::int64_t window_end_ms = 0;
  std::int64_t reset_at_ms = 0;
};

class WindowModel {
 public:
  WindowModel(std::int64_t sub_ms, std::int64_t n, std::int64_t limit)
      : sub_ms_(sub_ms), n_(n), limit_(limit), max_limit_since_reset_(limit) {}

  std::int64_t limit() const { return limit_; }

  WindowAnswer decide(std::int64_t now, std::int64_t cost, bool consume) {
    const std::int64_t k = floorDivide(now, sub_ms_);
    const PerSub per_sub = perSubWindow(live_);
    const std::int64_t used = usedAt(per_sub, k);
    WindowAnswer a;
    a.allowed = used + cost <= limit_;
    if (a.allowed) {
      a.remaining = std::max<std::int64_t>(0, limit_ - used - cost);
      if (consume) {
        live_.emplace_back(now, cost);
        since_reset_.emplace_back(now, cost);
      }
    } else {
      a.remaining = std::max<std::int64_t>(0, limit_ - used);
      a.cost_exceeds_limit = cost > limit_;
      if (!a.cost_exceeds_limit) {  // the first later sub-window where it fits, however far
        for (std::int64_t d = 1; !a.retry_after_ms; ++d) {
          if (usedAt(per_sub, k + d) + cost <= limit_) {
            a.retry_after_ms = (k + d) * sub_ms_ - now;
          }
        }
      }
    }
    a.reset_at_ms = resetAt(now);
    return a;
  }

  WindowStatusAnswer status(std::int64_t now) const {
    const std::int64_t k = floorDivide(now, sub_ms_);
    WindowStatusAnswer s;
    s.used = usedAt(perSubWindow(live_), k);
    s.remaining = std::max<std::int64_t>(0, limit_ - s.used);
    s.window_start_ms = (k - n_ + 1) * sub_ms_;
    s.window_end_ms = (k + 1) * sub_ms_;
    s.reset_at_ms = resetAt(now);
    return s;
  }

  void updateLimit(std::int64_t limit) {
    limit_ = limit;
    max_limit_since_reset_ = std::max(max_limit_since_reset_, limit);
  }
  void reset() {
    live_.clear();
    since_reset_.clear();
    max_limit_since_reset_ = limit_;
  }
  // What ApiModule::cleanup deletes: sub-windows that ended a whole window ago or earlier.
  void cleanup(std::int64_t now) {
    std::vector<std::pair<std::int64_t, std::int64_t>> kept;
    for (const auto& r : live_) {
      if ((floorDivide(r.first, sub_ms_) + 1) * sub_ms_ > now - n_ * sub_ms_) {
        kept.push_back(r);
      }
    }
    live_.swap(kept);
  }

  // The guarantee: every run of N consecutive sub-windows holds at most L of the requests
  // admitted since the last reset (cleanups forget nothing here), L being the highest limit
  // the key had meanwhile. Checked over the runs containing the latest admitted request:
  // called after every admission, that covers every run that ever changed.
  bool guaranteeHolds() const {
    if (since_reset_.empty()) {
      return true;
    }
    const PerSub per_sub = perSubWindow(since_reset_);
    const std::int64_t sub = floorDivide(since_reset_.back().first, sub_ms_);
    for (std::int64_t first = sub - n_ + 1; first <= sub; ++first) {
      if (runSum(per_sub, first) > max_limit_since_reset_) {
        return false;
      }
    }
    return true;
  }

 private:
  using Log = std::vector<std::pair<std::int64_t, std::int64_t>>;     // (time ms, cost)
  using PerSub = std::vector<std::pair<std::int64_t, std::int64_t>>;  // (sub-window, total)

  PerSub perSubWindow(const Log& log) const {  // ascending by sub-window
    PerSub per_sub;
    for (const auto& [t, cost] : log) {
      per_sub.emplace_back(floorDivide(t, sub_ms_), cost);
    }
    std::sort(per_sub.begin(), per_sub.end());
    PerSub merged;
    for (const auto& [sub, cost] : per_sub) {
      if (!merged.empty() && merged.back().first == sub) {
        merged.back().second += cost;
      } else {
        merged.emplace_back(sub, cost);
      }
    }
    return merged;
  }
  // The requests in sub-windows first .. first + N - 1.
  std::int64_t runSum(const PerSub& per_sub, std::int64_t first) const {
    std::int64_t sum = 0;
    for (const auto& [sub, total] : per_sub) {
      if (sub >= first && sub < first + n_) {
        sum += total;
      }
    }
    return sum;
  }
  // README's rule: the fullest of the runs of N sub-windows that contain k.
  std::int64_t usedAt(const PerSub& per_sub, std::int64_t k) const {
    std::int64_t best = 0;
    for (std::int64_t first = k - n_ + 1; first <= k; ++first) {
      best = std::max(best, runSum(per_sub, first));
    }
    return best;
  }
  // When the oldest counted sub-window of the N ending at now slides out; now if none.
  std::int64_t resetAt(std::int64_t now) const {
    const std::int64_t k = floorDivide(now, sub_ms_);
    std::optional<std::int64_t> oldest;
    for (const auto& [t, cost] : live_) {
      const std::int64_t sub = floorDivide(t, sub_ms_);
      if (cost > 0 && sub > k - n_ && sub <= k && (!oldest || sub < *oldest)) {
        oldest = sub;
      }
    }
    return oldest ? (*oldest + n_) * sub_ms_ : now;
  }

  std::int64_t sub_ms_;
  std::int64_t n_;
  std::int64_t limit_;
  std::int64_t max_limit_since_reset_;
  Log live_;         // what the store still holds: forgotten on reset and cleanup
  Log since_reset_;  // everything admitted since the last reset
};

enum class WindowOpKind { kCheck, kPeek, kUpdateLimit, kReset, kCleanup };

struct WindowOp {
  WindowOpKind kind = WindowOpKind::kCheck;
  std::int64_t now_ms = 0;  // the clock when the op runs
  std::int64_t cost = 1;    // kCheck, kPeek
  std::int64_t limit = 0;   // kUpdateLimit
};

struct WindowSequence {
  std::int64_t sub_ms = 1;
  std::int64_t n = 1;
  std::int64_t limit = 1;  // the key's limit at the start
  std::vector<WindowOp> ops;
};

struct WindowSequenceOptions {
  std::vector<std::int64_t> sub_ms_choices{1, 7, 1000};
  std::vector<std::int64_t> n_choices{1, 2, 3, 5, 8};
  std::int64_t max_limit = 10;
  std::int64_t max_cost = 12;  // above max_limit, so some costs can never pass
  int ops = 40;
};

// Per op: 3 % a clock step back of up to two windows (never before the last cleanup: a
// cleanup followed by such a step is one of the two things that knowingly forget requests),
// 3 % a jump forward of one to three windows, else a step of up to one sub-window; then 3 %
// a limit change, 2 % a reset, 3 % a cleanup, 9 % a peek, 80 % a check (cost 1 mostly, up to
// max_cost one time in ten).
class WindowSequenceGenerator {
 public:
  explicit WindowSequenceGenerator(std::uint64_t seed, WindowSequenceOptions options = {})
      : rng_(seed), options_(std::move(options)) {}

  // The next sequence, its clock starting up to one window after `start_ms`.
  WindowSequence next(std::int64_t start_ms) {
    WindowSequence s;
    s.sub_ms = options_.sub_ms_choices[static_cast<size_t>(
        pick(0, static_cast<std::int64_t>(options_.sub_ms_choices.size()) - 1))];
    s.n = options_.n_choices[static_cast<size_t>(
        pick(0, static_cast<std::int64_t>(options_.n_choices.size()) - 1))];
    s.limit = pick(1, options_.max_limit);
    const std::int64_t window = s.sub_ms * s.n;
    std::int64_t now = start_ms + pick(0, window);
    std::int64_t last_cleanup = std::numeric_limits<std::int64_t>::min();
    for (int i = 0; i < options_.ops; ++i) {
      const std::int64_t roll = pick(0, 99);
      if (roll < 3) {
        now = std::max(last_cleanup, now - pick(0, 2 * window));
      } else if (roll < 6) {
        now += pick(window, 3 * window);
      } else {
        now += pick(0, s.sub_ms);
      }
      WindowOp op;
      op.now_ms = now;
      if (roll >= 6 && roll < 9) {
        op.kind = WindowOpKind::kUpdateLimit;
        op.limit = pick(1, options_.max_limit);
      } else if (roll >= 9 && roll < 11) {
        op.kind = WindowOpKind::kReset;
      } else if (roll >= 11 && roll < 14) {
        op.kind = WindowOpKind::kCleanup;
        last_cleanup = now;
      } else {
        op.kind = roll >= 20 ? WindowOpKind::kCheck : WindowOpKind::kPeek;
        op.cost = roll < 90 ? 1 : pick(1, options_.max_cost);
      }
      s.ops.push_back(op);
    }
    return s;
  }

 private:
  std::int64_t pick(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }

  std::mt19937_64 rng_;
  WindowSequenceOptions options_;
};

// Plays `sequence` against `system` (its key holding sequence.limit and nothing counted) and
// the model: every decision must match in full (admitted, why not, remaining, reset_at,
// retry_after), every peek's status too, and the guarantee must hold after each request admitted.
// Returns an empty string, or a description of the first disagreement. Adds the decisions
// made to `decisions`.
template <class System>
std::string runWindowSequence(const WindowSequence& sequence, System& system, long& decisions) {
  WindowModel model(sequence.sub_ms, sequence.n, sequence.limit);
  for (size_t i = 0; i < sequence.ops.size(); ++i) {
    const WindowOp& op = sequence.ops[i];
    system.setNow(op.now_ms);
    const auto where = [&] {  // built only for a failure: it costs more than a decision
      std::ostringstream out;
      out << "op " << i << " (S=" << sequence.sub_ms << " N=" << sequence.n
          << " L=" << model.limit() << " t=" << op.now_ms << "): ";
      return out;
    };
    switch (op.kind) {
      case WindowOpKind::kUpdateLimit:
        system.updateLimit(op.limit);
        model.updateLimit(op.limit);
        continue;
      case WindowOpKind::kReset:
        system.reset();
        model.reset();
        continue;
      case WindowOpKind::kCleanup:
        system.cleanup();
        model.cleanup(op.now_ms);
        continue;
      case WindowOpKind::kCheck:
      case WindowOpKind::kPeek:
        break;
    }
    const bool consume = op.kind == WindowOpKind::kCheck;
    const WindowAnswer got = system.decide(op.cost, consume);
    const WindowAnswer want = model.decide(op.now_ms, op.cost, consume);
    ++decisions;
    if (got.allowed != want.allowed || got.cost_exceeds_limit != want.cost_exceeds_limit ||
        got.remaining != want.remaining || got.reset_at_ms != want.reset_at_ms ||
        got.retry_after_ms != want.retry_after_ms) {
      const auto show = [](const WindowAnswer& a) {
        std::ostringstream out;
        out << "allowed=" << a.allowed << " cost_exceeds_limit=" << a.cost_exceeds_limit
            << " remaining=" << a.remaining << " reset_at=" << a.reset_at_ms
            << " retry_after=" << (a.retry_after_ms ? std::to_string(*a.retry_after_ms) : "-");
        return out.str();
      };
      std::ostringstream out = where();
      out << (consume ? "check" : "peek") << " cost=" << op.cost << ": got " << show(got)
          << "; model " << show(want);
      return out.str();
    }
    // Only an admitted request adds to a run: nothing else can break the guarantee.
    if (consume && got.allowed && !model.guaranteeHolds()) {
      std::ostringstream out = where();
      out << "the guarantee is broken: a run of N sub-windows holds more than L";
      return out.str();
    }
    if (!consume) {
      const WindowStatusAnswer got_status = system.status();
      const WindowStatusAnswer want_status = model.status(op.now_ms);
      if (got_status.used != want_status.used || got_status.remaining != want_status.remaining ||
          got_status.window_start_ms != want_status.window_start_ms ||
          got_status.window_end_ms != want_status.window_end_ms ||
          got_status.reset_at_ms != want_status.reset_at_ms) {
        std::ostringstream out = where();
        out << "status: got used=" << got_status.used << " remaining=" << got_status.remaining
            << " window=" << got_status.window_start_ms << ".." << got_status.window_end_ms
            << " reset_at=" << got_status.reset_at_ms << "; model used=" << want_status.used
            << " remaining=" << want_status.remaining << " window=" << want_status.window_start_ms
            << ".." << want_status.window_end_ms << " reset_at=" << want_status.reset_at_ms;
        return out.str();
      }
    }
  }
  return {};
}

}  // namespace testing_support
