#include "store/sqlite/wal_index_watch.hpp"

#include <atomic>

namespace api {
namespace {

constexpr int kWalIndexPageSize = 32768;  // the size SQLite maps wal-index regions in
constexpr std::uint32_t kWalIndexVersion = 3007000;
constexpr size_t kHeaderWords = std::tuple_size_v<WalIndexWatch::Header>;

}  // namespace

WalIndexWatch::WalIndexWatch(sqlite3* db) noexcept {
  sqlite3_file* file = nullptr;
  if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK ||
      file == nullptr || file->pMethods == nullptr || file->pMethods->iVersion < 2 ||
      file->pMethods->xShmMap == nullptr) {
    return;
  }
  // Region 0, as already mapped by the connection (bExtend 0: never create or grow it). The
  // region stays at this address until the connection closes its shared memory.
  void volatile* region = nullptr;
  if (file->pMethods->xShmMap(file, 0, kWalIndexPageSize, 0, &region) != SQLITE_OK ||
      region == nullptr) {
    return;
  }
  words_ = static_cast<const volatile std::uint32_t*>(region);
  // A read can catch another process publishing a commit; only a header that never reads
  // clean (another wal-index version) turns the watch off.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (read()) {
      return;
    }
  }
  words_ = nullptr;
}

std::optional<WalIndexWatch::Header> WalIndexWatch::read() const noexcept {
  if (words_ == nullptr) {
    return std::nullopt;
  }
  // As SQLite's readers do: the first copy, a barrier, the second copy (a writer stores the
  // second first and the first last); they agree only when no update was under way.
  Header first{};
  Header second{};
  for (size_t i = 0; i < kHeaderWords; ++i) {
    first[i] = words_[i];
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  for (size_t i = 0; i < kHeaderWords; ++i) {
    second[i] = words_[kHeaderWords + i];
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(first.data());
  const bool initialised = bytes[12] != 0;  // isInit
  if (first != second || first[0] != kWalIndexVersion || !initialised) {
    return std::nullopt;
  }
  return first;
}

}  // namespace api
