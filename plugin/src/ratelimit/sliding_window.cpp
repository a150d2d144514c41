#include "ratelimit/sliding_window.hpp"

#include <algorithm>

namespace api {
namespace {

using std::chrono::milliseconds;

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

TimePoint at(std::int64_t ms) {
  return TimePoint(milliseconds(ms));
}

}  // namespace

SlidingWindow::SlidingWindow(WindowShape shape, TimePoint now) {
  reset(shape, now);
}

void SlidingWindow::reset(WindowShape shape, TimePoint now) {
  shape_ = shape;
  sub_ms_ = shape.subWindowMs();
  now_ = now;
  current_ = floorDiv(now.time_since_epoch().count(), sub_ms_);
  fed_.clear();
  run_total_ = 0;
  oldest_ = -1;
  ahead_ = false;
  materialized_ = false;
  prepared_ = false;
  complete_ = true;
}

void SlidingWindow::addCount(std::int64_t start_ms, std::int64_t count) {
  const std::int64_t n = shape_.sub_windows;
  const std::int64_t base = current_ - n + 1;
  const std::int64_t sub = floorDiv(start_ms, sub_ms_);
  if (sub < base) {
    return;  // slid out of every run that contains now or a later sub-window
  }
  if (sub > base + kMaxLookAhead) {
    complete_ = false;
    ahead_ = true;
    return;
  }
  const std::int64_t rel = sub - base;
  fed_.emplace_back(rel, count);
  if (rel < n) {
    run_total_ += count;
    if (count > 0 && (oldest_ < 0 || rel < oldest_)) {
      oldest_ = rel;
    }
  } else if (count > 0) {
    ahead_ = true;
  }
  materialized_ = false;
  prepared_ = false;
}

void SlidingWindow::materialize() {
  if (materialized_) {
    return;
  }
  const std::int64_t n = shape_.sub_windows;
  counts_.assign(static_cast<size_t>(3 * n - 1), 0);
  for (const auto& [rel, count] : fed_) {
    const auto needed = static_cast<size_t>(rel + 2 * n);
    if (counts_.size() < needed) {
      counts_.resize(needed, 0);
    }
    counts_[static_cast<size_t>(rel)] += count;
  }
  materialized_ = true;
  prepared_ = false;
}

void SlidingWindow::prepare() {
  if (prepared_) {
    return;
  }
  prefix_.assign(counts_.size() + 1, 0);
  for (size_t i = 0; i < counts_.size(); ++i) {
    prefix_[i + 1] = prefix_[i] + counts_[i];
  }
  prepared_ = true;
}

std::int64_t SlidingWindow::run(std::int64_t j) const {
  // The sum of the N sub-windows starting at base + j.
  return prefix_[static_cast<size_t>(j + shape_.sub_windows)] - prefix_[static_cast<size_t>(j)];
}

std::int64_t SlidingWindow::usedAt(std::int64_t d) const {
  // The fullest run among the N runs that contain sub-window k + d.
  std::int64_t best = 0;
  for (std::int64_t j = d; j <= shape_.sub_windows - 1 + d; ++j) {
    best = std::max(best, run(j));
  }
  return best;
}

TimePoint SlidingWindow::resetAt() const {
  const std::int64_t n = shape_.sub_windows;
  const std::int64_t base = current_ - n + 1;
  for (std::int64_t j = 0; j < n; ++j) {
    if (counts_[static_cast<size_t>(j)] > 0) {
      return at((base + j + n) * sub_ms_);
    }
  }
  return now_;
}

std::optional<TimePoint> SlidingWindow::fitsAt(std::int64_t cost, std::int64_t limit) {
  // A sliding maximum of run sums over the runs that contain k + d (those starting at
  // d .. N - 1 + d), for d = 1, 2, ...: past the last sub-window holding requests every run
  // is empty, so the search ends within the counts held.
  const std::int64_t n = shape_.sub_windows;
  std::int64_t last_d = static_cast<std::int64_t>(counts_.size()) - 2 * n + 1;
  if (!complete_) {  // only runs wholly within the sub-windows known to be complete
    last_d = std::min(last_d, kMaxLookAhead - 2 * n + 2);
  }
  // A monotonic queue of run starts, their sums decreasing: best_[head .. end).
  best_.clear();
  size_t head = 0;
  std::int64_t next = 1;
  for (std::int64_t d = 1; d <= last_d; ++d) {
    for (; next <= n - 1 + d; ++next) {
      while (best_.size() > head && run(best_.back()) <= run(next)) {
        best_.pop_back();
      }
      best_.push_back(next);
    }
    while (best_[head] < d) {
      ++head;
    }
    if (run(best_[head]) + cost <= limit) {
      return at((current_ + d) * sub_ms_);
    }
  }
  return std::nullopt;
}

WindowDecision SlidingWindow::decide(std::int64_t limit, std::int64_t cost, bool consume) {
  const std::int64_t n = shape_.sub_windows;
  if (!ahead_ && run_total_ + cost <= limit) {
    // Admitted, with nothing counted after k: no need for the arrays (see run_total_).
    WindowDecision d;
    d.admitted = true;
    d.verdict = WindowVerdict::kAdmitted;
    d.remaining = std::max<std::int64_t>(0, limit - run_total_ - cost);
    if (consume) {  // counted in sub-window k, which is rel N - 1
      run_total_ += cost;
      fed_.emplace_back(n - 1, cost);
      materialized_ = false;
      if (oldest_ < 0) {
        oldest_ = n - 1;
      }
    }
    d.reset_at = oldest_ < 0 ? now_ : at((current_ - n + 1 + oldest_ + n) * sub_ms_);
    return d;
  }
  materialize();
  prepare();
  const std::int64_t used = usedAt(0);
  WindowDecision d;
  d.admitted = used + cost <= limit;
  if (d.admitted) {
    d.verdict = WindowVerdict::kAdmitted;
    d.remaining = std::max<std::int64_t>(0, limit - used - cost);
    if (consume) {  // counted in sub-window k, which is rel N - 1
      const auto k = static_cast<size_t>(n - 1);
      counts_[k] += cost;
      fed_.emplace_back(n - 1, cost);  // counts_ stays in step with it
      for (size_t i = k + 1; i < prefix_.size(); ++i) {
        prefix_[i] += cost;
      }
    }
    d.reset_at = resetAt();
    return d;
  }
  d.remaining = std::max<std::int64_t>(0, limit - used);
  d.reset_at = resetAt();
  if (cost > limit) {
    d.verdict = WindowVerdict::kCostExceedsLimit;
    return d;
  }
  d.verdict = WindowVerdict::kOverLimit;
  if (const auto fits = fitsAt(cost, limit)) {
    d.retry_after = std::chrono::duration_cast<milliseconds>(*fits - now_);
  }
  return d;
}

WindowStatus SlidingWindow::status(std::int64_t limit) {
  materialize();
  prepare();
  WindowStatus s;
  s.used = usedAt(0);
  s.remaining = std::max<std::int64_t>(0, limit - s.used);
  s.window_start = at(firstReadMs());
  s.window_end = at((current_ + 1) * sub_ms_);
  s.reset_at = resetAt();
  return s;
}

}  // namespace api
