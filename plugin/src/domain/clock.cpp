#include "domain/clock.hpp"

#include <algorithm>

namespace api {

bool ManualClock::waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            MonotonicTime deadline, const std::function<bool()>& done) const {
  Waiter self{lock.mutex(), &cv};
  {
    // Registered before the first look at the time: an advance() that moves it later also
    // sees this waiter, and takes its mutex before notifying, so the wake-up cannot fall
    // between our look and our wait.
    std::lock_guard guard(waiters_mutex_);
    waiters_.push_back(&self);
  }
  waiters_changed_.notify_all();
  while (!done() && monotonicNow() < deadline) {
    cv.wait(lock);
  }
  // Unregistered without the caller's mutex (advance() takes it while holding none of ours),
  // once no advance() can still be about to use `self`.
  lock.unlock();
  {
    std::unique_lock guard(waiters_mutex_);
    waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &self));
    waiters_changed_.wait(guard, [this] { return advancing_ == 0; });
  }
  waiters_changed_.notify_all();
  lock.lock();
  return done();
}

void ManualClock::advance(std::chrono::milliseconds by) {
  std::vector<Waiter*> waiting;
  {
    std::lock_guard guard(waiters_mutex_);
    ms_ += by.count();
    monotonic_ms_ += by.count();
    waiting = waiters_;
    ++advancing_;
  }
  for (Waiter* w : waiting) {
    { std::lock_guard held(*w->mutex); }  // the waiter is in cv.wait, or has not looked yet
    w->cv->notify_all();
  }
  {
    std::lock_guard guard(waiters_mutex_);
    --advancing_;
  }
  waiters_changed_.notify_all();
}

bool ManualClock::awaitWaiters(size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock guard(waiters_mutex_);
  return waiters_changed_.wait_for(guard, timeout, [&] { return waiters_.size() >= count; });
}

}  // namespace api
