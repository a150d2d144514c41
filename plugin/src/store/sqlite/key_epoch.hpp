// KeyEpoch: a counter in a small shared file beside the database, moved around the commit of
// every key change made through SqliteKeyStore, so that a validation cache in any process can
// tell with three atomic loads, no system call and no lock whether any key changed since it
// read one. Unlike the wal-index header, it does not move for the commits that are not key
// changes (rate-limit checks, usage batches, last-use times), which are most of them.
//
// The protocol. A change: in_flight += 1, generation += 1, the transaction, generation += 1,
// in_flight -= 1. A reader: token() reads the generation, in_flight and the generation again,
// and has a token only when nothing is in flight and the generation stood still. What a
// caller reads from the database after taking token T it may serve for as long as token()
// still returns T: a change that began after T was taken moved the generation, and one under
// way when it was taken left no token to take.
//
// A process killed inside a change leaves in_flight above zero. That turns every cache off,
// which is slow but never stale, until the deadline of every change in flight has passed
// (each change's start plus its process's `stale_after`: longer than a change can take, the
// busy timeout and then some); the next token() then clears them and moves the generation.
// A change that only stalled past its deadline is not counted down again when it ends late.
// Processes must share the monotonic clock (one machine, one time namespace). A process that
// keeps the file open after it was deleted shares nothing with those that made a new one:
// ApiKeyService's 1 s bound then applies.
//
// Only changes made through this module move it: a key changed by other software (the
// sqlite3 shell) is not seen here, and ApiKeyService bounds how long it may serve a cached
// key for that reason.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace api {

class KeyEpoch {
 public:
  // Milliseconds on a clock every process of the machine shares (CLOCK_MONOTONIC by default).
  using MonotonicMs = std::function<std::int64_t()>;

  // Opens or creates `path` (mode 0600, never through a symbolic link; refused when it is not
  // this user's or others may write it). A file of the wrong size, magic or layout version is
  // rebuilt, with a random generation so that no earlier token can match again. Throws
  // StoreError.
  KeyEpoch(const std::string& path, std::chrono::milliseconds stale_after,
           MonotonicMs monotonic_ms = {});
  ~KeyEpoch();
  KeyEpoch(const KeyEpoch&) = delete;
  KeyEpoch& operator=(const KeyEpoch&) = delete;

  // The current generation when no change is in flight; nullopt while one is. Clears a
  // change left by a dead process once it is older than `stale_after`. Thread-safe.
  std::optional<std::uint64_t> token() const noexcept;

  // Brackets one key change: construct before the transaction begins, destroy after it has
  // committed or rolled back.
  class Change {
   public:
    explicit Change(const KeyEpoch& epoch) noexcept;
    ~Change();
    Change(const Change&) = delete;
    Change& operator=(const Change&) = delete;

   private:
    const KeyEpoch& epoch_;
    std::uint64_t repairs_at_begin_;
  };

 private:
  struct Shared;
  // Returns the repair count as the change began, for end().
  std::uint64_t begin() const noexcept;
  void end(std::uint64_t repairs_at_begin) const noexcept;

  std::int64_t stale_after_ms_;
  MonotonicMs monotonic_ms_;
  Shared* shared_ = nullptr;  // the file's mapping
};

}  // namespace api
