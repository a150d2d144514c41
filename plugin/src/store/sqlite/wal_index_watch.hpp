// Watches a SQLite database in WAL mode for commits without a transaction: every commit, by
// any connection of any process, rewrites the wal-index header at the start of the shared
// memory that all connections to the file map (https://www.sqlite.org/walformat.html, "The
// WAL-Index Header"). This reads that header through the connection's own mapping of it
// (the VFS xShmMap method), so a check costs a few loads instead of a read transaction's
// four fcntl() locks, and an in-process cache can stay exact across processes.
#pragma once

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <optional>

namespace api {

class WalIndexWatch {
 public:
  using Header = std::array<std::uint32_t, 12>;  // one 48-byte copy of the header

  // REQUIRED: `db` is open on a file in WAL mode and has read it (so its shared memory is
  // mapped); it outlives this object. When the mapping cannot be had, the watch is off and
  // read() is nullopt.
  explicit WalIndexWatch(sqlite3* db) noexcept;

  // The current header: it differs from any earlier read once something was committed in
  // between. nullopt when the watch is off, or a writer is updating the header right now
  // (treat as "changed"). Thread-safe.
  std::optional<Header> read() const noexcept;

 private:
  const volatile std::uint32_t* words_ = nullptr;  // region 0 of the connection's mapping
};

}  // namespace api
