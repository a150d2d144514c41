#include "cli/usage_commands.hpp"

#include <boost/json/array.hpp>
#include <cstdio>

#include "api_module.hpp"
#include "cli/args.hpp"
#include "cli/output.hpp"
#include "domain/errors.hpp"
#include "systemprompt/module_abi.h"
#include "util/text.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

std::string bucketLabel(std::int64_t start_ms, std::int64_t bucket_ms) {
  const std::string iso = formatIsoUtc(TimePoint(std::chrono::milliseconds(start_ms)));
  return bucket_ms % 86'400'000 == 0 ? iso.substr(0, 10)
                                     : iso.substr(0, 10) + " " + iso.substr(11, 5);
}

std::string bucketName(std::int64_t bucket_ms) {
  if (bucket_ms == 3'600'000) {
    return "hour";
  }
  if (bucket_ms == 86'400'000) {
    return "day";
  }
  return formatWindow(bucket_ms);
}

std::string summaryText(const UsageStats& s) {
  Table t({"  Requests", withThousands(s.total_requests)});
  t.add({"  Unique keys", withThousands(s.unique_keys)});
  t.add({"  Response time", s.total_requests == 0 ? std::string("-")
                                                  : "avg " + fixed(s.averageMs(), 1) + " ms, p50 " +
                                                        std::to_string(s.p50_ms) + " ms, p95 " +
                                                        std::to_string(s.p95_ms) + " ms, p99 " +
                                                        std::to_string(s.p99_ms) + " ms"});
  t.add({"  Error rate",
         fixed(s.errorRate(), 2) + "% (" + withThousands(s.errors) + " with status >= 400)"});
  return t.render();
}

}  // namespace

std::string withThousands(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) {
      out += ',';
    }
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string renderActivityChart(const UsageStats& stats, int width) {
  std::int64_t busiest = 0;
  for (const SeriesPoint& p : stats.series) {
    busiest = std::max(busiest, p.requests);
  }
  Table t({"  " + std::string(stats.series_bucket_ms % 86'400'000 == 0 ? "DAY" : "HOUR (UTC)"),
           "REQUESTS", "", "ERRORS"});
  for (const SeriesPoint& p : stats.series) {
    std::int64_t length = busiest == 0 ? 0 : (p.requests * width + busiest - 1) / busiest;
    t.add({"  " + bucketLabel(p.start_ms, stats.series_bucket_ms), withThousands(p.requests),
           std::string(static_cast<size_t>(length), '#'), withThousands(p.errors)});
  }
  return t.render();
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
    j["last_request"] = formatIsoUtc(TimePoint(std::chrono::milliseconds(k.last_request_ms)));
    keys.emplace_back(std::move(j));
  }
  o["keys"] = std::move(keys);
  boost::json::array points;
  for (const SeriesPoint& p : s.series) {
    boost::json::object j;
    j["start"] = formatIsoUtc(TimePoint(std::chrono::milliseconds(p.start_ms)));
    j["requests"] = p.requests;
    j["errors"] = p.errors;
    points.emplace_back(std::move(j));
  }
  boost::json::object series;
  series["bucket"] = bucketName(s.series_bucket_ms);
  series["points"] = std::move(points);
  o["series"] = std::move(series);
  return o;
}

std::string keyUsageText(const UsageStats& s) {
  const std::int64_t last = s.keys.empty() ? 0 : s.keys.front().last_request_ms;
  Table t({"  Requests", withThousands(s.total_requests) + " (" +
                             withThousands(s.total_requests - s.errors) + " succeeded, " +
                             withThousands(s.errors) + " failed)"});
  t.add({"  Response time", s.total_requests == 0 ? std::string("-")
                                                  : "avg " + fixed(s.averageMs(), 1) + " ms, p95 " +
                                                        std::to_string(s.p95_ms) + " ms"});
  t.add({"  Last request", last == 0 ? std::string("none in this period")
                                     : shortTime(TimePoint(std::chrono::milliseconds(last)))});
  return t.render();
}

int usageCommand(ApiModule& module, std::string_view args_json, const Terminal& terminal) {
  const CommandArgs args(args_json);
  const std::string period_text = args.string("period").value_or("24h");
  const Span period = UsageService::parsePeriod(period_text);
  const std::string format = args.string("format").value_or("table");
  if (format != "table" && format != "json" && format != "chart") {
    throw InvalidInput("invalid --format \"" + printableTruncated(format, 64) +
                       "\": use table, json or chart");
  }
  const auto top = args.integer("top", "--top").value_or(10);
  if (top < 1 || top > 1000) {
    throw InvalidInput("invalid --top " + std::to_string(top) + ": use 1..1000");
  }
  const auto key = args.string("key");
  if (key) {
    module.keys().getKey(*key);  // a clear error for an unknown key rather than zeros
  }
  const UsageStats stats = module.usage().stats(period, key, static_cast<size_t>(top));
  if (format == "json") {
    terminal.out(jsonLine(usageObject(stats, period_text)));
    return SP_EXIT_OK;
  }
  const std::string chart = "Activity (requests per " + bucketName(stats.series_bucket_ms) +
                            "):\n" + renderActivityChart(stats);
  if (format == "chart") {
    terminal.out(chart);
    return SP_EXIT_OK;
  }
  std::string text = "API usage, last " + period_text + (key ? " for key " + *key : "") + " (" +
                     shortTime(stats.period_start) + " .. " + shortTime(stats.period_end) + ")\n";
  if (stats.truncated) {
    text += "note: the period reaches past the rollup retention (" +
            formatWindow(module.settings().rollup_retention_ms) +
            "); requests older than that are no longer counted\n";
  } else if (!stats.exact) {
    text += "note: the period reaches past the raw request retention; its first " +
            formatWindow(module.settings().aggregation_interval_ms) + " is counted whole\n";
  }
  text += "\n" + summaryText(stats);
  if (stats.total_requests == 0) {
    terminal.out(text + "\nNo requests in this period.\n");
    return SP_EXIT_OK;
  }
  Table endpoints({"  METHOD", "ENDPOINT", "REQUESTS", "AVG MS", "ERROR RATE"});
  for (const EndpointUsage& e : stats.top_endpoints) {
    endpoints.add({"  " + e.method, e.endpoint, withThousands(e.requests), fixed(e.averageMs(), 1),
                   fixed(e.errorRate(), 2) + "%"});
  }
  Table keys({"  KEY", "TOTAL", "SUCCESSES", "FAILURES", "LAST REQUEST"});
  for (const KeyUsage& k : stats.keys) {
    keys.add({"  " + k.key_id, withThousands(k.total), withThousands(k.successes()),
              withThousands(k.failures),
              shortTime(TimePoint(std::chrono::milliseconds(k.last_request_ms)))});
  }
  terminal.out(text + "\nTop endpoints:\n" + endpoints.render() + "\nPer key:\n" + keys.render() +
               "\n" + chart);
  return SP_EXIT_OK;
}

}  // namespace api
