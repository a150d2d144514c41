#include "log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "text.hpp"

namespace host {
namespace {

const char* levelName(sp_log_level level) {
  switch (level) {
    case SP_LOG_TRACE:
      return "TRACE";
    case SP_LOG_DEBUG:
      return "DEBUG";
    case SP_LOG_INFO:
      return "INFO ";
    case SP_LOG_WARN:
      return "WARN ";
    case SP_LOG_ERROR:
      return "ERROR";
  }
  return "?    ";
}

// A value as it is, or quoted when it is empty, has a space, a quote or an '=' (which would
// split it) or anything escapeControls escapes (which could forge a line or a record).
void appendValue(std::string& line, std::string_view value) {
  const std::string escaped = escapeControls(value);
  const bool plain =
      !value.empty() && escaped == value && value.find_first_of(" \"=") == std::string_view::npos;
  line += plain ? escaped : quotedText(value);
}

}  // namespace

void Log::write(sp_log_level level, std::string_view source, std::string_view message,
                const Fields& fields) {
  if (!enabled(level)) {
    return;
  }
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[64];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  std::string line;
  line.reserve(96 + message.size());
  line += stamp;
  line += ' ';
  line += levelName(level);
  line += ' ';
  // Module text, all of it: escaped, so one record is one line and moves no cursor.
  line += escapeControls(source);
  line += ": ";
  line += escapeControls(message);
  for (const auto& [key, value] : fields) {
    line += ' ';
    line += escapeControls(key);
    line += '=';
    appendValue(line, value);
  }
  line += '\n';
  std::lock_guard lock(mutex_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

std::optional<int> Log::parseLevel(std::string_view name) {
  if (name == "trace") {
    return SP_LOG_TRACE;
  }
  if (name == "debug") {
    return SP_LOG_DEBUG;
  }
  if (name == "info") {
    return SP_LOG_INFO;
  }
  if (name == "warn") {
    return SP_LOG_WARN;
  }
  if (name == "error") {
    return SP_LOG_ERROR;
  }
  if (name == "off") {
    return SP_LOG_ERROR + 1;
  }
  return std::nullopt;
}

}  // namespace host
