// Shared formatting of the CLI adapters: aligned tables, key records as text and as the
// documented JSON schema (snake_case, ISO-8601 UTC times, null for absent values).
#pragma once

#include <boost/json/object.hpp>
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

// "5000 per 1h"; the window is shown in the largest whole unit.
std::string formatWindow(std::int64_t window_ms);
// "2026-11-25 06:30 UTC", or "never"/"-" for an absent time.
std::string shortTime(const std::optional<TimePoint>& t, std::string_view absent = "-");

// One key as the JSON object of the documented schema.
boost::json::object keyObject(const KeyRecord& key, TimePoint now);
boost::json::object auditObject(const AuditRecord& record);
// Serialised as Boost.JSON does, except that a number with a fraction is written in plain
// decimal notation ("10.5", "0.0", never "1.05E1"), as the documented schemas show.
std::string jsonText(const boost::json::value& value);
// jsonText with a trailing newline.
std::string jsonLine(const boost::json::value& value);
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
