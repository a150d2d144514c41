#include "cli/usage_commands.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "cli/args.hpp"
#include "cli/output.hpp"
#include "domain/errors.hpp"
#include "present/documents.hpp"
#include "services/services.hpp"
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

// `key_line`: "key_… (name)" when the report is of one key, else empty.
std::string summaryText(const UsageStats& s, const std::string& key_line,
                        const OutputStyle& style) {
  const std::vector<std::string> requests{"  Requests", withThousands(s.total_requests)};
  Table t(key_line.empty() ? requests : std::vector<std::string>{"  Key", key_line});
  if (!key_line.empty()) {
    t.add(requests);
  }
  t.add({"  Unique keys", withThousands(s.unique_keys)});
  t.add({"  Response time", s.total_requests == 0 ? std::string("-")
                                                  : "avg " + fixed(s.averageMs(), 1) + " ms, p50 " +
                                                        std::to_string(s.p50_ms) + " ms, p95 " +
                                                        std::to_string(s.p95_ms) + " ms, p99 " +
                                                        std::to_string(s.p99_ms) + " ms"});
  t.add({"  Error rate",
         fixed(s.errorRate(), 2) + "% (" + withThousands(s.errors) + " with status >= 400)"});
  t.shrinkable({1});
  return t.render(style);
}

// Ids alone tell an operator little: the key's name beside it (one indexed read, a few µs).
// nullopt for a key deleted since (or never known).
std::optional<std::string> keyName(const Services& services, const std::string& key_id) {
  try {
    return services.keys.getKey(key_id).name;
  } catch (const NotFound&) {
    return std::nullopt;
  }
}

// The chart's bars take 40 columns, fewer when that is too wide for `width` (0: unknown),
// down to 10.
int chartBarColumns(const UsageStats& stats, size_t width) {
  constexpr int kBars = 40;
  if (width == 0) {
    return kBars;
  }
  size_t requests = std::string_view("REQUESTS").size();
  size_t errors = std::string_view("ERRORS").size();
  for (const SeriesPoint& p : stats.series) {
    requests = std::max(requests, withThousands(p.requests).size());
    errors = std::max(errors, withThousands(p.errors).size());
  }
  // "  2026-11-25 10:00*" and the two spaces after each column.
  const size_t others = 19 + 2 + requests + 2 + 2 + errors;
  return width >= others + kBars
             ? kBars
             : static_cast<int>(std::max<size_t>(10, width - std::min(width, others)));
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

std::string renderActivityChart(const UsageStats& stats, int width, ChartGlyphs glyphs) {
  std::int64_t busiest = 0;
  for (const SeriesPoint& p : stats.series) {
    busiest = std::max(busiest, p.requests);
  }
  const std::int64_t end_ms = stats.period_end.time_since_epoch().count();
  bool marked = false;
  Table t({"  " + std::string(stats.series_bucket_ms % 86'400'000 == 0 ? "DAY" : "HOUR (UTC)"),
           "REQUESTS", "", "ERRORS"});
  for (const SeriesPoint& p : stats.series) {
    std::string bar;
    if (busiest > 0 && p.requests > 0) {
      if (glyphs == ChartGlyphs::kUnicode) {
        // Eighths of a column, rounded, never less than one for a bucket with requests.
        const std::int64_t eighths =
            std::max<std::int64_t>(1, (p.requests * width * 8 + busiest / 2) / busiest);
        for (std::int64_t i = 0; i < eighths / 8; ++i) {
          bar += "\u2588";  // full block
        }
        static constexpr const char* kPartial[] = {"",       "\u258F", "\u258E", "\u258D",
                                                   "\u258C", "\u258B", "\u258A", "\u2589"};
        bar += kPartial[eighths % 8];  // left one to seven eighths
      } else {
        bar.assign(static_cast<size_t>((p.requests * width + busiest - 1) / busiest), '#');
      }
    }
    std::string label = "  " + bucketLabel(p.start_ms, stats.series_bucket_ms);
    if (end_ms > p.start_ms && end_ms < p.start_ms + stats.series_bucket_ms) {
      label += '*';  // the period ends inside it
      marked = true;
    }
    t.add({label, withThousands(p.requests), bar, withThousands(p.errors)});
  }
  std::string out = t.render();
  if (marked) {
    out += "  * not over yet: counts so far\n";
  }
  if (busiest > 0) {
    out += std::string("  scale: ") + (glyphs == ChartGlyphs::kUnicode ? "\u2588" : "#") + " = " +
           fixed(static_cast<double>(busiest) / width, 1) + " requests\n";
  }
  return out;
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

int usageCommand(const Services& services, const CommandArgs& args, const Terminal& terminal) {
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
  const UsageStats stats = services.usage.stats(period, key, static_cast<size_t>(top));
  if (format == "json") {
    terminal.out(jsonLine(usageObject(stats, period_text)));
    return SP_EXIT_OK;
  }
  const OutputStyle style = outputStyle(terminal, args.flag("wide"));
  const std::string chart =
      "Activity (requests per " + usageBucketName(stats.series_bucket_ms) + "):\n" +
      renderActivityChart(stats, chartBarColumns(stats, style.width),
                          localeIsUtf8() ? ChartGlyphs::kUnicode : ChartGlyphs::kAscii);
  if (format == "chart") {
    terminal.out(chart);
    return SP_EXIT_OK;
  }
  std::string text = "API usage, last " + period_text + " (" +
                     shortTimeRange(stats.period_start, stats.period_end) + ")\n";
  if (stats.truncated) {
    text += "note: the period reaches past the rollup retention (" +
            formatWindow(services.settings.rollup_retention_ms) +
            "); requests older\n      than that are no longer counted\n";
  } else if (!stats.exact) {
    text += "note: the period reaches past the raw request retention; its first " +
            formatWindow(services.settings.aggregation_interval_ms) + "\n      is counted whole\n";
  }
  std::string key_line;
  if (key) {
    key_line = *key;
    if (const auto name = keyName(services, *key)) {
      key_line += " (" + *name + ")";
    }
  }
  text += "\n" + summaryText(stats, key_line, style);
  if (stats.total_requests == 0) {
    terminal.out(text + "\nNo requests in this period.\n");
    return SP_EXIT_OK;
  }
  Table endpoints({"  METHOD", "ENDPOINT", "REQUESTS", "AVG MS", "ERROR RATE"});
  for (const EndpointUsage& e : stats.top_endpoints) {
    endpoints.add({"  " + e.method, e.endpoint, withThousands(e.requests), fixed(e.averageMs(), 1),
                   fixed(e.errorRate(), 2) + "%"});
  }
  endpoints.shrinkable({1});
  Table keys({"  KEY", "NAME", "TOTAL", "SUCCESSES", "FAILURES", "LAST REQUEST"});
  for (const KeyUsage& k : stats.keys) {
    keys.add({"  " + k.key_id, keyName(services, k.key_id).value_or("-"), withThousands(k.total),
              withThousands(k.successes()), withThousands(k.failures),
              timeAgo(TimePoint(std::chrono::milliseconds(k.last_request_ms)), stats.period_end)});
  }
  // Successes are the total less the failures: the first to go on a narrow terminal.
  keys.shrinkable({1});
  keys.droppable({3});
  terminal.out(text + "\nTop endpoints:\n" + endpoints.render(style) + "\nPer key:\n" +
               keys.render(style) + "\n" + chart);
  return SP_EXIT_OK;
}

}  // namespace api
