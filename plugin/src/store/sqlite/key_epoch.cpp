#include "store/sqlite/key_epoch.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>

#include "store/private_file.hpp"
#include "store/store_error.hpp"

namespace api {

// The file's one page. Every field a process reads without the file lock is an atomic that is
// lock-free, hence address-free: it works through two processes' mappings of the same page.
struct KeyEpoch::Shared {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t size;  // sizeof(Shared) of the writer
  std::atomic<std::uint64_t> generation;
  // One word, so that one compare-and-swap sees all three: repairs (high 16 bits: how often
  // changes left by dead processes were cleared), begun (24 bits: changes ever begun,
  // wrapping) and in flight (low 24 bits: begun and not yet ended).
  std::atomic<std::uint64_t> state;
  // No change in flight can still be alive past this time (MonotonicMs): the latest of every
  // change's start plus its process's stale_after.
  std::atomic<std::int64_t> deadline_ms;
};

namespace {

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);

constexpr std::uint64_t kMagic = 0x3148434F50455053ULL;  // "SPEPOCH1", little-endian
constexpr std::uint32_t kVersion = 2;

constexpr std::uint64_t kCountMask = (std::uint64_t{1} << 24) - 1;
std::uint64_t inFlight(std::uint64_t state) {
  return state & kCountMask;
}
std::uint64_t begun(std::uint64_t state) {
  return (state >> 24) & kCountMask;
}
std::uint64_t repairs(std::uint64_t state) {
  return state >> 48;
}
std::uint64_t packState(std::uint64_t repairs, std::uint64_t begun, std::uint64_t in_flight) {
  return (repairs & 0xFFFF) << 48 | (begun & kCountMask) << 24 | (in_flight & kCountMask);
}
constexpr off_t kFileSize = 4096;

std::int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw StoreError("key change epoch '" + path + "': " + what);
}

}  // namespace

KeyEpoch::KeyEpoch(const std::string& path, std::chrono::milliseconds stale_after,
                   MonotonicMs monotonic_ms)
    : stale_after_ms_(stale_after.count()),
      monotonic_ms_(monotonic_ms ? std::move(monotonic_ms) : MonotonicMs(&steadyMs)) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    fail(path, std::string("cannot open it: ") + std::strerror(errno) +
                   (errno == ELOOP ? " (it is a symbolic link)" : ""));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }  // the mapping outlives the descriptor
  } closer{fd};
  checkPrivateFile(fd, path, "key change epoch");
  // Checked and, when needed, rebuilt by one opener at a time.
  if (::flock(fd, LOCK_EX) != 0) {
    fail(path, std::string("cannot lock it: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    fail(path, std::string("cannot check it: ") + std::strerror(errno));
  }
  const bool fresh = st.st_size != kFileSize;
  // Blocks allocated now, not on the first store through the mapping (which would raise
  // SIGBUS on a full disk).
  if (fresh) {
    if (const int rc = ::posix_fallocate(fd, 0, kFileSize); rc != 0) {
      fail(path, std::string("cannot size it: ") + std::strerror(rc));
    }
    if (::ftruncate(fd, kFileSize) != 0) {  // a longer file: to its one page
      fail(path, std::string("cannot size it: ") + std::strerror(errno));
    }
  }
  void* map = ::mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    fail(path, std::string("cannot map it: ") + std::strerror(errno));
  }
  shared_ = static_cast<Shared*>(map);
  if (fresh || shared_->magic != kMagic || shared_->version != kVersion ||
      shared_->size != sizeof(Shared)) {
    // New, truncated, foreign or of another layout: start over from a random generation, so
    // that no token taken from an earlier life of the file can match again.
    std::uint64_t start =
        static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    try {
      std::random_device random;
      start ^= static_cast<std::uint64_t>(random()) << 32 | random();
    } catch (...) {  // no entropy source: the clock alone still differs from any earlier life
    }
    shared_->generation.store(start);
    shared_->state.store(0);
    shared_->deadline_ms.store(0);
    shared_->version = kVersion;
    shared_->size = sizeof(Shared);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    shared_->magic = kMagic;
  }
  ::flock(fd, LOCK_UN);
}

KeyEpoch::~KeyEpoch() {
  if (shared_ != nullptr) {
    ::munmap(shared_, kFileSize);
  }
}

std::optional<std::uint64_t> KeyEpoch::token() const noexcept {
  const std::uint64_t before = shared_->generation.load();
  const std::uint64_t state = shared_->state.load();
  const std::uint64_t after = shared_->generation.load();
  if (inFlight(state) == 0) {
    if (before == after) {
      return before;
    }
    return std::nullopt;
  }
  // Changes in flight past every deadline were left by processes that died inside them:
  // clear them, only if no change began or ended meanwhile (the whole word is compared, so a
  // change begun since cannot be cleared), and move the generation.
  try {
    if (monotonic_ms_() > shared_->deadline_ms.load()) {
      std::uint64_t expected = state;
      if (shared_->state.compare_exchange_strong(expected,
                                                 packState(repairs(state) + 1, begun(state), 0))) {
        shared_->generation.fetch_add(1);
      }
    }
  } catch (...) {  // a clock that throws: stay off
  }
  return std::nullopt;
}

std::uint64_t KeyEpoch::begin() const noexcept {
  // The deadline first: a reader that sees this change in flight must not find it stale.
  try {
    const std::int64_t deadline = monotonic_ms_() + stale_after_ms_;
    std::int64_t seen = shared_->deadline_ms.load();
    while (seen < deadline && !shared_->deadline_ms.compare_exchange_weak(seen, deadline)) {
    }
  } catch (...) {
  }
  std::uint64_t state = shared_->state.load();
  while (!shared_->state.compare_exchange_weak(
      state, packState(repairs(state), begun(state) + 1, inFlight(state) + 1))) {
  }
  shared_->generation.fetch_add(1);
  return repairs(state);
}

void KeyEpoch::end(std::uint64_t repairs_at_begin) const noexcept {
  shared_->generation.fetch_add(1);
  // A change cleared as stale (its process had only stalled) ends late: it must not count
  // down a change begun since, so it counts down only if no repair happened meanwhile.
  std::uint64_t state = shared_->state.load();
  while (repairs(state) == (repairs_at_begin & 0xFFFF) && inFlight(state) > 0 &&
         !shared_->state.compare_exchange_weak(
             state, packState(repairs(state), begun(state), inFlight(state) - 1))) {
  }
}

KeyEpoch::Change::Change(const KeyEpoch& epoch) noexcept
    : epoch_(epoch), repairs_at_begin_(epoch.begin()) {}

KeyEpoch::Change::~Change() {
  epoch_.end(repairs_at_begin_);
}

}  // namespace api
