// KeyChangeListener: a process's view of the PostgreSQL key change epoch, which is its key
// caches' change token. One thread holds one connection that LISTENs on api_key_changes
// (every key change notifies it with the epoch it raised, see schema/postgres/0001), and
// re-reads the epoch itself after each (re)connection and once a second, so that a change
// missed while it was away is still seen.
//
// While the connection is down, token() answers nullopt: a cache never serves a key it
// cannot know to be current. The thread reconnects with back-off (100 ms doubling to 2 s).
//
// The token is (generation, epoch). The generation moves at every connection and whenever the
// epoch read is lower than the one known (a failover to a standby that lost changes, a
// restored or recreated database): an epoch that went back can never make an old token match.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "store/postgres/pg_connection.hpp"

namespace api {

class KeyChangeListener {
 public:
  // The listener of the database `options.url` names, shared by every caller in this process
  // (made, and its thread started, by the first). Waits up to options.timeout_ms for the first
  // connection, so that a cache works from the start; a listener that could not connect yet
  // keeps trying.
  static std::shared_ptr<KeyChangeListener> forDatabase(const PgOptions& options);

  explicit KeyChangeListener(const PgOptions& options);
  ~KeyChangeListener();
  KeyChangeListener(const KeyChangeListener&) = delete;
  KeyChangeListener& operator=(const KeyChangeListener&) = delete;

  // (generation, epoch) as last learned, while listening; nullopt while not. Never blocks.
  std::optional<std::array<std::uint64_t, 2>> token() const noexcept;
  // Tells the listener of an epoch this process committed (the notification follows).
  void learned(std::uint64_t epoch) noexcept;
  bool listening() const noexcept { return listening_.load(std::memory_order_acquire); }
  // Connections made so far (1 after the first; each reconnection adds one).
  std::uint64_t connections() const noexcept { return connections_.load(); }

 private:
  void run();
  // One connection's life: LISTEN, read the epoch, then wait for notifications until the
  // connection fails or stop is asked.
  void listen(PgConnection& connection);
  // The epoch read from the database (after a connection, at a heartbeat): a new generation if
  // `fresh` or when it is lower than the one known.
  void read(std::uint64_t epoch, bool fresh) noexcept;
  // Learns the epochs of the notifications libpq has read.
  void drainNotifications(PgConnection& connection) noexcept;

  PgOptions options_;
  std::atomic<bool> listening_{false};
  // Read epoch_ between two equal readings of generation_; written generation first.
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> epoch_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stop_ = false;
  int wake_fd_ = -1;  // an eventfd: wakes the thread's poll to stop
  std::thread thread_;
};

}  // namespace api
