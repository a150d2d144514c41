// Shared text formatting of the CLI adapters: aligned tables, times, key records as text,
// confirmation prompts. The JSON documents come from present/ (documents.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/terminal.hpp"
#include "domain/clock.hpp"
#include "domain/records.hpp"

namespace api {

enum class OutputFormat { kTable, kJson };

// "table" or "json" (and, where `allowed` has it, others). Throws InvalidInput.
OutputFormat parseFormat(const std::optional<std::string>& text);

// Columns padded to their widest cell (by UTF-8 code points), two spaces apart.
class Table {
 public:
  // Cells are shown printable: a control or bidi character (a row of an older database, or
  // of the original system's) becomes '?', so no cell can move the cursor or forge a line.
  explicit Table(std::vector<std::string> header) { add(std::move(header)); }
  void add(std::vector<std::string> row);
  std::string render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "2026-11-25 06:30 UTC", or "never"/"-" for an absent time.
std::string shortTime(const std::optional<TimePoint>& t, std::string_view absent = "-");

// The key's fields as "  Label  value" lines.
std::string keyDetails(const KeyRecord& key, TimePoint now, std::int64_t window_ms);

// Asks "<question> [y/N] " on the terminal. With `force`, answers yes without asking.
// Without a terminal to ask on, throws Conflict telling the user to pass --force.
bool confirm(const Terminal& terminal, const std::string& question, bool force,
             std::string_view what);

// "cli:<login name>", for audit records of CLI actions; made printable and cut to an
// actor's length, whatever SUDO_USER or the password database say.
std::string cliActor();

}  // namespace api
