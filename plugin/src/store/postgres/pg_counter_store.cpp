// PgCounterStore: api_counters.
#include <algorithm>

#include "store/postgres/pg_stores.hpp"

namespace api {
namespace {

constexpr PgQuery kAddCounter{
    "INSERT INTO api_counters (name, value, updated_at) VALUES ($1::text, $2::bigint, $3::bigint)"
    " ON CONFLICT (name) DO UPDATE SET value = api_counters.value + excluded.value,"
    " updated_at = excluded.updated_at",
    "adding to a counter"};
constexpr PgQuery kSelectCounters{"SELECT name, value, updated_at FROM api_counters ORDER BY name",
                                  "reading counters"};

}  // namespace

PgCounterStore::PgCounterStore(PgPool& pool) : pool_(pool) {}

void PgCounterStore::add(const std::vector<std::pair<std::string, std::int64_t>>& deltas,
                         TimePoint now) {
  if (deltas.empty()) {
    return;
  }
  // Names in order: two hosts adding to the same counters never wait for each other in a cycle.
  std::vector<std::pair<std::string, std::int64_t>> ordered(deltas);
  std::sort(ordered.begin(), ordered.end());
  pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    for (const auto& [name, delta] : ordered) {
      connection.run(kAddCounter,
                     {name, delta, static_cast<std::int64_t>(now.time_since_epoch().count())});
    }
    transaction.commit();
  });
}

std::vector<CounterStore::Counter> PgCounterStore::all() {
  return pool_.run([&](PgConnection& connection) {
    const PgResult rows = connection.run(kSelectCounters);
    std::vector<Counter> out;
    for (int row = 0; row < rows.rows(); ++row) {
      out.push_back(Counter{rows.text(row, 0), rows.integer(row, 1), rows.integer(row, 2)});
    }
    return out;
  });
}

}  // namespace api
