// Time as a dependency: logic asks a Clock, never the system directly, so tests can move
// simulated time instead of sleeping. An implementation must provide: now() (wall-clock
// time, which may step either way), monotonicNow() (which never steps back: for deadlines,
// intervals and back-offs) and waitUntil() (a condition-variable wait whose deadline is on
// monotonicNow()); all thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "util/time_point.hpp"

namespace api {

using MonotonicTime = std::chrono::steady_clock::time_point;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time in milliseconds since the Unix epoch.
  virtual TimePoint now() const = 0;
  // A reading that only moves forward, for measuring waits; its epoch means nothing.
  virtual MonotonicTime monotonicNow() const = 0;
  // With `lock` held (on `cv`'s mutex), waits on `cv` until `done()` or until
  // monotonicNow() reaches `deadline`, and returns done(). `lock` is held again on return
  // (it may have been released more than once meanwhile, as by any condition wait); whoever
  // changes what done() reads notifies `cv`.
  virtual bool waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         MonotonicTime deadline, const std::function<bool()>& done) const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  MonotonicTime monotonicNow() const override { return std::chrono::steady_clock::now(); }
  bool waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 MonotonicTime deadline, const std::function<bool()>& done) const override {
    return cv.wait_until(lock, deadline, done);
  }
};

// A clock that moves only when told to. advance() moves both readings and releases every
// waitUntil() whose deadline it reaches; set() steps the wall clock alone, either way, as an
// adjusted system clock does. Thread-safe.
// REQUIRED: nothing waiting on this clock is destroyed while an advance() runs.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : ms_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(std::chrono::milliseconds(ms_.load())); }
  MonotonicTime monotonicNow() const override {
    return MonotonicTime(std::chrono::milliseconds(monotonic_ms_.load()));
  }
  bool waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 MonotonicTime deadline, const std::function<bool()>& done) const override;

  void advance(std::chrono::milliseconds by);
  void set(TimePoint to) { ms_ = to.time_since_epoch().count(); }

  // For tests that must know a thread has reached its wait before they advance: blocks (in
  // real time, at most `timeout`) until at least `count` threads wait on this clock.
  bool awaitWaiters(size_t count, std::chrono::milliseconds timeout) const;

 private:
  struct Waiter {
    std::mutex* mutex;
    std::condition_variable* cv;
  };

  std::atomic<std::int64_t> ms_;
  std::atomic<std::int64_t> monotonic_ms_{0};
  mutable std::mutex waiters_mutex_;  // guards the three below; never held while taking a
                                      // waiter's mutex, so no lock order between them
  mutable std::condition_variable waiters_changed_;
  mutable std::vector<Waiter*> waiters_;
  mutable int advancing_ = 0;  // advance() calls notifying waiters
};

}  // namespace api
