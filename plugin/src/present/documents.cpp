#include "present/documents.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <chrono>
#include <cmath>

#include "util/secret.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

boost::json::value timeValue(const std::optional<TimePoint>& t) {
  return t ? boost::json::value(formatIsoUtc(*t)) : boost::json::value(nullptr);
}

std::string msTime(std::int64_t ms) {
  return formatIsoUtc(TimePoint(std::chrono::milliseconds(ms)));
}

// A stored JSON object; {} if it does not parse (the store holds only objects it checked).
boost::json::value parsedObject(const std::string& json) {
  boost::json::error_code ec;
  boost::json::value value = boost::json::parse(json, ec);
  return ec ? boost::json::value(boost::json::object()) : value;
}

void appendJson(std::string& out, const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : value.get_object()) {
        if (!first) {
          out += ',';
        }
        first = false;
        out += boost::json::serialize(boost::json::string_view(k));
        out += ':';
        appendJson(out, v);
      }
      out += '}';
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& v : value.get_array()) {
        if (!first) {
          out += ',';
        }
        first = false;
        appendJson(out, v);
      }
      out += ']';
      return;
    }
    case boost::json::kind::double_: {
      const double d = value.get_double();
      if (!std::isfinite(d)) {
        out += "null";  // JSON has no NaN or infinity; the statistics never produce them
        return;
      }
      char buffer[400];  // the longest double in fixed notation has 309 integer digits
      const auto [end, ec] =
          std::to_chars(buffer, buffer + sizeof(buffer), d, std::chars_format::fixed);
      if (ec != std::errc()) {
        out += boost::json::serialize(value);
        return;
      }
      const std::string_view text(buffer, static_cast<size_t>(end - buffer));
      out += text;
      if (text.find('.') == std::string_view::npos) {
        out += ".0";
      }
      return;
    }
    default:
      out += boost::json::serialize(value);
  }
}

}  // namespace

std::string jsonText(const boost::json::value& value) {
  std::string out;
  appendJson(out, value);
  return out;
}

std::string jsonLine(const boost::json::value& value) {
  return jsonText(value) + "\n";
}

std::string formatWindow(std::int64_t window_ms) {
  if (window_ms % 86'400'000 == 0) {
    return std::to_string(window_ms / 86'400'000) + "d";
  }
  if (window_ms % 3'600'000 == 0) {
    return std::to_string(window_ms / 3'600'000) + "h";
  }
  if (window_ms % 60'000 == 0) {
    return std::to_string(window_ms / 60'000) + "m";
  }
  if (window_ms % 1000 == 0) {
    return std::to_string(window_ms / 1000) + "s";
  }
  return std::to_string(window_ms) + "ms";
}

std::string usageBucketName(std::int64_t bucket_ms) {
  if (bucket_ms == 3'600'000) {
    return "hour";
  }
  if (bucket_ms == 86'400'000) {
    return "day";
  }
  return formatWindow(bucket_ms);
}

boost::json::object keyObject(const KeyRecord& key, TimePoint now) {
  boost::json::array scopes;
  for (const auto& s : key.scopes) {
    scopes.emplace_back(s);
  }
  boost::json::object o;
  o["id"] = key.id;
  o["name"] = key.name;
  o["user_id"] = key.user_id;
  o["key_prefix"] = key.key_prefix;
  o["status"] = keyStatusName(key.statusAt(now));
  o["scopes"] = std::move(scopes);
  o["rate_limit"] = key.rate_limit;
  o["created_at"] = formatIsoUtc(key.created_at);
  o["expires_at"] = timeValue(key.expires_at);
  o["last_used_at"] = timeValue(key.last_used_at);
  o["revoked_at"] = timeValue(key.revoked_at);
  o["revoked_reason"] =
      key.revoked_reason ? boost::json::value(*key.revoked_reason) : boost::json::value(nullptr);
  o["metadata"] = parsedObject(key.metadata_json);
  return o;
}

boost::json::object auditObject(const AuditRecord& record) {
  boost::json::object o;
  o["at"] = formatIsoUtc(record.at);
  o["action"] = record.action;
  o["actor"] =
      record.actor.empty() ? boost::json::value(nullptr) : boost::json::value(record.actor);
  o["reason"] =
      record.reason.empty() ? boost::json::value(nullptr) : boost::json::value(record.reason);
  o["details"] = parsedObject(record.details_json);
  return o;
}

boost::json::object limitStatusObject(const LimitStatus& s, TimePoint now,
                                      std::optional<std::string_view> key_id) {
  boost::json::object o;
  o["limit"] = s.limit;
  o["used"] = s.used;
  o["remaining"] = s.remaining;
  o["window_size"] = s.window_size_ms;
  o["window_start"] = formatIsoUtc(s.window_start);
  o["window_end"] = formatIsoUtc(s.window_end);
  o["reset_at"] = formatIsoUtc(s.reset_at);
  o["reset_in"] = std::max<std::int64_t>(0, (s.reset_at - now).count());
  o["over_limit"] = s.used > s.limit;
  if (key_id) {
    o["key_id"] = *key_id;
  }
  return o;
}

boost::json::object usageObject(const UsageStats& s, std::string_view period) {
  boost::json::object o;
  o["period"] = period;
  o["period_start"] = formatIsoUtc(s.period_start);
  o["period_end"] = formatIsoUtc(s.period_end);
  o["key_id"] = s.key_id ? boost::json::value(*s.key_id) : boost::json::value(nullptr);
  o["exact"] = s.exact && !s.truncated;
  o["truncated"] = s.truncated;
  o["total_requests"] = s.total_requests;
  o["unique_keys"] = s.unique_keys;
  o["errors"] = s.errors;
  o["error_rate"] = s.errorRate();
  boost::json::object rt;
  rt["avg"] = s.averageMs();
  rt["p50"] = s.p50_ms;
  rt["p95"] = s.p95_ms;
  rt["p99"] = s.p99_ms;
  o["response_time_ms"] = std::move(rt);
  boost::json::array endpoints;
  for (const EndpointUsage& e : s.top_endpoints) {
    boost::json::object j;
    j["endpoint"] = e.endpoint;
    j["method"] = e.method;
    j["requests"] = e.requests;
    j["errors"] = e.errors;
    j["avg_response_time_ms"] = e.averageMs();
    j["error_rate"] = e.errorRate();
    endpoints.emplace_back(std::move(j));
  }
  o["top_endpoints"] = std::move(endpoints);
  boost::json::array keys;
  for (const KeyUsage& k : s.keys) {
    boost::json::object j;
    j["key_id"] = k.key_id;
    j["total"] = k.total;
    j["successes"] = k.successes();
    j["failures"] = k.failures;
    j["last_request"] = msTime(k.last_request_ms);
    keys.emplace_back(std::move(j));
  }
  o["keys"] = std::move(keys);
  boost::json::array points;
  for (const SeriesPoint& p : s.series) {
    boost::json::object j;
    j["start"] = msTime(p.start_ms);
    j["requests"] = p.requests;
    j["errors"] = p.errors;
    points.emplace_back(std::move(j));
  }
  boost::json::object series;
  series["bucket"] = usageBucketName(s.series_bucket_ms);
  series["points"] = std::move(points);
  o["series"] = std::move(series);
  return o;
}

boost::json::object createdKeyDocument(const CreatedKey& created, TimePoint now) {
  boost::json::object out;
  out["secret"] = created.secret;
  out["key"] = keyObject(created.key, now);
  return out;
}

boost::json::object rotatedKeyDocument(const CreatedKey& created, std::string_view replaced_key_id,
                                       TimePoint now) {
  boost::json::object out = createdKeyDocument(created, now);
  out["replaced_key_id"] = replaced_key_id;
  out["replaced_key_revoked_at"] = timeValue(created.replaced_key_revoked_at);
  return out;
}

void wipeSecret(boost::json::object& document) noexcept {
  if (auto* secret = document.if_contains("secret"); secret != nullptr && secret->is_string()) {
    boost::json::string& text = secret->as_string();
    wipeBytes(text.data(), text.size());
  }
}

boost::json::object keyListDocument(const std::vector<KeyRecord>& keys, TimePoint now) {
  boost::json::array items;
  for (const auto& key : keys) {
    items.emplace_back(keyObject(key, now));
  }
  boost::json::object out;
  out["keys"] = std::move(items);
  out["total"] = keys.size();
  return out;
}

boost::json::object keyInfoDocument(const KeyRecord& key, TimePoint now,
                                    const std::optional<LimitStatus>& limit,
                                    const std::optional<UsageStats>& usage_24h,
                                    const std::vector<AuditRecord>& trail) {
  boost::json::object out = keyObject(key, now);
  if (limit) {
    out["rate_limit_status"] = limitStatusObject(*limit, now);
  }
  if (usage_24h) {
    out["usage_24h"] = usageObject(*usage_24h, "24h");
  }
  boost::json::array audit;
  for (const auto& record : trail) {
    audit.emplace_back(auditObject(record));
  }
  out["audit"] = std::move(audit);
  return out;
}

boost::json::object verificationDocument(const KeyValidation& v, TimePoint now) {
  boost::json::object out;
  out["valid"] = v.valid;
  out["reason"] =
      v.valid ? boost::json::value(nullptr) : boost::json::value(keyRejectionName(v.reason));
  out["key"] = v.key ? boost::json::value(keyObject(*v.key, now)) : boost::json::value(nullptr);
  return out;
}

}  // namespace api
