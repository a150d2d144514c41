// The api module's settings (plugin/src/settings.* parseSettings): module config JSON.
//
// Properties:
//  - parseSettings refuses only with std::invalid_argument, and the same text twice gives
//    the same settings (or the same refusal message);
//  - accepted settings hold every invariant settings.hpp and the README's configuration
//    table state: each value in its range, the window divisible into sub-windows, the
//    aggregation interval dividing an hour or whole hours dividing a day, rollups kept at
//    least as long as requests, a key prefix of 1..16 [A-Za-z0-9_] not overlapping "key_",
//    the database path the configured one when absolute, else under the state directory;
//  - written back as config JSON, they parse to the same settings.
//
// Input: a byte picking the state directory, then the config JSON.
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "config/settings.hpp"
#include "fuzz_check.hpp"

namespace {

namespace json = boost::json;

constexpr std::string_view kStateDirs[] = {"/var/lib/systemprompt/api", "/state/api///", "/",
                                           "state/api"};
constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kHourMs = 3'600'000;

struct Outcome {
  bool accepted = false;
  api::ApiSettings settings;
  std::string error;
};

Outcome parseOnce(std::string_view json_text, std::string_view state_dir) {
  Outcome out;
  try {
    out.settings = api::parseSettings(json_text, state_dir);
    out.accepted = true;
  } catch (const std::invalid_argument& e) {
    out.error = e.what();
  }
  return out;
}

bool same(const api::ApiSettings& a, const api::ApiSettings& b) {
  return a.rate_limits.default_limit == b.rate_limits.default_limit &&
         a.rate_limits.window_ms == b.rate_limits.window_ms &&
         a.rate_limits.sub_windows == b.rate_limits.sub_windows &&
         a.rate_limits.fail_open == b.rate_limits.fail_open && a.keys.prefix == b.keys.prefix &&
         a.cleanup.interval_ms == b.cleanup.interval_ms &&
         a.store.database_path == b.store.database_path &&
         a.store.busy_timeout_ms == b.store.busy_timeout_ms &&
         a.keys.max_active_per_user == b.keys.max_active_per_user &&
         a.usage.queue_capacity == b.usage.queue_capacity &&
         a.usage.queue_max_bytes == b.usage.queue_max_bytes &&
         a.usage.flush_interval_ms == b.usage.flush_interval_ms &&
         a.usage.aggregation_interval_ms == b.usage.aggregation_interval_ms &&
         a.usage.request_retention_ms == b.usage.request_retention_ms &&
         a.usage.rollup_retention_ms == b.usage.rollup_retention_ms;
}

bool in(std::int64_t v, std::int64_t min, std::int64_t max) {
  return v >= min && v <= max;
}

bool isPrefixChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string expectedDatabasePath(const json::value& config, std::string_view state_dir) {
  std::string configured;
  if (config.is_object()) {
    if (const auto* v = config.as_object().if_contains("databasePath")) {
      configured = std::string(v->as_string());
    }
  }
  if (!configured.empty() && configured.front() == '/') {
    return configured;
  }
  std::string dir(state_dir);
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  return dir + "/" + (configured.empty() ? "api.sqlite3" : configured);
}

void checkInvariants(const api::ApiSettings& s) {
  FUZZ_CHECK(in(s.rate_limits.default_limit, 1, api::kMaxRateLimit));
  FUZZ_CHECK(in(s.rate_limits.window_ms, 1'000, 2'678'400'000));
  FUZZ_CHECK(in(s.rate_limits.sub_windows, 1, 3'600));
  FUZZ_CHECK(s.rate_limits.window_ms % s.rate_limits.sub_windows == 0);
  FUZZ_CHECK(!s.keys.prefix.empty() && s.keys.prefix.size() <= 16);
  for (char c : s.keys.prefix) {
    FUZZ_CHECK(isPrefixChar(c));
  }
  const std::string_view prefix = s.keys.prefix;
  FUZZ_CHECK(!std::string_view("key_").starts_with(prefix) && !prefix.starts_with("key_"));
  FUZZ_CHECK(in(s.cleanup.interval_ms, 10, kDayMs));
  FUZZ_CHECK(in(s.store.busy_timeout_ms, 0, 600'000));
  FUZZ_CHECK(in(s.keys.max_active_per_user, 0, 1'000'000));
  FUZZ_CHECK(in(s.usage.queue_capacity, 1'000, 10'000'000));
  FUZZ_CHECK(in(s.usage.queue_max_bytes, 1LL << 20, 4LL << 30));
  FUZZ_CHECK(in(s.usage.flush_interval_ms, 10, 1'000));
  const std::int64_t interval = s.usage.aggregation_interval_ms;
  FUZZ_CHECK(in(interval, 60'000, kDayMs));
  FUZZ_CHECK(kHourMs % interval == 0 || (interval % kHourMs == 0 && kDayMs % interval == 0));
  FUZZ_CHECK(s.usage.request_retention_ms >= kDayMs);
  FUZZ_CHECK(s.usage.rollup_retention_ms >= s.usage.request_retention_ms);
  FUZZ_CHECK(!s.store.database_path.empty());
}

json::object asConfig(const api::ApiSettings& s) {
  json::object o;
  o["defaultRateLimit"] = s.rate_limits.default_limit;
  o["rateLimitWindowSize"] = s.rate_limits.window_ms;
  o["rateLimitSubWindows"] = s.rate_limits.sub_windows;
  o["failOpen"] = s.rate_limits.fail_open;
  o["keyPrefix"] = s.keys.prefix;
  o["cleanupInterval"] = s.cleanup.interval_ms;
  o["databasePath"] = s.store.database_path;
  o["busyTimeout"] = s.store.busy_timeout_ms;
  o["maxKeysPerUser"] = s.keys.max_active_per_user;
  o["usageQueueCapacity"] = s.usage.queue_capacity;
  o["usageQueueBytes"] = s.usage.queue_max_bytes;
  o["usageFlushInterval"] = s.usage.flush_interval_ms;
  o["aggregationInterval"] = s.usage.aggregation_interval_ms;
  o["requestRetention"] = s.usage.request_retention_ms;
  o["rollupRetention"] = s.usage.rollup_retention_ms;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  fuzz::Reader reader(fuzz::asText(data, size));
  const std::string_view state_dir = kStateDirs[reader.byte() % std::size(kStateDirs)];
  const std::string_view text = reader.rest();

  const Outcome first = parseOnce(text, state_dir);
  const Outcome second = parseOnce(text, state_dir);
  FUZZ_CHECK(first.accepted == second.accepted);
  FUZZ_CHECK(first.error == second.error);
  if (!first.accepted) {
    FUZZ_CHECK(!first.error.empty());
    return 0;
  }
  FUZZ_CHECK(same(first.settings, second.settings));
  checkInvariants(first.settings);

  boost::system::error_code ec;
  const json::value config = json::parse(text, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(first.settings.store.database_path == expectedDatabasePath(config, state_dir));

  const std::string written = json::serialize(asConfig(first.settings));
  const Outcome again = parseOnce(written, state_dir);
  FUZZ_CHECK(again.accepted);
  if (first.settings.store.database_path.front() == '/') {
    FUZZ_CHECK(same(again.settings, first.settings));
  }
  return 0;
}
