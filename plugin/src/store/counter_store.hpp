// CounterStore: operational counters shared by every process using the store (e.g. the
// rate limiter's fail-open decisions, records the usage writer dropped).
//
// A new implementation must provide, thread-safe: adding deltas to named counters in one
// transaction (a counter starts at 0), and reading them all.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "domain/clock.hpp"

namespace api {

// Every method throws StoreError on a storage failure.
class CounterStore {
 public:
  virtual ~CounterStore() = default;

  struct Counter {
    std::string name;
    std::int64_t value = 0;
    std::int64_t updated_at_ms = 0;
  };
  // Adds each delta to its named counter (creating it at 0), in one transaction.
  virtual void add(const std::vector<std::pair<std::string, std::int64_t>>& deltas,
                   TimePoint now) = 0;
  // Every counter, by name.
  virtual std::vector<Counter> all() = 0;
};

}  // namespace api
