// The sliding-window engine alone against the brute-force model (tests/support/
// window_oracle.hpp) on 100,000 random sequences. The store is a map of sub-window counts,
// read and written the way SlidingWindow's contract asks of a real store.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <map>

#include "ratelimit/sliding_window.hpp"
#include "window_oracle.hpp"

namespace {

using testing_support::WindowAnswer;
using testing_support::WindowStatusAnswer;

api::TimePoint at(std::int64_t ms) {
  return api::TimePoint(std::chrono::milliseconds(ms));
}

// One key's sub-window rows, as a store would keep them.
class EngineOnAMap {
 public:
  EngineOnAMap(api::WindowShape shape, std::int64_t limit, bool feed_descending)
      : shape_(shape), limit_(limit), feed_descending_(feed_descending) {}

  void setNow(std::int64_t ms) { now_ = ms; }
  void updateLimit(std::int64_t limit) { limit_ = limit; }
  void reset() { rows_.clear(); }
  void cleanup() {  // as WindowStore::deleteEnded(now - W, S)
    for (auto it = rows_.begin(); it != rows_.end();) {
      it = it->first + shape_.subWindowMs() <= now_ - shape_.window_ms ? rows_.erase(it)
                                                                       : std::next(it);
    }
  }

  WindowAnswer decide(std::int64_t cost, bool consume) {
    api::SlidingWindow window = loaded();
    const api::WindowDecision d = window.decide(limit_, cost, consume);
    if (consume && d.admitted) {
      rows_[window.consumeStartMs()] += cost;
    }
    WindowAnswer a;
    a.allowed = d.admitted;
    a.cost_exceeds_limit = d.verdict == api::WindowVerdict::kCostExceedsLimit;
    a.remaining = d.remaining;
    a.reset_at_ms = d.reset_at.time_since_epoch().count();
    if (d.retry_after) {
      a.retry_after_ms = d.retry_after->count();
    }
    if (d.admitted != (d.verdict == api::WindowVerdict::kAdmitted) ||
        (d.retry_after && d.verdict != api::WindowVerdict::kOverLimit)) {
      inconsistent_ = true;  // a verdict that contradicts the rest of the decision
    }
    return a;
  }

  bool inconsistent() const { return inconsistent_; }

  WindowStatusAnswer status() {
    const api::WindowStatus s = loaded().status(limit_);
    return {s.used, s.remaining, s.window_start.time_since_epoch().count(),
            s.window_end.time_since_epoch().count(), s.reset_at.time_since_epoch().count()};
  }

 private:
  // Every row, the ones before firstReadMs() too: the engine must ignore those, in any order.
  api::SlidingWindow loaded() const {
    api::SlidingWindow window(shape_, at(now_));
    if (feed_descending_) {
      for (auto it = rows_.rbegin(); it != rows_.rend(); ++it) {
        window.addCount(it->first, it->second);
      }
    } else {
      for (const auto& [start, count] : rows_) {
        window.addCount(start, count);
      }
    }
    return window;
  }

  api::WindowShape shape_;
  std::int64_t limit_;
  bool feed_descending_;
  std::int64_t now_ = 0;
  bool inconsistent_ = false;
  std::map<std::int64_t, std::int64_t> rows_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sliding_window_oracle)

BOOST_AUTO_TEST_CASE(agrees_with_the_reference_model_on_100000_random_sequences) {
  const char* seed_text = std::getenv("RATE_LIMIT_SEED");
  const std::uint64_t seed =
      seed_text != nullptr ? std::strtoull(seed_text, nullptr, 10) : 20261201;
  testing_support::WindowSequenceOptions options;
  // Wider than the store test can afford: more shapes, limits above the costs' range too.
  options.sub_ms_choices = {1, 2, 7, 1000, 60'000};
  options.n_choices = {1, 2, 3, 4, 5, 8, 13};
  options.max_limit = 16;
  options.max_cost = 20;
  testing_support::WindowSequenceGenerator generator(seed, options);
  long decisions = 0;
  for (int sequence = 0; sequence < 100'000; ++sequence) {
    // Around 2026, and around the epoch, where sub-window numbers go negative.
    const std::int64_t start = sequence % 4 == 3 ? -5'000 : 1'764'547'200'000;
    const testing_support::WindowSequence s = generator.next(start);
    EngineOnAMap engine(api::WindowShape{s.sub_ms * s.n, s.n}, s.limit, sequence % 2 == 1);
    const std::string failure = testing_support::runWindowSequence(s, engine, decisions);
    BOOST_REQUIRE_MESSAGE(
        failure.empty(), "RATE_LIMIT_SEED=" << seed << " sequence " << sequence << ": " << failure);
    BOOST_REQUIRE_MESSAGE(!engine.inconsistent(),
                          "RATE_LIMIT_SEED=" << seed << " sequence " << sequence
                                             << ": a verdict contradicts its decision");
  }
  BOOST_TEST(decisions > 3'000'000);
}

BOOST_AUTO_TEST_SUITE_END()
