#include "store/shared/shared_window_store.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include "store/private_file.hpp"
#include "store/store_error.hpp"

namespace api {
namespace {

constexpr std::uint64_t kMagic = 0x31304E4957505053ULL;  // "SPPWIN01", little-endian
constexpr std::uint32_t kVersion = 3;
constexpr std::int64_t kPage = 4096;
constexpr std::uint32_t kLockReady = 0x4B434F4CU;  // "LOCK": the slot's mutex is initialised
constexpr std::uint64_t kEmpty = 0;                // a slot never used: ends every probe
constexpr std::uint64_t kTombstone = 1;            // a slot freed: probes go on past it
constexpr std::int64_t kProbes = 32;               // slots a key may be placed in
constexpr std::size_t kMaxKeyId = 48;  // longer key ids are decided on the durable store

// What a slot's change record asks of the next locker when its writer died mid-change.
constexpr std::uint32_t kUndoNone = 0;
constexpr std::uint32_t kUndoEntry = 1;  // put entry undo_pos back to (undo_index, undo_count)
constexpr std::uint32_t kRedoClear = 2;  // finish clearing the slot's counts (a reset)

struct Entry {
  std::int64_t index;  // sub-window number: start / S
  std::int64_t count;  // 0: the entry is free
};

// The file's first page. What a process reads without a lock goes through shared().
struct FileHeader {
  std::uint64_t magic;
  std::uint32_t version;
  std::uint32_t header_size;
  std::int64_t slots;
  std::int64_t sub_windows;
  std::int64_t sub_ms;
  std::int64_t entries;  // per slot
  std::int64_t slot_size;
  std::int64_t file_size;
  char boot_id[48];       // the boot it was made in: a mutex or a page from before a reboot is not
                          // trusted
  std::uint32_t retired;  // replaced by a new file: reopen the path
  std::uint32_t unused;
  std::int64_t in_use;
  std::int64_t fallbacks;
  std::int64_t spills;
  alignas(64) pthread_mutex_t claim_lock;  // giving keys slots, freeing them, fallbacks
  alignas(64) pthread_mutex_t sync_lock;   // writing back, resets
};
static_assert(sizeof(FileHeader) <= kPage);
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::int64_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free);

// A word of the mapping that processes read and write without a lock: atomic through
// std::atomic_ref (lock-free, hence address-free: it works through two processes' mappings),
// the memory itself plain integers, as the file holds them.
template <class T>
std::atomic_ref<T> shared(T& word) {
  return std::atomic_ref<T>(word);
}

std::int64_t floorDiv(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}
std::int64_t roundUp(std::int64_t value, std::int64_t to) {
  return (value + to - 1) / to * to;
}
std::int64_t ms(TimePoint t) {
  return t.time_since_epoch().count();
}

// Never kEmpty or kTombstone.
std::uint64_t hashKey(std::string_view id) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a, then a finaliser to spread the bits
  for (const char c : id) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h | (std::uint64_t{1} << 63);
}

const std::string& bootId() {
  static const std::string id = [] {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string line;
    std::getline(in, line);
    return line.substr(0, 47);
  }();
  return id;
}

// Stores issued before this point are in the shared page before those after it, as a process
// killed at any instruction leaves them (the next locker's acquire orders the reads).
void ordered() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

[[noreturn]] void fail(const std::string& path, const std::string& what, bool transient = false) {
  throw StoreError("rate-limit segment '" + path + "': " + what, transient);
}

// A process-shared mutex that tells the next locker when its owner died. Throws StoreError
// when the C library cannot make one (a mutex that never reports a dead owner would wedge
// every process after the first crash).
void initRobust(pthread_mutex_t* mutex, const std::string& path) {
  pthread_mutexattr_t attr;
  int rc = pthread_mutexattr_init(&attr);
  if (rc == 0) {
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) {
      rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    }
    if (rc == 0) {
      rc = pthread_mutex_init(mutex, &attr);
    }
    pthread_mutexattr_destroy(&attr);
  }
  if (rc != 0) {
    throw StoreError("rate-limit segment '" + path +
                     "': cannot make a robust process-shared mutex: " + std::strerror(rc));
  }
}

constexpr int kSpins = 200;
void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Locks; returns true when the previous owner died holding it (the caller repairs what it
// guards, then marks it consistent).
bool lockRobust(pthread_mutex_t* mutex, const std::string& path) {
  // A slot is held for a few hundred nanoseconds: spinning that long costs less than the
  // futex sleep and wake-up a contended pthread_mutex_lock makes (glibc's robust mutexes do
  // not spin on their own).
  int rc = EBUSY;
  for (int spin = 0; spin < kSpins && rc == EBUSY; ++spin) {
    rc = pthread_mutex_trylock(mutex);
    if (rc == EBUSY) {
      cpuRelax();
    }
  }
  if (rc == EBUSY) {
    rc = pthread_mutex_lock(mutex);
  }
  if (rc == 0) {
    return false;
  }
  if (rc == EOWNERDEAD) {
    return true;
  }
  fail(path, std::string("cannot take a lock: ") + std::strerror(rc) +
                 "; stop every process using it and delete the file to rebuild it");
}

// A header-level lock (claim or sync): what it guards is repaired by the slot locks.
class HeaderLock {
 public:
  HeaderLock(pthread_mutex_t* mutex, const std::string& path) : mutex_(mutex) {
    if (lockRobust(mutex_, path)) {
      pthread_mutex_consistent(mutex_);
    }
  }
  ~HeaderLock() { pthread_mutex_unlock(mutex_); }
  HeaderLock(const HeaderLock&) = delete;
  HeaderLock& operator=(const HeaderLock&) = delete;

 private:
  pthread_mutex_t* mutex_;
};

struct Layout {
  std::int64_t slots = 0;
  std::int64_t sub_windows = 0;
  std::int64_t sub_ms = 0;
  std::int64_t entries = 0;
  std::int64_t slot_size = 0;
  std::int64_t slots_offset = 0;
  std::int64_t file_size = 0;
};

}  // namespace

struct SharedWindowStore::Slot {
  pthread_mutex_t lock;
  std::uint32_t lock_ready;
  std::uint32_t key_length;
  char key[kMaxKeyId];
  std::int64_t limit;     // the key's limit at its last check, written back with the counts
  std::uint32_t dirty;    // counts changed since the last write-back
  std::uint32_t spilled;  // counts outgrew the slot: the key is decided on the durable store
  std::uint32_t undo_op;  // see kUndoNone
  std::uint32_t undo_pos;
  std::int64_t undo_index;
  std::int64_t undo_count;
  std::int64_t max_index;  // no entry holds a later sub-window (kNoIndex: none is held)
  std::uint64_t changes;   // moved by every change to the counts (see syncSlots)

  // Entry i holds a sub-window whose index is i modulo the entry count, so a check finds its
  // own at once and reads only the window's; occupiedBits() says which hold requests (count != 0,
  // kept in step with them: a check tests N bits, not N entries).
  Entry* entries();
  std::uint64_t* occupiedBits(std::int64_t entries_per_slot) {
    return reinterpret_cast<std::uint64_t*>(this->entries() + entries_per_slot);
  }
  // Entries changed since they were last written back: a write-back writes only those.
  std::uint64_t* dirtyBits(std::int64_t entries_per_slot) {
    return occupiedBits(entries_per_slot) + (entries_per_slot + 63) / 64;
  }
  bool holds(std::string_view id) const {
    return key_length == id.size() && std::memcmp(key, id.data(), id.size()) == 0;
  }
};

namespace {
// Where a slot's entries start: after its fields, 16-byte aligned whatever the platform's
// pthread_mutex_t (40 bytes on x86_64, 48 on aarch64).
constexpr std::int64_t kSlotHead = (sizeof(SharedWindowStore::Slot) + 15) / 16 * 16;
}  // namespace

Entry* SharedWindowStore::Slot::entries() {
  return reinterpret_cast<Entry*>(reinterpret_cast<char*>(this) + kSlotHead);
}

struct SharedWindowStore::Segment {
  std::string path;
  int fd = -1;
  void* map = nullptr;
  Layout layout;
  FileHeader* header = nullptr;
  std::uint64_t* tags = nullptr;  // one per slot, through shared()
  char* slot_base = nullptr;
  const std::function<void()>* mid_update = nullptr;

  ~Segment() {
    if (map != nullptr) {
      ::munmap(map, static_cast<size_t>(layout.file_size));
    }
    if (fd >= 0) {
      ::close(fd);
    }
  }
  Slot& slot(std::int64_t i) { return *reinterpret_cast<Slot*>(slot_base + i * layout.slot_size); }
  std::int64_t probe(std::uint64_t hash, std::int64_t i) const {
    return static_cast<std::int64_t>((hash + static_cast<std::uint64_t>(i)) %
                                     static_cast<std::uint64_t>(layout.slots));
  }
};

namespace {

using Slot = SharedWindowStore::Slot;
constexpr std::int64_t kNoIndex = std::numeric_limits<std::int64_t>::min();

std::int64_t floorMod(std::int64_t a, std::int64_t b) {
  return a - floorDiv(a, b) * b;
}
bool isOccupied(const std::uint64_t* bits, std::int64_t at) {
  return (bits[at / 64] >> (at % 64) & 1U) != 0;
}

// Rebuilds what is derived from the entries (the occupied bits, max_index), after a repair or
// a load. With `all_dirty` (a repair: what changed is not known) every held entry is written
// back at the next sync.
void reindex(Slot& slot, std::int64_t entries, bool all_dirty) {
  std::uint64_t* bits = slot.occupiedBits(entries);
  std::fill_n(bits, (entries + 63) / 64, 0);
  std::uint64_t* dirty = slot.dirtyBits(entries);
  if (all_dirty) {
    std::fill_n(dirty, (entries + 63) / 64, 0);
  }
  slot.max_index = kNoIndex;
  const Entry* e = slot.entries();
  for (std::int64_t i = 0; i < entries; ++i) {
    if (e[i].count != 0) {
      bits[i / 64] |= std::uint64_t{1} << (i % 64);
      if (all_dirty) {
        dirty[i / 64] |= std::uint64_t{1} << (i % 64);
      }
      slot.max_index = std::max(slot.max_index, e[i].index);
    }
  }
}

void clearEntries(Slot& slot, std::int64_t entries) {
  std::fill_n(slot.entries(), entries, Entry{0, 0});
  std::fill_n(slot.occupiedBits(entries), 2 * ((entries + 63) / 64), 0);  // and dirtyBits
  slot.max_index = kNoIndex;
}

// Appends the slot's sub-windows with index in [first, last] to `counts`, ascending. `now_index`
// is the current sub-window: unless a later one is held (after a clock step back), only
// first .. now_index are looked at, by their bits.
void readEntries(Slot& slot, std::int64_t entries, std::int64_t sub_ms, std::int64_t now_index,
                 std::int64_t first, std::int64_t last, std::vector<WindowStore::Count>& counts) {
  const Entry* e = slot.entries();
  const std::uint64_t* bits = slot.occupiedBits(entries);
  const std::int64_t until = std::min(last, std::max(now_index, slot.max_index));
  if (until - first < entries) {
    for (std::int64_t index = first; index <= until; ++index) {
      const std::int64_t at = floorMod(index, entries);
      if (isOccupied(bits, at) && e[at].index == index) {
        counts.push_back({index * sub_ms, e[at].count});
      }
    }
    return;
  }
  const size_t from = counts.size();
  for (std::int64_t at = 0; at < entries; ++at) {
    if (isOccupied(bits, at) && e[at].index >= first && e[at].index <= last) {
      counts.push_back({e[at].index * sub_ms, e[at].count});
    }
  }
  std::sort(counts.begin() + static_cast<std::ptrdiff_t>(from), counts.end(),
            [](const WindowStore::Count& a, const WindowStore::Count& b) {
              return a.start_ms < b.start_ms;
            });
}

Layout layoutFor(std::int64_t slots, WindowShape shape) {
  Layout l;
  l.slots = slots;
  l.sub_windows = shape.sub_windows;
  l.sub_ms = shape.subWindowMs();
  // Room for the window's N sub-windows and as many again that a clock stepped back leaves
  // ahead of it, and never fewer than 64.
  l.entries = std::max<std::int64_t>(2 * shape.sub_windows, 64);
  l.slot_size = roundUp(kSlotHead + l.entries * static_cast<std::int64_t>(sizeof(Entry)) +
                            2 * ((l.entries + 63) / 64 * 8),  // occupied and dirty bits
                        64);
  l.slots_offset = roundUp(kPage + slots * 8, kPage);
  l.file_size = l.slots_offset + slots * l.slot_size;
  return l;
}

// Why the mapped header does not describe `want`, and whether processes of another build or
// configuration may be using it (`foreign`); empty when it describes `want`.
struct Mismatch {
  std::string why;
  bool foreign = false;
};
Mismatch mismatch(FileHeader& h, const Layout& want, std::int64_t size) {
  if (h.magic != kMagic) {
    return {"it is not a rate-limit segment (or its making was cut short)"};
  }
  if (h.version != kVersion || h.header_size != sizeof(FileHeader)) {
    return {"its layout version is " + std::to_string(h.version) + ", this build uses " +
                std::to_string(kVersion),
            true};
  }
  if (shared(h.retired).load() != 0) {
    return {"it was replaced, but its replacement never took its place"};
  }
  if (h.sub_windows != want.sub_windows || h.sub_ms != want.sub_ms) {
    return {"it counts " + std::to_string(h.sub_windows) + " sub-windows of " +
                std::to_string(h.sub_ms) + " ms, this configuration " +
                std::to_string(want.sub_windows) + " of " + std::to_string(want.sub_ms) + " ms",
            true};
  }
  if (h.slots != want.slots) {
    return {"it has " + std::to_string(h.slots) + " slots, rateLimitSlots is " +
                std::to_string(want.slots),
            true};
  }
  if (h.entries != want.entries || h.slot_size != want.slot_size || h.file_size != want.file_size ||
      size != want.file_size) {
    return {"it is " + std::to_string(size) + " bytes, its layout needs " +
            std::to_string(want.file_size) + " (truncated or damaged)"};
  }
  if (std::string(h.boot_id, strnlen(h.boot_id, sizeof(h.boot_id))) != bootId()) {
    return {"it was written before this machine booted (its locks and pages cannot be trusted)"};
  }
  return {};
}

// Open-file-description locks on single bytes of the file (not on its contents: they are
// advisory): kOpening is held exclusively by the one process checking, making or replacing
// the file; kMapped shared by every process that maps it, for as long as it does, so that one
// configured differently can tell whether anyone still uses it. They go with the descriptor.
constexpr off_t kOpeningByte = 0;
constexpr off_t kMappedByte = 1;
bool lockByte(int fd, off_t byte, short type, bool wait) {
  struct flock lock {};
  lock.l_type = type;
  lock.l_whence = SEEK_SET;
  lock.l_start = byte;
  lock.l_len = 1;
  while (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &lock) != 0) {
    if (errno != EINTR) {
      return false;
    }
  }
  return true;
}

// Writes `length` zero bytes at `offset`, allocating their blocks. False (errno set) when it
// could not.
bool writeZeros(int fd, std::int64_t offset, std::int64_t length) {
  static const std::array<char, kPage> zeros{};
  while (length > 0) {
    const auto chunk = static_cast<size_t>(std::min<std::int64_t>(length, kPage));
    const ssize_t n = ::pwrite(fd, zeros.data(), chunk, offset);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n == 0) {
        errno = ENOSPC;
      }
      return false;
    }
    offset += n;
    length -= n;
  }
  return true;
}

// Sizes a new, empty file and writes its header; the magic last, so that a maker killed
// half-way leaves a file the next opener rebuilds.
void initialise(int fd, const Layout& l, const std::string& path) {
  if (::ftruncate(fd, l.file_size) != 0) {
    fail(path, std::string("cannot size it: ") + std::strerror(errno), true);
  }
  // The header's block now, not as SIGBUS on a full disk later; written, not fallocate()d:
  // the first store through the mapping into an allocated but unwritten block waits on the
  // file system's journal (milliseconds on ext4). A slot's blocks, and its tag's, are
  // written when a key is given it (reading a hole needs no block).
  if (!writeZeros(fd, 0, kPage)) {
    fail(path, std::string("cannot allocate its header: ") + std::strerror(errno), true);
  }
  void* map = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    fail(path, std::string("cannot map it: ") + std::strerror(errno), true);
  }
  auto* h = static_cast<FileHeader*>(map);
  h->version = kVersion;
  h->header_size = sizeof(FileHeader);
  h->slots = l.slots;
  h->sub_windows = l.sub_windows;
  h->sub_ms = l.sub_ms;
  h->entries = l.entries;
  h->slot_size = l.slot_size;
  h->file_size = l.file_size;
  std::memset(h->boot_id, 0, sizeof(h->boot_id));
  std::memcpy(h->boot_id, bootId().data(), std::min(bootId().size(), sizeof(h->boot_id) - 1));
  shared(h->retired).store(0);
  shared(h->in_use).store(0);
  shared(h->fallbacks).store(0);
  shared(h->spills).store(0);
  initRobust(&h->claim_lock, path);
  initRobust(&h->sync_lock, path);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  h->magic = kMagic;
  ::munmap(map, kPage);
}

// Opens the segment at `path` for `want`, making or replacing the file as needed.
std::unique_ptr<SharedWindowStore::Segment> openSegment(
    const std::string& path, const Layout& want,
    const std::function<void(const std::string&)>& warn) {
  if (bootId().empty()) {
    fail(path,
         "cannot read /proc/sys/kernel/random/boot_id, without which locks left by a "
         "previous boot cannot be told apart; use rateLimitStore: database");
  }
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      fail(path, std::string("cannot open it: ") + std::strerror(errno) +
                     (errno == ELOOP ? " (it is a symbolic link)" : ""));
    }
    auto segment = std::make_unique<SharedWindowStore::Segment>();
    segment->path = path;
    segment->fd = fd;  // closed (and its locks released) with the segment
    checkPrivateFile(fd, path, "rate-limit segment");
    if (!lockByte(fd, kOpeningByte, F_WRLCK, true)) {
      fail(path, std::string("cannot lock it: ") + std::strerror(errno), true);
    }
    struct stat st {};
    struct stat at_path {};
    if (::fstat(fd, &st) != 0) {
      fail(path, std::string("cannot check it: ") + std::strerror(errno));
    }
    if (::stat(path.c_str(), &at_path) != 0 || at_path.st_ino != st.st_ino ||
        at_path.st_dev != st.st_dev) {
      continue;  // replaced while this process waited for the lock: open the new one
    }
    Mismatch problem;
    FileHeader* h = nullptr;  // the header as found, when the file has one
    if (st.st_size == 0) {
      initialise(fd, want, path);  // new: made in place, under the lock
    } else if (st.st_size < kPage) {
      problem.why = "it is " + std::to_string(st.st_size) + " bytes, too short for its header";
    } else {
      void* head = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (head == MAP_FAILED) {
        fail(path, std::string("cannot map it: ") + std::strerror(errno), true);
      }
      h = static_cast<FileHeader*>(head);
      problem = mismatch(*h, want, st.st_size);
    }
    struct HeadUnmap {
      FileHeader* h;
      ~HeadUnmap() {
        if (h != nullptr) {
          ::munmap(h, kPage);
        }
      }
    } unmap_head{h};
    if (!problem.why.empty()) {
      // Made by another build or configuration: replaced only when no process maps it any
      // more. Two live sets of processes configured apart would otherwise replace each
      // other's file at every call, losing counts each time.
      if (problem.foreign) {
        if (!lockByte(fd, kMappedByte, F_WRLCK, false)) {
          fail(path, "refusing to replace it: " + problem.why +
                         ", and processes still use it; give every process the same "
                         "rateLimitWindowSize, rateLimitSubWindows and rateLimitSlots (and "
                         "build), or stop them first");
        }
        lockByte(fd, kMappedByte, F_UNLCK, false);
      }
      // A new file made aside and renamed over this one, which is marked retired first, so
      // that the processes mapping it move to the new one (and an opener killed before the
      // rename leaves it to be replaced again).
      const std::string fresh = path + ".new." + std::to_string(::getpid());
      ::unlink(fresh.c_str());
      const int new_fd =
          ::open(fresh.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (new_fd < 0) {
        fail(path, "cannot make its replacement '" + fresh + "': " + std::strerror(errno));
      }
      try {
        initialise(new_fd, want, fresh);
      } catch (...) {
        ::close(new_fd);
        ::unlink(fresh.c_str());
        throw;
      }
      ::close(new_fd);
      if (h != nullptr && h->magic == kMagic && h->header_size == sizeof(FileHeader)) {
        shared(h->retired).store(1);
      }
      if (::rename(fresh.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(fresh.c_str());
        fail(path, std::string("cannot replace it: ") + std::strerror(err));
      }
      if (warn) {
        warn("rate-limit segment '" + path + "' replaced by an empty one: " + problem.why +
             "; counts written back to the database are kept, later ones are lost");
      }
      continue;  // open the file now at the path
    }
    void* map = ::mmap(nullptr, static_cast<size_t>(want.file_size), PROT_READ | PROT_WRITE,
                       MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
      fail(path, std::string("cannot map it: ") + std::strerror(errno), true);
    }
    segment->map = map;
    segment->layout = want;
    segment->header = static_cast<FileHeader*>(map);
    segment->tags = reinterpret_cast<std::uint64_t*>(static_cast<char*>(map) + kPage);
    segment->slot_base = static_cast<char*>(map) + want.slots_offset;
    // Held until the segment is closed; nobody can hold kMapped exclusively now, since only an
    // opener holding kOpening tries to.
    if (!lockByte(fd, kMappedByte, F_RDLCK, false)) {
      fail(path, std::string("cannot lock it: ") + std::strerror(errno), true);
    }
    lockByte(fd, kOpeningByte, F_UNLCK, false);
    return segment;
  }
  fail(path, "it kept being replaced while opening it", true);
}

}  // namespace

// A slot's lock, held; a slot whose holder died is repaired as it is taken.
class SharedWindowStore::SlotLock {
 public:
  SlotLock() = default;
  ~SlotLock() { release(); }
  SlotLock(const SlotLock&) = delete;
  SlotLock& operator=(const SlotLock&) = delete;

  void take(Segment& segment, Slot& slot) {
    if (lockRobust(&slot.lock, segment.path)) {
      repair(slot, segment.layout.entries);
      pthread_mutex_consistent(&slot.lock);
    }
    slot_ = &slot;
  }
  void release() {
    if (slot_ != nullptr) {
      pthread_mutex_unlock(&slot_->lock);
      slot_ = nullptr;
    }
  }
  Slot& slot() { return *slot_; }

 private:
  // The holder died mid-change: a count is rolled back (its caller never had the answer), a
  // reset is finished. Either way the slot is written back at the next sync.
  static void repair(Slot& slot, std::int64_t entries) {
    if (slot.undo_op == kUndoEntry && static_cast<std::int64_t>(slot.undo_pos) < entries) {
      slot.entries()[slot.undo_pos] = {slot.undo_index, slot.undo_count};
    } else if (slot.undo_op == kRedoClear) {
      std::fill_n(slot.entries(), entries, Entry{0, 0});
      slot.spilled = 0;
    }
    reindex(slot, entries, true);
    ++slot.changes;
    slot.undo_op = kUndoNone;
    slot.dirty = 1;
  }

  Slot* slot_ = nullptr;
};

SharedWindowStore::SharedWindowStore(Options options, WindowStore& durable)
    : options_(std::move(options)), durable_(durable) {
  auto segment =
      openSegment(options_.path, layoutFor(options_.slots, options_.shape), options_.warn);
  segment->mid_update = &options_.mid_update;
  current_.store(segment.get());
  segments_.push_back(std::move(segment));
}

SharedWindowStore::~SharedWindowStore() = default;

SharedWindowStore::Segment& SharedWindowStore::segment() {
  Segment* current = current_.load(std::memory_order_acquire);
  if (shared(current->header->retired).load(std::memory_order_relaxed) == 0) {
    return *current;
  }
  // Replaced by another process: map the new file. The old mapping stays until destruction,
  // since another thread may still be inside a call on it.
  std::lock_guard lock(remap_mutex_);
  current = current_.load();
  if (shared(current->header->retired).load() != 0) {
    auto fresh =
        openSegment(options_.path, layoutFor(options_.slots, options_.shape), options_.warn);
    fresh->mid_update = &options_.mid_update;
    current = fresh.get();
    segments_.push_back(std::move(fresh));
    current_.store(current, std::memory_order_release);
  }
  return *current;
}

namespace {

constexpr std::int64_t kNoSlot = -1;     // no slot, or no entry
constexpr size_t kWriteBackRows = 4096;  // rows per write-back transaction, about

}  // namespace

std::int64_t SharedWindowStore::lockSlotOf(Segment& seg, std::string_view key_id,
                                           std::uint64_t hash, SlotLock& lock) {
  for (std::int64_t i = 0; i < std::min(kProbes, seg.layout.slots); ++i) {
    const std::int64_t at = seg.probe(hash, i);
    const std::uint64_t tag = shared(seg.tags[at]).load(std::memory_order_acquire);
    if (tag == kEmpty) {
      return kNoSlot;  // probes end at a slot never used
    }
    if (tag == hash) {
      Slot& slot = seg.slot(at);
      lock.take(seg, slot);
      // Checked again under the lock: the slot may have been freed or given to another key.
      if (shared(seg.tags[at]).load(std::memory_order_relaxed) == hash && slot.holds(key_id)) {
        return at;
      }
      lock.release();
    }
  }
  return kNoSlot;
}

bool SharedWindowStore::consume(const Request& request, const Clock& clock, Decider& decider,
                                Read& read) {
  Segment& seg = segment();
  const Layout& layout = seg.layout;
  if (request.sub_window_ms != layout.sub_ms) {
    fail(seg.path, "a check of sub-windows of " + std::to_string(request.sub_window_ms) +
                       " ms, the segment counts " + std::to_string(layout.sub_ms) + " ms");
  }
  const std::string_view key_id = request.key_id;
  const std::uint64_t hash = hashKey(key_id);
  SlotLock lock;
  if (lockSlotOf(seg, key_id, hash, lock) == kNoSlot) {
    HeaderLock claim(&seg.header->claim_lock, seg.path);
    if (lockSlotOf(seg, key_id, hash, lock) == kNoSlot) {
      // Give the key the first free slot on its probe path, loaded from the durable store.
      std::int64_t free_at = kNoSlot;
      for (std::int64_t i = 0; i < std::min(kProbes, layout.slots) && key_id.size() <= kMaxKeyId;
           ++i) {
        const std::int64_t at = seg.probe(hash, i);
        const std::uint64_t tag = shared(seg.tags[at]).load();
        if (tag == kEmpty || tag == kTombstone) {
          free_at = at;
          break;
        }
      }
      // Its blocks and its tag's now, written (see writeZeros): a store into a hole of the
      // file on a full disk would be SIGBUS. Only a slot never used, and a tag still empty,
      // are written over (with the zeros they hold): a freed slot keeps its blocks, and its
      // mutex, which a prober may be waiting on. Claims are serialised by the claim lock.
      if (free_at != kNoSlot && seg.slot(free_at).lock_ready != kLockReady &&
          (!writeZeros(seg.fd, layout.slots_offset + free_at * layout.slot_size,
                       layout.slot_size) ||
           (shared(seg.tags[free_at]).load() == kEmpty &&
            !writeZeros(seg.fd, kPage + free_at * 8, 8)))) {
        free_at = kNoSlot;
      }
      if (free_at == kNoSlot) {
        // Decided on the durable store, with the claim lock held so that no process gives the
        // key a slot meanwhile.
        shared(seg.header->fallbacks).fetch_add(1);
        return durable_.consume(request, clock, decider, read);
      }
      Slot& slot = seg.slot(free_at);
      if (slot.lock_ready != kLockReady) {  // never used: nobody else can be locking it
        initRobust(&slot.lock, seg.path);
        ordered();
        slot.lock_ready = kLockReady;
      }
      lock.take(seg, slot);
      slot.undo_op = kUndoNone;
      slot.dirty = 0;
      slot.spilled = 0;
      slot.limit = request.limit;
      clearEntries(slot, layout.entries);
      // Whatever the durable store counted for the key (before a restart, or on its path).
      class Loader final : public Decider {
       public:
        explicit Loader(const Layout& l) : layout_(l) {}
        Plan plan(TimePoint now) override {
          const std::int64_t first = (floorDiv(ms(now), layout_.sub_ms) - layout_.sub_windows + 1);
          return {first * layout_.sub_ms, std::numeric_limits<std::int64_t>::max(), 0};
        }
        bool admit(const Read& /*read*/) override { return false; }

       private:
        const Layout& layout_;
      } loader(layout);
      Read stored;  // a new key's first check: allocating here is fine
      durable_.peek(key_id, clock, loader, stored);
      for (const Count& c : stored.counts) {
        const std::int64_t index = floorDiv(c.start_ms, layout.sub_ms);
        Entry& e = slot.entries()[floorMod(index, layout.entries)];
        if (e.count != 0 && e.index != index) {
          slot.spilled = 1;  // two sub-windows for one entry: the key stays on the durable store
          break;
        }
        e.index = index;
        e.count += c.count;
      }
      reindex(slot, layout.entries, false);  // the durable store holds all of it
      std::memcpy(slot.key, key_id.data(), key_id.size());
      slot.key_length = static_cast<std::uint32_t>(key_id.size());
      ordered();
      shared(seg.tags[free_at]).store(hash, std::memory_order_release);
      shared(seg.header->in_use).fetch_add(1);
      if (slot.spilled != 0) {
        shared(seg.header->spills).fetch_add(1);
      }
    }
  }
  Slot& slot = lock.slot();
  if (slot.spilled != 0) {
    return durable_.consume(request, clock, decider, read);  // under the slot's lock
  }
  const TimePoint now = clock.now();  // only now that the key's lock is held
  const std::int64_t now_index = floorDiv(ms(now), layout.sub_ms);
  // A request admitted now counts in the entry of its sub-window: free, already its own, or
  // holding one that ended a whole window ago (dropped, as a cleanup would).
  Entry* entries = slot.entries();
  std::uint64_t* bits = slot.occupiedBits(layout.entries);
  const std::int64_t target = floorMod(now_index, layout.entries);
  const std::int64_t ended_before =
      floorDiv(ms(now) - layout.sub_windows * layout.sub_ms, layout.sub_ms);
  const Entry held = entries[target];
  if (isOccupied(bits, target) && held.index != now_index && held.index + 1 > ended_before) {
    // It holds a sub-window that can still count (the clock stepped back two windows or
    // more): the counts go to the durable store, and the key is decided there until the slot
    // is freed.
    KeyCounts all{std::string(key_id), layout.sub_ms, slot.limit, {}};
    for (std::int64_t i = 0; i < layout.entries; ++i) {
      if (isOccupied(bits, i)) {
        all.counts.push_back({entries[i].index * layout.sub_ms, entries[i].count});
      }
    }
    durable_.write({all});
    slot.spilled = 1;
    slot.dirty = 0;
    shared(seg.header->spills).fetch_add(1);
    return durable_.consume(request, clock, decider, read);
  }
  const Plan plan = decider.plan(now);
  read.now = now;
  read.counts.clear();
  readEntries(slot, layout.entries, layout.sub_ms, now_index,
              floorDiv(plan.range_first_ms, layout.sub_ms),
              floorDiv(plan.range_last_ms, layout.sub_ms), read.counts);
  const bool admit = decider.admit(read);
  if (admit) {
    if (floorDiv(plan.consume_start_ms, layout.sub_ms) != now_index) {
      fail(seg.path, "a check planned to count outside the sub-window of its time");
    }
    const bool own = isOccupied(bits, target) && held.index == now_index;
    slot.undo_pos = static_cast<std::uint32_t>(target);
    slot.undo_index = held.index;
    slot.undo_count = isOccupied(bits, target) ? held.count : 0;
    ordered();
    slot.undo_op = kUndoEntry;
    ordered();
    Entry& e = entries[target];
    e.index = now_index;
    ordered();
    e.count = own ? held.count + request.cost : request.cost;
    bits[target / 64] |= std::uint64_t{1} << (target % 64);
    slot.dirtyBits(layout.entries)[target / 64] |= std::uint64_t{1} << (target % 64);
    slot.max_index = std::max(slot.max_index, now_index);
    ++slot.changes;
    slot.limit = request.limit;
    slot.dirty = 1;
    if (!counted_.load(std::memory_order_relaxed)) {
      counted_.store(true, std::memory_order_relaxed);
    }
    ordered();
    if (*seg.mid_update) {
      (*seg.mid_update)();  // a count cut short here is rolled back by the next locker
    }
    slot.undo_op = kUndoNone;
  }
  return admit;
}

void SharedWindowStore::peek(std::string_view key_id, const Clock& clock, Decider& decider,
                             Read& read) {
  Segment& seg = segment();
  const Layout& layout = seg.layout;
  const std::uint64_t hash = hashKey(key_id);
  SlotLock lock;
  if (lockSlotOf(seg, key_id, hash, lock) == kNoSlot || lock.slot().spilled != 0) {
    durable_.peek(key_id, clock, decider, read);  // its counts are there
    return;
  }
  const TimePoint now = clock.now();
  const Plan plan = decider.plan(now);
  read.now = now;
  read.counts.clear();
  readEntries(lock.slot(), layout.entries, layout.sub_ms, floorDiv(ms(now), layout.sub_ms),
              floorDiv(plan.range_first_ms, layout.sub_ms),
              floorDiv(plan.range_last_ms, layout.sub_ms), read.counts);
}

std::int64_t SharedWindowStore::reset(std::string_view key_id) {
  return clearKey(key_id, false, [&] { return durable_.reset(key_id); });
}

std::int64_t SharedWindowStore::forget(std::string_view key_id) {
  return clearKey(key_id, true, [&] { return durable_.forget(key_id); });
}

std::int64_t SharedWindowStore::clearKey(std::string_view key_id, bool free_slot,
                                         const std::function<std::int64_t()>& durable_change) {
  Segment& seg = segment();
  const Layout& layout = seg.layout;
  const std::uint64_t hash = hashKey(key_id);
  // No write-back and no claim may run meanwhile: either could bring the counts back.
  HeaderLock sync(&seg.header->sync_lock, seg.path);
  HeaderLock claim(&seg.header->claim_lock, seg.path);
  SlotLock lock;  // when the key has a slot, its checks wait until the end
  const std::int64_t at = lockSlotOf(seg, key_id, hash, lock);
  std::int64_t in_slot = 0;
  bool spilled = false;
  // The durable store first: when it fails, nothing has changed.
  const std::int64_t in_store = durable_change();
  if (at != kNoSlot) {
    Slot& slot = lock.slot();
    spilled = slot.spilled != 0;
    const Entry* entries = slot.entries();
    for (std::int64_t i = 0; i < layout.entries; ++i) {
      if (entries[i].count != 0) {
        in_slot += free_slot ? 1 : entries[i].count;
      }
    }
    slot.undo_op = kRedoClear;
    ordered();
    if (*seg.mid_update) {
      (*seg.mid_update)();  // a reset cut short here is finished by the next locker
    }
    clearEntries(slot, layout.entries);
    ++slot.changes;
    slot.spilled = 0;
    slot.dirty = 0;  // the durable store holds none of it either
    ordered();
    slot.undo_op = kUndoNone;
    if (free_slot) {
      shared(seg.tags[at]).store(kTombstone, std::memory_order_release);
      shared(seg.header->in_use).fetch_sub(1);
    }
  }
  // The durable store's rows of a key with a slot are a copy of the slot's (older) counts.
  return at == kNoSlot || spilled ? in_store : (free_slot ? std::max(in_slot, in_store) : in_slot);
}

std::int64_t SharedWindowStore::syncSlots(const TimePoint* cutoff) {
  Segment& seg = segment();
  const Layout& layout = seg.layout;
  HeaderLock sync(&seg.header->sync_lock, seg.path);
  const std::int64_t words = (layout.entries + 63) / 64;
  // A slot's dirty marks are cleared only once what was read of it has committed, and only if
  // it has not changed since: a write-back that fails, or a process killed in the middle of
  // one, leaves them for the next.
  struct Copied {
    std::int64_t at;
    std::uint64_t tag;
    std::uint64_t changes;
  };
  std::vector<KeyCounts> batch;
  std::vector<Copied> copied;
  std::vector<std::pair<std::int64_t, std::uint64_t>> idle;
  for (std::int64_t at = 0; at < layout.slots; ++at) {
    const std::uint64_t tag = shared(seg.tags[at]).load(std::memory_order_acquire);
    if (tag == kEmpty || tag == kTombstone) {
      continue;
    }
    SlotLock lock;
    Slot& slot = seg.slot(at);
    lock.take(seg, slot);
    if (shared(seg.tags[at]).load() != tag) {
      continue;
    }
    const Entry* entries = slot.entries();
    if (slot.dirty != 0 && slot.spilled == 0) {
      // Only the entries changed since the last write-back: the others are there already.
      const std::uint64_t* dirty = slot.dirtyBits(layout.entries);
      KeyCounts key{std::string(slot.key, slot.key_length), layout.sub_ms, slot.limit, {}};
      for (std::int64_t i = 0; i < layout.entries; ++i) {
        if (isOccupied(dirty, i) && entries[i].count != 0) {
          key.counts.push_back({entries[i].index * layout.sub_ms, entries[i].count});
        }
      }
      batch.push_back(std::move(key));
      copied.push_back({at, tag, slot.changes});
    }
    if (cutoff != nullptr) {
      bool ended = true;  // nothing that ends after the cutoff
      for (std::int64_t i = 0; i < layout.entries && ended; ++i) {
        ended = entries[i].count == 0 || (entries[i].index + 1) * layout.sub_ms <= ms(*cutoff);
      }
      if (ended || slot.spilled != 0) {  // a spilled key's counts are all in the store
        idle.emplace_back(at, tag);
      }
    }
  }
  // In transactions of about kWriteBackRows rows, so that no write-back holds the database's
  // write lock for long.
  for (size_t done = 0; done < batch.size();) {
    std::vector<KeyCounts> chunk;
    size_t rows = 0;
    for (size_t next = done; next < batch.size() && rows < kWriteBackRows; ++next) {
      rows += batch[next].counts.size();
      chunk.push_back(batch[next]);
    }
    durable_.write(chunk);  // a failure leaves the rest marked
    for (size_t i = done; i < done + chunk.size(); ++i) {
      SlotLock lock;
      Slot& slot = seg.slot(copied[i].at);
      lock.take(seg, slot);
      if (shared(seg.tags[copied[i].at]).load() == copied[i].tag &&
          slot.changes == copied[i].changes) {
        std::fill_n(slot.dirtyBits(layout.entries), words, 0);
        slot.dirty = 0;
      }
    }
    done += chunk.size();
  }
  if (!idle.empty()) {
    HeaderLock claim(&seg.header->claim_lock, seg.path);
    for (const auto& [at, tag] : idle) {
      SlotLock lock;
      Slot& slot = seg.slot(at);
      lock.take(seg, slot);
      bool ended = slot.spilled != 0 || slot.dirty == 0;
      for (std::int64_t i = 0; i < layout.entries && ended && slot.spilled == 0; ++i) {
        const Entry& e = slot.entries()[i];
        ended = e.count == 0 || (e.index + 1) * layout.sub_ms <= ms(*cutoff);
      }
      if (shared(seg.tags[at]).load() == tag && ended) {
        shared(seg.tags[at]).store(kTombstone, std::memory_order_release);
        shared(seg.header->in_use).fetch_sub(1);
      }
    }
  }
  return static_cast<std::int64_t>(batch.size());
}

std::int64_t SharedWindowStore::sync() {
  return counted_.load(std::memory_order_relaxed) ? syncSlots(nullptr) : 0;
}

std::int64_t SharedWindowStore::deleteEnded(TimePoint cutoff, std::int64_t sub_window_ms) {
  syncSlots(&cutoff);
  return durable_.deleteEnded(cutoff, sub_window_ms);
}

void SharedWindowStore::write(const std::vector<KeyCounts>& keys) {
  syncSlots(nullptr);  // what the slots hold first, so that freeing them below loses nothing
  for (const KeyCounts& key : keys) {
    clearKey(key.key_id, true, [&] {
      durable_.write({key});
      return std::int64_t{0};
    });
  }
}

SharedWindowStore::Stats SharedWindowStore::stats() const noexcept {
  const Segment* seg = current_.load();
  Stats s;
  s.slots = seg->layout.slots;
  s.in_use = shared(seg->header->in_use).load();
  s.fallbacks = shared(seg->header->fallbacks).load();
  s.spills = shared(seg->header->spills).load();
  return s;
}

}  // namespace api
