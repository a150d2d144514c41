// WindowStore: the rate-limit windows aggregate, the per-key sub-window counters that the
// sliding window decides on.
//
// A new implementation must provide, thread-safe and exact across every process (and host)
// sharing the store:
//  - consume: under the key's lock (one per key is enough; nothing else is locked), read
//    the clock, ask the caller's Decider which sub-windows to read, read them, and add the
//    cost to the planned sub-window when the Decider admits: read, decision and increment
//    one atomic step, and the decision's time never older than the lock;
//  - peek: the same read, without locking or writing;
//  - reset and forget a key, delete windows that ended;
//  - raise given sub-windows of a set of keys to given counts (the write-back of a faster
//    store kept in front of it, ../shared/), and sync (write back what it keeps elsewhere; a
//    store that keeps everything in itself has nothing to do).
// It knows nothing of keys: the caller hands in the policy (limit, key state) through its
// Decider, and forgets a key's windows when it revokes the key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.hpp"

namespace api {

// Every method throws StoreError on a storage failure.
class WindowStore {
 public:
  virtual ~WindowStore() = default;

  struct Count {
    std::int64_t start_ms = 0;  // sub-window start, ms since the epoch
    std::int64_t count = 0;     // requests (cost units) admitted in it
  };
  struct Read {
    TimePoint now{};            // the time the decision is made at (see Decider::plan)
    std::vector<Count> counts;  // sub-windows with start in the planned range, ascending
  };
  struct Plan {
    std::int64_t range_first_ms = 0;  // sub-windows with start in [first, last] are read
    std::int64_t range_last_ms = 0;
    std::int64_t consume_start_ms = 0;  // the sub-window a consumed request counts in
  };
  // The rate limiter's side of consume. Neither method may call the store.
  class Decider {
   public:
    virtual ~Decider() = default;
    // Called with the time read once the store holds the key's lock (for a peek, just
    // before reading): which sub-windows to read and where a consumed request counts.
    virtual Plan plan(TimePoint now) = 0;
    // Whether to add the cost, given what was read.
    virtual bool admit(const Read& read) = 0;
  };

  struct Request {
    std::string_view key_id;
    std::int64_t sub_window_ms = 0;  // the sub-window length (kept with the counts)
    std::int64_t cost = 0;
    std::int64_t limit = 0;  // the limit it is checked against (kept with the counts)
  };

  // See the file comment. Fills `read` with what was read (before adding; its memory is
  // reused, so a caller that keeps one Read per thread allocates nothing) and returns whether
  // it added.
  virtual bool consume(const Request& request, const Clock& clock, Decider& decider,
                       Read& read) = 0;
  // Reads as consume does, without a lock and without adding.
  virtual void peek(std::string_view key_id, const Clock& clock, Decider& decider, Read& read) = 0;

  // Deletes every sub-window of the key. Returns the request count cleared.
  virtual std::int64_t reset(std::string_view key_id) = 0;
  // As reset, when the key's windows can never count again (it was revoked). Returns how
  // many sub-windows went.
  virtual std::int64_t forget(std::string_view key_id) = 0;

  // Deletes the sub-windows that ended at or before `cutoff`. `sub_window_ms` is the current
  // sub-window length (a backend may use it to find them faster). Idempotent. Returns how
  // many sub-windows went.
  virtual std::int64_t deleteEnded(TimePoint cutoff, std::int64_t sub_window_ms) = 0;

  struct KeyCounts {
    std::string key_id;
    std::int64_t sub_window_ms = 0;
    std::int64_t limit = 0;
    std::vector<Count> counts;  // none: the key has no sub-windows left
  };
  // Raises each listed sub-window of each key to its count (creating it); one that holds more
  // keeps it, and the key's other sub-windows are left as they are; all in one transaction.
  // A sub-window's count only grows until a reset or forget deletes it, so a write-back that
  // arrives late can never lower one.
  virtual void write(const std::vector<KeyCounts>& keys) = 0;
  // Writes back to the durable store whatever this store holds only elsewhere (memory).
  // Returns how many keys it wrote.
  virtual std::int64_t sync() { return 0; }
};

}  // namespace api
