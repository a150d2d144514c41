// SqliteCounterStore: api_counters.
#include "store/sqlite/sqlite_stores.hpp"

namespace api {
namespace {

constexpr Query kAddCounter{
    "INSERT INTO api_counters (name, value, updated_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value,"
    " updated_at = excluded.updated_at",
    "adding to a counter"};
constexpr Query kSelectCounters{"SELECT name, value, updated_at FROM api_counters ORDER BY name",
                                "reading counters"};

}  // namespace

SqliteCounterStore::SqliteCounterStore(SqliteConnection& connection)
    : connection_(connection), db_(connection.db()) {}

void SqliteCounterStore::add(const std::vector<std::pair<std::string, std::int64_t>>& deltas,
                             TimePoint now) {
  std::lock_guard lock(connection_.mutex());
  Transaction transaction(db_, "adding to counters");
  Statement add(db_, kAddCounter);
  for (const auto& [name, delta] : deltas) {
    add.bind(1, name).bind(2, delta).bind(3, now.time_since_epoch().count()).run();
  }
  transaction.commit();
}

std::vector<CounterStore::Counter> SqliteCounterStore::all() {
  std::lock_guard lock(connection_.mutex());
  Statement select(db_, kSelectCounters);
  std::vector<Counter> out;
  while (select.step()) {
    out.push_back(Counter{select.columnText(0), select.columnInt(1), select.columnInt(2)});
  }
  return out;
}

}  // namespace api
