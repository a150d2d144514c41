// KeyChangeListener: LISTEN api_key_changes on a connection of its own, on a thread of its own.
#include "store/postgres/key_change_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <charconv>
#include <map>

namespace api {
namespace {

constexpr PgQuery kSelectEpoch{"SELECT epoch FROM api_key_epoch", "reading the key epoch"};
constexpr std::chrono::seconds kHeartbeat{1};

}  // namespace

void KeyChangeListener::drainNotifications(PgConnection& connection) noexcept {
  while (PGnotify* notice = PQnotifies(connection.handle())) {
    std::uint64_t epoch = 0;
    const std::string_view payload(notice->extra == nullptr ? "" : notice->extra);
    if (std::from_chars(payload.data(), payload.data() + payload.size(), epoch).ec == std::errc()) {
      learned(epoch);
    }
    PQfreemem(notice);
  }
}

std::shared_ptr<KeyChangeListener> KeyChangeListener::forDatabase(const PgOptions& options) {
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<KeyChangeListener>> registry;
  std::shared_ptr<KeyChangeListener> listener;
  {
    std::lock_guard lock(registry_mutex);
    std::weak_ptr<KeyChangeListener>& slot = registry[options.url];
    listener = slot.lock();
    if (listener == nullptr) {
      listener = std::make_shared<KeyChangeListener>(options);
      slot = listener;
    }
  }
  std::unique_lock lock(listener->mutex_);
  listener->changed_.wait_for(lock, std::chrono::milliseconds(options.timeout_ms),
                              [&] { return listener->listening() || listener->stop_; });
  return listener;
}

KeyChangeListener::KeyChangeListener(const PgOptions& options) : options_(options) {
  options_.trace = nullptr;  // its heartbeat would flood a trace
  options_.application_name = "systemprompt-api-listener";
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    throw StoreError("cannot create the key change listener's eventfd");
  }
  thread_ = std::thread([this] { run(); });
}

KeyChangeListener::~KeyChangeListener() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof(one));
  thread_.join();
  ::close(wake_fd_);
}

std::optional<std::array<std::uint64_t, 2>> KeyChangeListener::token() const noexcept {
  for (;;) {
    if (!listening_.load(std::memory_order_acquire)) {
      return std::nullopt;
    }
    const std::uint64_t generation = generation_.load(std::memory_order_acquire);
    const std::uint64_t epoch = epoch_.load(std::memory_order_acquire);
    // The connection may have been lost, or a new generation begun, after the epoch was read:
    // answer only a pair that held together while it listened.
    if (!listening_.load(std::memory_order_acquire)) {
      return std::nullopt;
    }
    if (generation_.load(std::memory_order_acquire) == generation) {
      return std::array<std::uint64_t, 2>{generation, epoch};
    }
  }
}

void KeyChangeListener::read(std::uint64_t epoch, bool fresh) noexcept {
  if (fresh || epoch < epoch_.load(std::memory_order_acquire)) {
    generation_.fetch_add(1, std::memory_order_acq_rel);
    epoch_.store(epoch, std::memory_order_release);
  } else {
    learned(epoch);
  }
}

void KeyChangeListener::learned(std::uint64_t epoch) noexcept {
  std::uint64_t known = epoch_.load(std::memory_order_relaxed);
  while (known < epoch && !epoch_.compare_exchange_weak(known, epoch, std::memory_order_acq_rel)) {
  }
}

void KeyChangeListener::run() {
  std::chrono::milliseconds backoff(100);
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) {
        break;
      }
    }
    try {
      PgConnection connection(options_);
      backoff = std::chrono::milliseconds(100);
      listen(connection);
    } catch (const StoreError&) {
      // Lost or never made: caches stop serving (token() is nullopt) until a new connection
      // has read the epoch again.
    }
    listening_.store(false, std::memory_order_release);
    std::unique_lock lock(mutex_);
    if (changed_.wait_for(lock, backoff, [&] { return stop_; })) {
      break;
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2'000));
  }
  listening_.store(false, std::memory_order_release);
}

void KeyChangeListener::listen(PgConnection& connection) {
  connection.exec("LISTEN api_key_changes", "listening for key changes");
  // Read after LISTEN took effect: a change committed from here on is notified, and one
  // committed before is in this epoch.
  read(static_cast<std::uint64_t>(connection.run(kSelectEpoch).integer(0, 0)), true);
  connections_.fetch_add(1);
  {
    std::lock_guard lock(mutex_);
    listening_.store(true, std::memory_order_release);
  }
  changed_.notify_all();
  auto next_heartbeat = std::chrono::steady_clock::now() + kHeartbeat;
  for (;;) {
    pollfd fds[2] = {{PQsocket(connection.handle()), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_heartbeat - std::chrono::steady_clock::now());
    const int ready = ::poll(fds, 2, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
    if ((fds[1].revents & POLLIN) != 0) {
      return;
    }
    if (ready > 0 && (fds[0].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      if (PQconsumeInput(connection.handle()) == 0) {
        return;  // lost
      }
    }
    drainNotifications(connection);
    if (PQstatus(connection.handle()) != CONNECTION_OK) {
      return;
    }
    if (std::chrono::steady_clock::now() >= next_heartbeat) {
      // Proves the connection alive (a silent peer is found within a call's timeout) and
      // bounds what a lost notification could cost to one heartbeat.
      read(static_cast<std::uint64_t>(connection.run(kSelectEpoch).integer(0, 0)), false);
      next_heartbeat = std::chrono::steady_clock::now() + kHeartbeat;
      // Notifications that arrived while the heartbeat ran were read off the socket with its
      // answer: the next poll() would not wake for them.
      drainNotifications(connection);
    }
  }
}

}  // namespace api
