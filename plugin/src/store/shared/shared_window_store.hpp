// SharedWindowStore: the rate-limit windows of one machine in a memory-mapped file, in front
// of a durable WindowStore (the database's) that still holds every count once written back.
//
// Every process that opens the same store maps the same segment, `<database>-ratelimit`
// (mode 0600, never through a link, trusted like the database). It holds a hash table of
// slots, one per key id, each with the key's sub-window counts and a robust process-shared
// mutex: a check is a probe, a lock, a read of the counts, the engine's decision and an add,
// with no system call and no allocation in the store (the caller's Decider may allocate).
//
// Guarantees, beyond WindowStore's:
//  - Exact across threads and processes: a key's check-and-count runs under its slot's lock.
//    A process killed while holding it wedges nobody (the next locker is told, by the robust
//    mutex, that the owner died) and leaves the slot consistent: every change to a slot is
//    written so that a half-done one is rolled back (a count) or finished (a reset) by the
//    next locker.
//  - A key that finds no slot (the table full around its place, a key id longer than a slot
//    holds, or no disk for the slot's pages) is decided on the durable store, under the
//    segment's claim lock, so that no process can meanwhile give it a slot: still exact, and
//    counted (stats().fallbacks). A slot whose counts outgrow it (only after the clock stepped
//    back far) is written back and its key decided on the durable store until the slot is
//    reclaimed: counted too (stats().spills).
//  - A slot drops a sub-window that ended a whole window ago only when it needs the room, as
//    a cleanup would: like a cleanup, that is forgotten if the clock then steps back past it.
//  - Counts live in the file, so they outlast every process. deleteEnded() (every cleanup)
//    writes the sub-windows changed since the last write-back to the durable store, raising
//    its counts (a late write-back can never lower one), and frees the slots of keys idle for
//    a whole window; sync() (the module's shutdown) writes back without freeing. A slot is
//    loaded from the durable store when a key is given one.
//  - A damaged segment (truncated, grown, not one at all, or written before the machine
//    booted, whose locks and pages cannot be trusted) is replaced by a new empty one, with a
//    warning; processes still mapping the old one see it retired and move to the new one at
//    their next call. One made by another build or configuration is replaced only when no
//    process maps it any more, and refused (StoreError) while one does. The counts since the
//    last write-back are then lost, as they are on a power loss.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "domain/limits.hpp"
#include "store/window_store.hpp"

namespace api {

class SharedWindowStore final : public WindowStore {
 public:
  struct Options {
    std::string path;             // the segment file
    std::int64_t slots = 65'536;  // keys held at once
    WindowShape shape;            // the window every key is counted in
    // Told why a segment was replaced (never a secret: paths and numbers).
    std::function<void(const std::string&)> warn;
    // Tests only: called in the middle of every change to a slot, with the slot locked.
    std::function<void()> mid_update;
  };

  // Opens or creates the segment. REQUIRED: `durable` outlives this store. Throws StoreError.
  SharedWindowStore(Options options, WindowStore& durable);
  ~SharedWindowStore() override;
  SharedWindowStore(const SharedWindowStore&) = delete;
  SharedWindowStore& operator=(const SharedWindowStore&) = delete;

  bool consume(const Request& request, const Clock& clock, Decider& decider, Read& read) override;
  void peek(std::string_view key_id, const Clock& clock, Decider& decider, Read& read) override;
  std::int64_t reset(std::string_view key_id) override;
  std::int64_t forget(std::string_view key_id) override;
  // sync(), with reclaiming at `cutoff`, then the durable store's deleteEnded.
  std::int64_t deleteEnded(TimePoint cutoff, std::int64_t sub_window_ms) override;
  // Writes back what the segment holds, then sets the counts given; the keys' slots are
  // freed (their next checks load them again).
  void write(const std::vector<KeyCounts>& keys) override;
  // Writes back what changed since the last write-back, as cleanup does; at once, without
  // reading the segment, in a process that never counted a request in it (a CLI command
  // has nothing to add to what the serving processes' cleanups write).
  std::int64_t sync() override;

  struct Stats {
    std::int64_t slots = 0;
    std::int64_t in_use = 0;     // slots holding a key
    std::int64_t fallbacks = 0;  // checks decided on the durable store for want of a slot
    std::int64_t spills = 0;     // slots whose counts outgrew them
  };
  // Shared by every process using the segment. Never throws.
  Stats stats() const noexcept;
  const std::string& path() const { return options_.path; }

  struct Segment;  // one mapping of the file (shared_window_store.cpp)
  struct Slot;     // one key's counts in it

 private:
  class SlotLock;

  Segment& segment();
  // Probes for the key's slot; when it has one, returns its index with its lock held in
  // `lock`, else -1.
  std::int64_t lockSlotOf(Segment& seg, std::string_view key_id, std::uint64_t hash,
                          SlotLock& lock);
  // Clears the key's slot (freeing it with `free_slot`) and runs `durable_change` on the
  // durable store, with no write-back or claim running meanwhile. Returns what reset or
  // forget return.
  std::int64_t clearKey(std::string_view key_id, bool free_slot,
                        const std::function<std::int64_t()>& durable_change);
  // Writes back the slots changed since the last sync; with `cutoff`, frees the slots of keys
  // with no sub-window ending after it.
  std::int64_t syncSlots(const TimePoint* cutoff);

  Options options_;
  WindowStore& durable_;
  std::mutex remap_mutex_;                          // guards the list below
  std::vector<std::unique_ptr<Segment>> segments_;  // every one mapped; the last is current
  std::atomic<Segment*> current_{nullptr};
  std::atomic<bool> counted_{false};  // this process counted a request in a slot
};

}  // namespace api
