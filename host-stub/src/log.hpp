// The host's logger: one line per record on stderr, shared by the host and every module
// (through sp_host_api.log). Thread-safe.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "systemprompt/module_abi.h"

namespace host {

class Log {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;

  // Records below `threshold` are dropped; SP_LOG_ERROR + 1 silences everything.
  explicit Log(int threshold) : threshold_(threshold) {}

  bool enabled(sp_log_level level) const { return static_cast<int>(level) >= threshold_; }

  // Writes "2026-11-25T06:30:00.123Z INFO  api: message key=value key2=\"a b\"". Control
  // characters, C1 and bidirectional controls and invalid UTF-8 in the source, message, keys
  // and values are escaped (see escapeControls in text.hpp): a record is always one line,
  // and what a module logs cannot move the cursor or clear the screen.
  void write(sp_log_level level, std::string_view source, std::string_view message,
             const Fields& fields = {});

  // "trace", "debug", "info", "warn", "error", "off" to a threshold; nullopt otherwise.
  static std::optional<int> parseLevel(std::string_view name);

 private:
  int threshold_;
  std::mutex mutex_;
};

}  // namespace host
