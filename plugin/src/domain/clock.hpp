// Time as a dependency: logic asks a Clock, never the system directly, so tests can move
// simulated time instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace api {

using TimePoint = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;

// Wall-clock time in milliseconds since the Unix epoch. Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimePoint start) : ms_(start.time_since_epoch().count()) {}
  TimePoint now() const override { return TimePoint(std::chrono::milliseconds(ms_.load())); }
  void advance(std::chrono::milliseconds by) { ms_ += by.count(); }
  void set(TimePoint to) { ms_ = to.time_since_epoch().count(); }

 private:
  std::atomic<std::int64_t> ms_;
};

}  // namespace api
