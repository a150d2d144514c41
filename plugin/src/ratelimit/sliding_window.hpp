// The sliding-window rate limit as a pure engine: arithmetic only, no store, no I/O, no
// logging, no clock (the caller hands in the time). It may include only domain/ and the
// standard library.
//
// The contract (README, "Rate limiting"): a window of W ms is divided into N sub-windows of
// S = W / N ms; sub-window k holds the requests admitted at times t with floor(t / S) = k. A
// request of cost c at sub-window k is admitted if and only if, for every run of N
// consecutive sub-windows that contains k, the requests already admitted in that run plus c
// come to at most L, the key's limit. While time only moves forward that is "the sub-window
// containing now and the N - 1 before it"; the wider rule keeps the guarantee (every run of
// N consecutive sub-windows holds at most L) when the clock steps back.
//
// What a caller (a store) must provide, per decision, all under the key's lock when it
// consumes, so that the read and the increment are one atomic step:
//   1. the time, read once the lock is held: SlidingWindow window(shape, now);
//   2. every sub-window of the key whose start is at or after window.firstReadMs(), with its
//      count, fed through window.addCount() in any order (later sub-windows hold requests
//      only after a clock step back; they matter to the decision when within N - 1 of k and
//      to retry_after up to kMaxLookAhead; passing all of them is always right);
//   3. the key's limit and the cost: window.decide(limit, cost, consume);
//   4. when consuming and the decision admitted the request, cost added to the sub-window
//      starting at window.consumeStartMs(), before the lock is released.
// Key state (revoked, expired, unknown) and what to do when the store fails are the caller's.
//
// A SlidingWindow is a value for one decision at one time; it is not thread-safe. It holds
// O(N) memory (more only after a clock step back); reset() starts a new decision in the same
// object, keeping that memory, so that a caller that keeps one per thread allocates nothing
// per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "domain/clock.hpp"
#include "domain/limits.hpp"  // WindowShape

namespace api {

// Sub-windows after the current one hold requests only once the clock has stepped back; past
// this many, retry_after is not computed (the decision itself never looks further than N).
inline constexpr std::int64_t kMaxLookAhead = 65'536;

enum class WindowVerdict {
  kAdmitted,          // fits (counted when consuming)
  kOverLimit,         // the runs containing now are too full; retry_after says when it fits
  kCostExceedsLimit,  // the cost alone is above the limit: it can never be admitted
};

struct WindowDecision {
  bool admitted = false;
  WindowVerdict verdict = WindowVerdict::kOverLimit;
  // What could still be admitted now, after this request when it was admitted; never below 0
  // (usage can be above a lowered limit).
  std::int64_t remaining = 0;
  // When the oldest counted sub-window of the current run slides out, freeing the next slot
  // (counting this request when it was consumed); `now` when nothing is counted.
  TimePoint reset_at{};
  // kOverLimit only: how long until a request of the same cost is admitted if nothing else
  // is; none when that lies further than kMaxLookAhead sub-windows (after a clock step back).
  std::optional<std::chrono::milliseconds> retry_after;
};

struct WindowStatus {
  std::int64_t used = 0;       // the largest run total over the runs containing now
  std::int64_t remaining = 0;  // limit - used, never below 0
  TimePoint window_start{};    // start of the oldest sub-window of the current run
  TimePoint window_end{};      // end of the current sub-window
  TimePoint reset_at{};        // as WindowDecision::reset_at
};

class SlidingWindow {
 public:
  // REQUIRED: shape as WindowShape requires.
  SlidingWindow(WindowShape shape, TimePoint now);
  // A window to reset() before use.
  SlidingWindow() = default;
  // Starts over for a decision at `now`, as if newly constructed, keeping the memory.
  void reset(WindowShape shape, TimePoint now);

  // The store reads every sub-window with start >= firstReadMs() (see the file comment).
  std::int64_t firstReadMs() const { return (current_ - shape_.sub_windows + 1) * sub_ms_; }
  // The sub-window a consumed request counts in: the one holding `now`.
  std::int64_t consumeStartMs() const { return current_ * sub_ms_; }

  // One sub-window as read: its start (ms since the epoch, any time inside it also works)
  // and the requests (cost units) counted in it. Sub-windows before firstReadMs() are
  // ignored. REQUIRED: count >= 0, and before decide() or status().
  void addCount(std::int64_t start_ms, std::int64_t count);

  // The decision on the counts fed so far. With `consume`, an admitted request is counted
  // here too (the caller writes it to its store); call it once per SlidingWindow.
  // REQUIRED: cost >= 1.
  WindowDecision decide(std::int64_t limit, std::int64_t cost, bool consume);

  // The window as the counts fed so far show it, for a key with `limit`.
  WindowStatus status(std::int64_t limit);

 private:
  // Builds counts_ from what was fed (the general case: only a decision that refuses, one
  // after a clock step back, and status() need it).
  void materialize();
  void prepare();  // builds prefix_ from counts_ once all counts are in
  std::int64_t run(std::int64_t j) const;
  std::int64_t usedAt(std::int64_t d) const;
  TimePoint resetAt() const;
  std::optional<TimePoint> fitsAt(std::int64_t cost, std::int64_t limit);

  WindowShape shape_{1, 1};
  std::int64_t sub_ms_ = 1;
  TimePoint now_{};
  std::int64_t current_ = 0;  // k, the sub-window holding now
  // Counts of sub-windows base .. base + size - 1, base = k - N + 1: at least up to k + 2N - 1
  // and, for every later one holding requests within kMaxLookAhead, N more empty ones after
  // it, so the search for a fit can reach a run clear of all of them.
  std::vector<std::int64_t> counts_;
  std::vector<std::int64_t> prefix_;  // prefix_[i] = counts_[0] + ... + counts_[i - 1]
  std::vector<std::int64_t> best_;    // fitsAt's queue of run starts (kept for its memory)
  // What addCount was given, relative to base (materialize() turns it into counts_), and
  // what the common case decides on without it: while no sub-window after k holds requests,
  // the fullest run containing k is the one ending at k, whose total is run_total_.
  std::vector<std::pair<std::int64_t, std::int64_t>> fed_;
  std::int64_t run_total_ = 0;  // requests in base .. k
  std::int64_t oldest_ = -1;    // the first of base .. k holding requests, relative; -1: none
  bool ahead_ = false;          // a sub-window after k holds requests
  bool materialized_ = false;   // counts_ holds what was fed
  bool prepared_ = false;
  bool complete_ = true;  // no sub-window holding requests lies past kMaxLookAhead
};

}  // namespace api
