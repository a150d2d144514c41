#include "config/settings.hpp"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <optional>
#include <stdexcept>
#include <string>

namespace api {
namespace {

std::string describe(const boost::json::value& value) {
  return boost::json::serialize(value);
}

std::int64_t integerIn(const boost::json::value& value, std::string_view key, std::int64_t min,
                       std::int64_t max, std::string_view unit) {
  std::optional<std::int64_t> result;
  if (value.is_int64()) {
    result = value.as_int64();
  } else if (value.is_uint64() && value.as_uint64() <= static_cast<std::uint64_t>(max)) {
    result = static_cast<std::int64_t>(value.as_uint64());
  } else if (value.is_double()) {
    const double d = value.as_double();
    if (std::trunc(d) == d && d >= static_cast<double>(min) && d <= static_cast<double>(max)) {
      result = static_cast<std::int64_t>(d);
    }
  }
  if (!result || *result < min || *result > max) {
    throw std::invalid_argument("config key '" + std::string(key) + "' must be an integer " +
                                std::to_string(min) + ".." + std::to_string(max) +
                                std::string(unit) + ", got " + describe(value));
  }
  return *result;
}

std::string stringOf(const boost::json::value& value, std::string_view key) {
  if (!value.is_string()) {
    throw std::invalid_argument("config key '" + std::string(key) + "' must be a string, got " +
                                describe(value));
  }
  return std::string(value.as_string());
}

bool isPrefixChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

std::string resolveDatabasePath(const std::string& configured, std::string_view state_dir) {
  std::string dir(state_dir);
  while (dir.size() > 1 && dir.back() == '/') {
    dir.pop_back();
  }
  if (configured.empty()) {
    return dir + "/api.sqlite3";
  }
  if (configured.front() == '/') {
    return configured;
  }
  return dir + "/" + configured;
}

constexpr std::int64_t kDayMs = 86'400'000;

// A file path. A URL here (a PostgreSQL one meant for databaseUrl, most likely) would be
// taken for a file name: refused, without showing it, as it may hold a password.
void checkDatabasePath(const std::string& path) {
  if (path.find("://") == std::string::npos) {
    return;
  }
  throw std::invalid_argument(
      "config key 'databasePath' must be a file path for the SQLite store, got a URL (the value "
      "is not shown, as it may hold a password); a PostgreSQL database goes in 'databaseUrl'");
}

// A PostgreSQL URL (or empty, for the SQLite store). Only its scheme is checked here (libpq
// reads the rest, and says what it cannot read, when connecting); the value is never shown.
void checkDatabaseUrl(const std::string& url) {
  if (url.empty() || url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return;
  }
  throw std::invalid_argument(
      "config key 'databaseUrl' must be empty (the SQLite store) or a URL starting with "
      "postgresql:// or postgres:// (e.g. postgresql://api@db.internal:5432/prompt); the value "
      "given is not shown, as it may hold a password");
}

// A field of ApiSettings, as the table holds it.
#define API_SETTING_FIELD(path) [](ApiSettings& s) -> std::int64_t& { return s.path; }

constexpr std::array<IntegerSetting, 19> kIntegerSettings{{
    {"defaultRateLimit", API_SETTING_FIELD(rate_limits.default_limit), 1, kMaxRateLimit,
     " requests"},
    {"rateLimitWindowSize", API_SETTING_FIELD(rate_limits.window_ms), 1'000, 2'678'400'000, " ms"},
    {"rateLimitSubWindows", API_SETTING_FIELD(rate_limits.sub_windows), 1, 3'600, " sub-windows"},
    {"cleanupInterval", API_SETTING_FIELD(cleanup.interval_ms), 10, kDayMs, " ms"},
    {"busyTimeout", API_SETTING_FIELD(store.busy_timeout_ms), 0, 600'000, " ms"},
    {"rateLimitSlots", API_SETTING_FIELD(store.window_slots), 1'024, 4'194'304, " keys"},
    {"databasePoolSize", API_SETTING_FIELD(store.pool_size), 1, 256, " connections"},
    {"databaseTimeout", API_SETTING_FIELD(store.database_timeout_ms), 100, 600'000, " ms"},
    {"maxKeysPerUser", API_SETTING_FIELD(keys.max_active_per_user), 0, 1'000'000,
     " keys (0: no limit)"},
    {"usageQueueCapacity", API_SETTING_FIELD(usage.queue_capacity), 1'000, 10'000'000, " records"},
    {"usageQueueBytes", API_SETTING_FIELD(usage.queue_max_bytes), 1LL << 20, 4LL << 30, " bytes"},
    {"usageFlushInterval", API_SETTING_FIELD(usage.flush_interval_ms), 10, 1'000, " ms"},
    {"aggregationInterval", API_SETTING_FIELD(usage.aggregation_interval_ms), 60'000, kDayMs,
     " ms"},
    {"requestRetention", API_SETTING_FIELD(usage.request_retention_ms), kDayMs,
     100LL * 366 * kDayMs, " ms"},
    {"rollupRetention", API_SETTING_FIELD(usage.rollup_retention_ms), kDayMs, 100LL * 366 * kDayMs,
     " ms"},
    {"httpThreads", API_SETTING_FIELD(http.threads), 1, 64, " threads"},
    {"httpMaxConnections", API_SETTING_FIELD(http.max_connections), 1, 100'000, " connections"},
    {"httpRequestTimeout", API_SETTING_FIELD(http.request_timeout_ms), 100, 600'000, " ms"},
    {"httpIdleTimeout", API_SETTING_FIELD(http.idle_timeout_ms), 100, 3'600'000, " ms"},
}};
#undef API_SETTING_FIELD

// In README's order; the integer keys are also in kIntegerSettings.
constexpr std::array<std::string_view, 27> kSettingKeys{
    "defaultRateLimit",   "rateLimitWindowSize", "rateLimitSubWindows", "failOpen",
    "keyPrefix",          "acceptLegacyKeys",    "cleanupInterval",     "databasePath",
    "databaseUrl",        "databasePoolSize",    "databaseTimeout",     "busyTimeout",
    "rateLimitStore",     "rateLimitSlots",      "maxKeysPerUser",      "usageQueueCapacity",
    "usageQueueBytes",    "usageFlushInterval",  "aggregationInterval", "requestRetention",
    "rollupRetention",    "httpListen",          "httpThreads",         "httpMaxConnections",
    "httpRequestTimeout", "httpIdleTimeout",     "httpRecordUsage"};

std::string acceptedKeys() {
  std::string out;
  for (std::string_view key : settingKeys()) {
    out += (out.empty() ? "" : ", ") + std::string(key);
  }
  return out;
}

void checkKeyPrefix(const std::string& prefix, const boost::json::value& value) {
  bool ok = !prefix.empty() && prefix.size() <= 16;
  for (char c : prefix) {
    ok = ok && isPrefixChar(c);
  }
  if (!ok) {
    throw std::invalid_argument(
        "config key 'keyPrefix' must be 1..16 characters of [A-Za-z0-9_], got " + describe(value));
  }
  // Key ids start with "key_": a prefix that overlaps it would make a key id and a key
  // indistinguishable where either is accepted (api:keys:revoke).
  const std::string_view id_start = "key_";
  if (id_start.starts_with(prefix) || std::string_view(prefix).starts_with(id_start)) {
    throw std::invalid_argument(
        "config key 'keyPrefix' must not overlap \"key_\", which starts every key id, got " +
        describe(value) + "; use e.g. \"sk_\"");
  }
}

// "address:port": an IPv4 address or a bracketed IPv6 one, and a port 0..65535.
void parseListen(HttpSettings& http, const boost::json::value& value) {
  const std::string& text = http.listen;
  if (text.empty()) {
    return;  // no listener
  }
  const auto bad = [&](const std::string& why) {
    throw std::invalid_argument(
        "config key 'httpListen' must be \"address:port\" (e.g. "
        "\"127.0.0.1:8787\" or \"[::1]:8787\"), or empty for no "
        "listener; got " +
        describe(value) + ": " + why);
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    bad("no address and port");
  }
  std::string address = text.substr(0, colon);
  const std::string port = text.substr(colon + 1);
  if (address.front() == '[') {
    if (address.size() < 3 || address.back() != ']') {
      bad("an IPv6 address goes in brackets");
    }
    address = address.substr(1, address.size() - 2);
    if (address.find(':') == std::string::npos) {
      bad("only an IPv6 address goes in brackets");
    }
  } else if (address.find(':') != std::string::npos) {
    bad("an IPv6 address goes in brackets");
  }
  for (const char c : address) {
    const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                    c == '.' || c == ':';
    if (!ok) {
      bad("the address must be numeric (no host names)");
    }
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stol(port) > 65535) {
    bad("the port must be 0..65535");
  }
  http.address = address;
  http.port = std::stol(port);
}

}  // namespace

std::span<const IntegerSetting> integerSettings() {
  return kIntegerSettings;
}

std::span<const std::string_view> settingKeys() {
  return kSettingKeys;
}

ApiSettings parseSettings(std::string_view config_json, std::string_view state_dir) {
  boost::json::error_code ec;
  const boost::json::value root = boost::json::parse(config_json, ec);
  if (ec) {
    throw std::invalid_argument("module config is not valid JSON: " + ec.message());
  }
  if (!root.is_object() && !root.is_null()) {
    throw std::invalid_argument("module config must be a mapping of keys to values, got " +
                                describe(root));
  }
  ApiSettings settings;
  std::string database_path;
  std::optional<StoreSettings::WindowStoreKind> window_store;  // "auto": by the database
  if (root.is_object()) {
    for (const auto& [key, value] : root.as_object()) {
      const std::string_view name = key;  // a lambda may not capture a structured binding
      const auto integer = std::find_if(integerSettings().begin(), integerSettings().end(),
                                        [&](const IntegerSetting& row) { return row.key == name; });
      if (integer != integerSettings().end()) {
        integer->field(settings) = integerIn(value, key, integer->min, integer->max, integer->unit);
      } else if (key == "keyPrefix") {
        settings.keys.prefix = stringOf(value, key);
        checkKeyPrefix(settings.keys.prefix, value);
      } else if (key == "databasePath") {
        database_path = stringOf(value, key);
        checkDatabasePath(database_path);
      } else if (key == "databaseUrl") {
        // Never echoed: it may hold a password.
        if (!value.is_string()) {
          throw std::invalid_argument("config key 'databaseUrl' must be a string, got " +
                                      std::string(value.kind() == boost::json::kind::null
                                                      ? "null"
                                                      : "a value of another type"));
        }
        settings.store.database_url = std::string(value.as_string());
        checkDatabaseUrl(settings.store.database_url);
      } else if (key == "httpListen") {
        settings.http.listen = stringOf(value, key);
        parseListen(settings.http, value);
      } else if (key == "rateLimitStore") {
        const std::string kind = value.is_string() ? std::string(value.as_string()) : "";
        if (kind == "shared") {
          window_store = StoreSettings::WindowStoreKind::kShared;
        } else if (kind == "database") {
          window_store = StoreSettings::WindowStoreKind::kDatabase;
        } else if (kind != "auto") {
          throw std::invalid_argument(
              "config key 'rateLimitStore' must be \"auto\", \"shared\" or \"database\", got " +
              describe(value));
        }
      } else if (key == "acceptLegacyKeys") {
        if (!value.is_bool()) {
          throw std::invalid_argument("config key 'acceptLegacyKeys' must be true or false, got " +
                                      describe(value));
        }
        settings.keys.accept_legacy = value.as_bool();
      } else if (key == "httpRecordUsage") {
        if (!value.is_bool()) {
          throw std::invalid_argument("config key 'httpRecordUsage' must be true or false, got " +
                                      describe(value));
        }
        settings.http.record_usage = value.as_bool();
      } else if (key == "failOpen") {
        if (!value.is_bool()) {
          throw std::invalid_argument("config key 'failOpen' must be true or false, got " +
                                      describe(value));
        }
        settings.rate_limits.fail_open = value.as_bool();
      } else {
        throw std::invalid_argument("unknown config key '" + std::string(key) +
                                    "'; accepted keys: " + acceptedKeys());
      }
    }
  }
  if (settings.rate_limits.window_ms % settings.rate_limits.sub_windows != 0) {
    throw std::invalid_argument(
        "config keys 'rateLimitWindowSize' (" + std::to_string(settings.rate_limits.window_ms) +
        " ms) and 'rateLimitSubWindows' (" + std::to_string(settings.rate_limits.sub_windows) +
        ") disagree: the window must divide into sub-windows of whole milliseconds");
  }
  // The hourly and daily series add whole rollup intervals into buckets, so an interval must
  // divide an hour (up to an hour) or be whole hours dividing a day (beyond).
  const std::int64_t interval = settings.usage.aggregation_interval_ms;
  const bool fits = interval <= 3'600'000 ? 3'600'000 % interval == 0
                                          : interval % 3'600'000 == 0 && 86'400'000 % interval == 0;
  if (!fits) {
    throw std::invalid_argument(
        "config key 'aggregationInterval' must divide an hour (e.g. 60000, 300000, 900000, "
        "3600000) or be whole hours dividing a day (e.g. 7200000, 21600000, 86400000); got " +
        std::to_string(interval));
  }
  if (settings.usage.rollup_retention_ms < settings.usage.request_retention_ms) {
    throw std::invalid_argument("config key 'rollupRetention' (" +
                                std::to_string(settings.usage.rollup_retention_ms) +
                                " ms) must be at least 'requestRetention' (" +
                                std::to_string(settings.usage.request_retention_ms) + " ms)");
  }
  if (!settings.store.database_url.empty()) {
    // The shared segment is one machine's memory: in front of a database that several hosts
    // share, each host would admit a key's whole limit.
    if (window_store == StoreSettings::WindowStoreKind::kShared) {
      throw std::invalid_argument(
          "config key 'rateLimitStore' must be \"database\" with 'databaseUrl' set: the "
          "\"shared\" store keeps counts in one machine's memory, so several hosts sharing the "
          "database would each admit a key's whole limit");
    }
    settings.store.window_store = StoreSettings::WindowStoreKind::kDatabase;
  } else if (window_store) {
    settings.store.window_store = *window_store;
  }
  settings.store.database_path = resolveDatabasePath(database_path, state_dir);
  return settings;
}

std::int64_t usageShortestFlushIntervalMs(const ApiSettings& settings) {
  constexpr std::int64_t kLocalShortestMs = 2;
  return settings.store.database_url.empty()
             ? std::min(settings.usage.flush_interval_ms, kLocalShortestMs)
             : settings.usage.flush_interval_ms;
}

std::int64_t decisionWorkers(const StoreSettings& store) {
  if (!store.database_url.empty()) {
    return store.pool_size;
  }
  return store.window_store == StoreSettings::WindowStoreKind::kDatabase ? 2 : 0;
}

}  // namespace api
